package dev.turnout.orchestrator.policy;

import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Phase;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Instant;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 23, 1, as rows: where a rollback sends a device is decided from its last report (the release it
 * last ran healthy), not from its last desired state. Releases 1.0.0, 1.1.0 and 1.2.0 exist.
 */
class RollbackTargetsTest {

    private static final Set<String> RELEASED = Set.of("1.0.0", "1.1.0", "1.2.0");

    @ParameterizedTest(name = "desired {0}, last report {1} running {2} on {3} -> {4}")
    @CsvSource(delimiter = '|', nullValues = "-", textBlock = """
            # desired        | last report  | running | about | goes back to
            # the issue: c failed 1.1.0 and went back to 1.0.0 by itself; its desired state still says 1.1.0
            1.1.0 ACTIVATE   | ROLLED_BACK  | 1.0.0   | 1.1.0 | 1.0.0 ACTIVATE
            1.1.0 ACTIVATE   | ACTIVE       | 1.1.0   | 1.1.0 | 1.1.0 ACTIVATE (its desired entry)
            1.1.0 ACTIVATE   | ACTIVE       | -       | 1.1.0 | 1.1.0 ACTIVATE (its desired entry)
            # staged for a rollout that never activated it: it still runs what it ran
            1.2.0 STAGE      | STAGED       | 1.0.0   | 1.2.0 | 1.0.0 ACTIVATE
            1.2.0 STAGE      | DOWNLOADING  | 1.1.0   | 1.2.0 | 1.1.0 ACTIVATE
            1.1.0 ACTIVATE   | REJECTED     | 1.0.0   | 1.2.0 | 1.0.0 ACTIVATE
            # nothing known healthy: a rollback leaves it on what it runs (a STAGE entry says so)
            1.1.0 ACTIVATE   | FAILED       | 1.0.0   | 1.1.0 | 1.1.0 STAGE
            1.1.0 ACTIVATE   | VERIFYING    | 1.1.0   | 1.1.0 | 1.1.0 STAGE
            1.1.0 ACTIVATE   | -            | -       | -     | 1.1.0 STAGE
            -                | FAILED       | 1.0.0   | 1.1.0 | 1.0.0 STAGE
            # never had the app: a rollback removes it
            -                | -            | -       | -     | -
            1.2.0 STAGE      | -            | -       | -     | -
            -                | FAILED       | -       | 1.1.0 | -
            # a healthy version that is no release of Turnout's cannot be sent
            -                | ACTIVE       | 0.9.0   | 0.9.0 | -
            """)
    void theDeviceGoesBackToTheReleaseItLastRanHealthy(String desired, String state, String running, String about,
                                                        String expected) {
        DesiredApp entry = desired == null ? null : entry(desired, "r-old");
        DeviceApp report = state == null ? null
                : new DeviceApp("web", running, about, state, null, null, 5, 0, Instant.EPOCH);
        DesiredApp previous = RollbackTargets.previous("web", entry, report, RELEASED::contains);
        if (expected == null) {
            assertThat(previous).isNull();
        } else if (expected.endsWith("(its desired entry)")) {
            assertThat(previous).isSameAs(entry);
        } else {
            assertThat(previous).isEqualTo(entry(expected, ""));
        }
        assertThat(RollbackTargets.knownHealthy(previous)).isEqualTo(expected != null && expected.contains("ACTIVATE"));
    }

    private static DesiredApp entry(String text, String rolloutId) {
        String[] parts = text.split(" ");
        return new DesiredApp("web", parts[0], Phase.valueOf(parts[1]), false, rolloutId);
    }
}
