package dev.turnout.orchestrator.app;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

class PromQlNamesTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            turnout_dora_change_failure_rate                                                     | turnout_dora_change_failure_rate
            max(turnout_devices{job=~"$job", state="online"})                                     | turnout_devices
            sum by (state, reason) (rate(turnout_status_events_total{reason!="none"}[5m]))        | turnout_status_events_total
            histogram_quantile(0.9, sum by (le, app) (rate(turnout_activation_seconds_bucket{app=~"$app"}[$__rate_interval]))) | turnout_activation_seconds_bucket
            sum(rate(a_sum[1m])) / sum(rate(a_count[1m]))                                         | a_sum a_count
            turnout_rollout_wave_devices{state="FAILED"} > 0                                      | turnout_rollout_wave_devices
            up and on (instance) process_uptime_seconds offset 1h > 3600                          | up process_uptime_seconds
            sum without (instance) (x) * on (job) group_left (version) y                          | x y
            max(increase(turnout_rollbacks_total[$__range]))                                      | turnout_rollbacks_total
            count_values("v", build_info) or vector(0)                                            | build_info
            topk(5, foo) unless bar                                                               | foo bar
            label_replace(m, "dst", "$1", "src", "(.*)")                                          | m
            rate(c[5m] offset -1d) * 1e3 + 0x10                                                   | c
            {__name__="hidden"}                                                                   |
            """)
    void namesOfAnExpression(String expr, String expected) {
        assertThat(PromQlNames.of(expr)).containsExactlyElementsOf(names(expected));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            label_values(turnout_devices, job)                   | turnout_devices
            label_values(turnout_app_devices{job=~"$job"}, app)   | turnout_app_devices
            label_values(job)                                    |
            query_result(max by (app) (turnout_app_devices))     | turnout_app_devices
            """)
    void namesOfAVariableQuery(String query, String expected) {
        assertThat(PromQlNames.ofVariableQuery(query)).containsExactlyElementsOf(names(expected));
    }

    private static Set<String> names(String expected) {
        return expected == null ? Set.of() : Arrays.stream(expected.trim().split("\\s+")).collect(Collectors.toCollection(java.util.LinkedHashSet::new));
    }
}
