package dev.turnout.orchestrator.app;

import org.hawkular.agent.prometheus.text.TextPrometheusMetricsProcessor;
import org.hawkular.agent.prometheus.types.Counter;
import org.hawkular.agent.prometheus.types.Gauge;
import org.hawkular.agent.prometheus.types.Histogram;
import org.hawkular.agent.prometheus.types.Metric;
import org.hawkular.agent.prometheus.types.MetricFamily;
import org.hawkular.agent.prometheus.types.MetricType;
import org.hawkular.agent.prometheus.walkers.CollectorPrometheusMetricsWalker;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One scrape of {@code /metrics} read by a Prometheus text-format parser (Hawkular's port of the
 * reference Python client's parser). That parser skips lines it cannot read, so {@link #parse}
 * also checks that every sample line of the text became a sample.
 */
final class PrometheusScrape {

    private final List<MetricFamily> families;

    private PrometheusScrape(List<MetricFamily> families) {
        this.families = families;
    }

    static PrometheusScrape parse(String text) {
        CollectorPrometheusMetricsWalker walker = new CollectorPrometheusMetricsWalker();
        new TextPrometheusMetricsProcessor(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), walker).walk();
        PrometheusScrape scrape = new PrometheusScrape(walker.getAllMetricFamilies());
        long sampleLines = text.lines().map(String::trim).filter(l -> !l.isEmpty() && !l.startsWith("#")).count();
        assertThat(scrape.sampleCount()).as("samples the parser read from:\n" + text).isEqualTo(sampleLines);
        return scrape;
    }

    private long sampleCount() {
        long n = 0;
        for (MetricFamily f : families) {
            for (Metric m : f.getMetrics()) {
                n += m instanceof Histogram h ? h.getBuckets().size() + 2 : 1;
            }
        }
        return n;
    }

    MetricType type(String family) {
        return family(family).map(MetricFamily::getType).orElseThrow(() -> new AssertionError("no metric family " + family));
    }

    /** The value of a counter or gauge sample with exactly these labels, if there is one. */
    Optional<Double> value(String family, String... labels) {
        Map<String, String> wanted = labels(labels);
        return family(family).flatMap(f -> f.getMetrics().stream().filter(m -> m.getLabels().equals(wanted)).findFirst())
                .map(m -> m instanceof Counter c ? c.getValue() : ((Gauge) m).getValue());
    }

    /** Like {@link #value} but absent counts as 0 (a counter not incremented yet). */
    double valueOrZero(String family, String... labels) {
        return value(family, labels).orElse(0.0);
    }

    Optional<Histogram> histogram(String family, String... labels) {
        Map<String, String> wanted = labels(labels);
        return family(family).flatMap(f -> f.getMetrics().stream().filter(m -> m.getLabels().equals(wanted)).findFirst())
                .map(m -> (Histogram) m);
    }

    private Optional<MetricFamily> family(String name) {
        return families.stream().filter(f -> f.getName().equals(name)).findFirst();
    }

    private static Map<String, String> labels(String... pairs) {
        Map<String, String> map = new HashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put(pairs[i], pairs[i + 1]);
        }
        return map;
    }
}
