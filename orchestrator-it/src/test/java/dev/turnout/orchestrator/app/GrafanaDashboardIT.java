package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code config/grafana/turnout.json} asks only for metrics the orchestrator exposes: every metric
 * name in every panel's and every template variable's query is a series name of a real
 * {@code /metrics} scrape, taken after a rollout succeeded and another rolled back (so that the
 * counters, histograms and DORA figures that appear only then are there).
 */
class GrafanaDashboardIT {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Pattern SAMPLE_NAME = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", Pattern.MULTILINE);

    @TempDir
    Path work;

    private TestFleet fleet;

    @AfterEach
    void tearDown() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void everyMetricTheDashboardQueriesIsExposed() throws Exception {
        JsonNode dashboard = new ObjectMapper().readTree(dashboardFile().toFile());
        Map<String, Set<String>> queried = queriedNames(dashboard);
        assertThat(queried).as("panels and variables with a query").hasSizeGreaterThan(20);

        fleet = TestFleet.start(work.resolve("server"));
        fleet.createReleases("1.0.0", "2.0.0");
        fleet.device("graf-a", Map.of(), Set.of("2.0.0"));
        fleet.device("graf-b", Map.of(), Set.of());
        await().atMost(WAIT).until(() -> fleet.countOnline() == 2);
        String v1 = fleet.rollout("1.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(v1).equals("SUCCEEDED"));
        String v2 = fleet.rollout("2.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(v2).equals("ROLLED_BACK"));

        String text = fleet.get("/metrics");
        Files.writeString(Path.of("target", "metrics-dashboard-sample.txt"), text); // for promtool check metrics by hand
        Set<String> exposed = exposedNames(text);
        List<String> missing = new ArrayList<>();
        queried.forEach((where, names) -> names.stream().filter(n -> !exposed.contains(n))
                .forEach(n -> missing.add(where + ": " + n)));
        assertThat(missing).as("metrics the dashboard queries that /metrics does not expose; exposed: " + new TreeSet<>(exposed)).isEmpty();
        Set<String> turnoutFamilies = new TreeSet<>();
        exposed.stream().filter(n -> n.startsWith("turnout_") && !n.startsWith("turnout_forwarded_")).forEach(turnoutFamilies::add);
        Set<String> used = new HashSet<>();
        queried.values().forEach(used::addAll);
        assertThat(used).as("the dashboard shows every family of turnout_ metrics at least once")
                .containsAll(turnoutFamilies.stream().filter(n -> !n.endsWith("_bucket") && !n.endsWith("_count") && !n.endsWith("_sum")
                        && !n.equals("turnout_activation_seconds_max")).toList());
    }

    @Test
    void theDashboardIsImportable() throws Exception {
        JsonNode dashboard = new ObjectMapper().readTree(dashboardFile().toFile());
        assertThat(dashboard.path("uid").asText()).isEqualTo("turnout");
        assertThat(dashboard.path("title").asText()).isNotBlank();
        assertThat(dashboard.path("schemaVersion").asInt()).isPositive();
        assertThat(dashboard.has("id")).as("no database id: Grafana assigns one on import").isFalse();
        Set<Integer> ids = new HashSet<>();
        for (JsonNode panel : panels(dashboard)) {
            assertThat(ids.add(panel.path("id").asInt())).as("unique panel id " + panel.path("id")).isTrue();
            assertThat(panel.path("gridPos").path("w").asInt()).as(panel.path("title").asText()).isBetween(1, 24);
            for (JsonNode target : panel.path("targets")) {
                assertThat(target.path("refId").asText()).isNotBlank();
                assertThat(target.path("datasource").path("uid").asText()).isEqualTo("${datasource}");
            }
        }
    }

    /** Where each name is queried ("panel TITLE/REFID" or "variable NAME") to the names. */
    static Map<String, Set<String>> queriedNames(JsonNode dashboard) {
        Map<String, Set<String>> queried = new LinkedHashMap<>();
        for (JsonNode panel : panels(dashboard)) {
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText("");
                String where = "panel '" + panel.path("title").asText() + "'/" + target.path("refId").asText();
                assertThat(expr).as(where + " has an expr").isNotBlank();
                Set<String> names = PromQlNames.of(expr);
                assertThat(names).as(where + " selects a metric: " + expr).isNotEmpty();
                queried.put(where, names);
            }
        }
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if (!variable.path("type").asText().equals("query")) {
                continue;
            }
            JsonNode query = variable.path("query");
            String text = query.isTextual() ? query.asText() : query.path("query").asText();
            queried.put("variable " + variable.path("name").asText(), PromQlNames.ofVariableQuery(text));
        }
        return queried;
    }

    /** Every panel, the ones inside collapsed rows too. */
    private static List<JsonNode> panels(JsonNode dashboard) {
        List<JsonNode> all = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            all.add(panel);
            panel.path("panels").forEach(all::add);
        }
        return all;
    }

    /**
     * The series names of a scrape: a histogram's {@code _bucket}, {@code _count} and {@code _sum},
     * a summary's quantiles (its own name), {@code _count} and {@code _sum}, as Prometheus stores them.
     */
    private static Set<String> exposedNames(String text) {
        Set<String> names = new HashSet<>();
        Matcher m = SAMPLE_NAME.matcher(text);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    private static Path dashboardFile() {
        Path module = Path.of("").toAbsolutePath();
        Path file = module.getParent().resolve("config").resolve("grafana").resolve("turnout.json");
        assertThat(file).as("run from the orchestrator module").exists();
        return file;
    }
}
