package dev.turnout.orchestrator.observe;

import dev.turnout.orchestrator.store.SqliteFleetStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The names {@code /metrics} exposes pass the naming rules of Prometheus' linter ({@code promtool
 * check metrics}, client_golang's promlint) that concern names, without needing promtool here: a
 * counter ends in {@code _total}; {@code _count}, {@code _sum} and {@code _bucket} belong to
 * histograms and summaries; units are base units and never abbreviated.
 */
class MetricNamesTest {

    /** promlint's abbreviated units (lintUnitAbbreviations). */
    private static final Set<String> ABBREVIATED_UNITS = Set.of("s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d");
    /** promlint's unit prefixes, which it wants folded into the base unit (lintMetricUnits). */
    private static final List<String> UNIT_PREFIXES = List.of("pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto",
            "kilo", "kibi", "mega", "mebi", "giga", "gibi", "tera", "tebi", "peta", "pebi");
    private static final List<String> BASE_UNITS = List.of("amperes", "bytes", "joules", "grams", "meters", "metres", "seconds", "volts");
    private static final Pattern TYPE = Pattern.compile("^# TYPE (\\S+) (\\S+)$", Pattern.MULTILINE);

    @TempDir
    Path data;

    @Test
    void everyExposedNameFollowsPrometheusNamingRules() throws Exception {
        String text = scrapeWithEveryMeter();
        Map<String, String> families = families(text);
        assertThat(families).containsKeys("process_cpu_seconds_total", "system_cpu_processors", "turnout_devices",
                "turnout_status_events_total", "turnout_rollout_wave_decision_seconds", "turnout_forwarded_report_delay_seconds",
                "turnout_webhook_deliveries_total");
        assertThat(families).doesNotContainKeys("process_cpu_time_ns_total", "system_cpu_count");
        families.forEach((name, type) -> {
            if (type.equals("counter")) {
                assertThat(name).as("a counter").endsWith("_total");
            }
            if (!type.equals("histogram") && !type.equals("summary")) {
                assertThat(name).as(type).doesNotEndWith("_count").doesNotEndWith("_sum").doesNotEndWith("_bucket");
            }
            for (String part : name.split("_")) {
                assertThat(ABBREVIATED_UNITS).as(name + ": abbreviated unit").doesNotContain(part);
                for (String prefix : UNIT_PREFIXES) {
                    for (String unit : BASE_UNITS) {
                        assertThat(part).as(name + ": not a base unit").isNotEqualTo(prefix + unit);
                    }
                }
            }
        });
    }

    @Test
    void theRenamedProcessorFiguresKeepTheirValues() throws Exception {
        String text = scrapeWithEveryMeter();
        double cpuSeconds = sample(text, "process_cpu_seconds_total");
        double cpuNow = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
        assertThat(cpuSeconds).isPositive().isLessThanOrEqualTo(cpuNow);
        assertThat(cpuNow - cpuSeconds).as("seconds, not nanoseconds").isLessThan(60);
        assertThat(sample(text, "system_cpu_processors")).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(text).contains("# HELP system_cpu_processors The number of processors available to the Java virtual machine");
    }

    /** A scrape after every lazily registered meter (status events, timers) has been registered. */
    private String scrapeWithEveryMeter() throws Exception {
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            FleetMetrics metrics = new FleetMetrics(store, Clock.systemUTC());
            metrics.statusReceived("ACTIVE", "REASON_UNSPECIFIED");
            metrics.downloaded(1024, 4096);
            metrics.waveDecision("r-1", 2, 1_000_000);
            metrics.forwardedReportDelay(Duration.ofMillis(3));
            metrics.webhookDelivery(dev.turnout.orchestrator.domain.WebhookDelivery.Result.DELIVERED);
            String text = metrics.scrape();
            Files.createDirectories(Path.of("target"));
            Files.writeString(Path.of("target", "metrics-names-sample.txt"), text); // for promtool check metrics by hand
            return text;
        }
    }

    private static Map<String, String> families(String text) {
        Map<String, String> families = new LinkedHashMap<>();
        Matcher m = TYPE.matcher(text);
        while (m.find()) {
            families.put(m.group(1), m.group(2));
        }
        return families;
    }

    private static double sample(String text, String name) {
        return text.lines().filter(l -> l.startsWith(name + " ") || l.startsWith(name + "{")).findFirst()
                .map(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .orElseThrow(() -> new AssertionError("no sample " + name + " in\n" + text));
    }
}
