package dev.turnout.orchestrator.policy;

import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Phase;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.policy.DeviceVerdicts.Verdict;
import dev.turnout.proto.UpdateState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * docs/api.md, "A device succeeds when ...", as rows: a rollout of 2.0.0 sent the device its STAGE at
 * sequence 10, its ACTIVATE at 20 and (rolling back) its rollback to 1.0.0 at 30. Each row is one report.
 */
class DeviceVerdictsTest {

    private static final long STAGE = 10;
    private static final long ACTIVATION = 20;
    private static final long ROLLBACK = 30;

    @ParameterizedTest(name = "{0}: a {1} device reports {2} on {3} at {4} -> {5}")
    @CsvSource(delimiter = '|', textBlock = """
            # rollout    | device       | reports            | version | at sequence       | verdict
            # staging: having the release (or running it already) is staged; refusing it is a failure
            RUNNING      | PENDING      | STAGED             | 2.0.0   | STAGE             | STAGED
            RUNNING      | PENDING      | ACTIVE             | 2.0.0   | STAGE             | STAGED
            RUNNING      | PENDING      | DOWNLOADING        | 2.0.0   | STAGE             | IGNORE
            RUNNING      | PENDING      | REJECTED           | 2.0.0   | STAGE             | FAILED
            RUNNING      | STAGED       | FAILED             | 2.0.0   | STAGE             | FAILED
            RUNNING      | STAGED       | STAGED             | 2.0.0   | STAGE             | IGNORE
            PAUSED       | PENDING      | STAGED             | 2.0.0   | STAGE             | STAGED
            # a report older than the rollout's STAGE, or about another version, proves nothing
            RUNNING      | PENDING      | STAGED             | 2.0.0   | BEFORE_STAGE      | IGNORE
            RUNNING      | PENDING      | FAILED             | 1.0.0   | STAGE             | IGNORE
            # activation: ACTIVE counts only for the ACTIVATE's sequence or later
            RUNNING      | ACTIVATING   | ACTIVE             | 2.0.0   | ACTIVATION        | SUCCEEDED
            RUNNING      | ACTIVATING   | ACTIVE             | 2.0.0   | STAGE             | IGNORE
            RUNNING      | ACTIVATING   | VERIFYING          | 2.0.0   | ACTIVATION        | IGNORE
            RUNNING      | ACTIVATING   | WAITING_FOR_WINDOW | 2.0.0   | ACTIVATION        | WAITING_FOR_WINDOW
            RUNNING      | ACTIVATING   | WAITING_FOR_WINDOW | 2.0.0   | STAGE             | IGNORE
            # the update lock: the device waits for the running app (bounded by its lock timeout), like a window
            RUNNING      | ACTIVATING   | WAITING_FOR_LOCK   | 2.0.0   | ACTIVATION        | WAITING_FOR_WINDOW
            RUNNING      | ACTIVATING   | WAITING_FOR_LOCK   | 2.0.0   | STAGE             | IGNORE
            PAUSED       | ACTIVATING   | WAITING_FOR_LOCK   | 2.0.0   | ACTIVATION        | WAITING_FOR_WINDOW
            RUNNING      | STAGED       | WAITING_FOR_LOCK   | 2.0.0   | STAGE             | IGNORE
            SUCCEEDED    | ACTIVATING   | WAITING_FOR_LOCK   | 2.0.0   | ACTIVATION        | IGNORE
            # its lock held past the timeout: FAILED (LOCK_TIMEOUT), a failure like any other
            RUNNING      | ACTIVATING   | FAILED             | 2.0.0   | ACTIVATION        | FAILED
            # an app removed from the device is no rollout's report
            RUNNING      | ACTIVATING   | REMOVED            | 2.0.0   | ACTIVATION        | IGNORE
            RUNNING      | ACTIVE       | REMOVING           | 2.0.0   | ACTIVATION        | IGNORE
            RUNNING      | ACTIVATING   | ROLLED_BACK        | 2.0.0   | ACTIVATION        | FAILED
            RUNNING      | ACTIVATING   | FAILED             | 2.0.0   | STAGE             | FAILED
            RUNNING      | ACTIVATING   | ACTIVE             | 1.0.0   | ACTIVATION        | IGNORE
            PAUSED       | ACTIVATING   | ACTIVE             | 2.0.0   | ACTIVATION        | SUCCEEDED
            # a device that succeeded and then went back by itself for that activation failed after all
            RUNNING      | ACTIVE       | ROLLED_BACK        | 2.0.0   | ACTIVATION        | FAILED
            RUNNING      | ACTIVE       | ACTIVE             | 2.0.0   | ACTIVATION        | IGNORE
            RUNNING      | ACTIVE       | FAILED             | 2.0.0   | STAGE             | IGNORE
            # a failed device stays failed; resume accepts it, it does not revive it
            RUNNING      | FAILED       | ACTIVE             | 2.0.0   | ACTIVATION        | IGNORE
            # rolling back: only the rollback's own sequence on the previous release counts
            ROLLING_BACK | ROLLING_BACK | ACTIVE             | 1.0.0   | ROLLBACK          | ROLLED_BACK
            ROLLING_BACK | ROLLING_BACK | ACTIVE             | 1.0.0   | ACTIVATION        | IGNORE
            ROLLING_BACK | ROLLING_BACK | FAILED             | 1.0.0   | ROLLBACK          | ROLLBACK_FAILED
            ROLLING_BACK | ROLLING_BACK | ACTIVE             | 2.0.0   | ROLLBACK          | IGNORE
            ROLLING_BACK | ACTIVATING   | ACTIVE             | 2.0.0   | ACTIVATION        | IGNORE
            # issue 23, 3: a device still under way when the rollout ended finishes late and the record says so
            SUCCEEDED    | ACTIVATING   | ACTIVE             | 2.0.0   | ACTIVATION        | LATE_SUCCEEDED
            ABORTED      | ACTIVATING   | ACTIVE             | 2.0.0   | ACTIVATION        | LATE_SUCCEEDED
            ABORTED      | ACTIVATING   | ROLLED_BACK        | 2.0.0   | ACTIVATION        | LATE_FAILED
            SUCCEEDED    | ACTIVATING   | ACTIVE             | 2.0.0   | STAGE             | IGNORE
            FAILED       | ROLLING_BACK | ACTIVE             | 1.0.0   | ROLLBACK          | LATE_ROLLED_BACK
            ABORTED      | ROLLING_BACK | FAILED             | 1.0.0   | ROLLBACK          | LATE_FAILED
            # what had settled when it ended stays as it was
            SUCCEEDED    | ACTIVE       | ROLLED_BACK        | 2.0.0   | ACTIVATION        | IGNORE
            ABORTED      | CANCELLED    | ACTIVE             | 2.0.0   | ACTIVATION        | IGNORE
            """)
    void reportsBecomeVerdicts(RolloutState rollout, RolloutDeviceState device, UpdateState reports, String version,
                               String at, Verdict verdict) {
        assertThat(DeviceVerdicts.judge(rollout, "2.0.0", device(device), version, reports, sequence(at))).isEqualTo(verdict);
    }

    @ParameterizedTest(name = "{0}: a {1} device reports {2} {3} at {4} -> {5}")
    @CsvSource(delimiter = '|', textBlock = """
            # rollout    | device       | reports  | reason          | at sequence | verdict
            # a full disk is not the release's fault: the device goes on by itself once it has space; no failure counted
            RUNNING      | PENDING      | FAILED   | DISK_FULL       | STAGE       | IGNORE
            RUNNING      | STAGED       | FAILED   | DISK_FULL       | STAGE       | IGNORE
            RUNNING      | ACTIVATING   | FAILED   | DISK_FULL       | ACTIVATION  | IGNORE
            RUNNING      | ACTIVATING   | REJECTED | DISK_FULL       | ACTIVATION  | IGNORE
            PAUSED       | ACTIVATING   | FAILED   | DISK_FULL       | STAGE       | IGNORE
            SUCCEEDED    | ACTIVATING   | FAILED   | DISK_FULL       | ACTIVATION  | IGNORE
            # nor is a clock the device cannot trust: it judges the state again once its clock is set
            RUNNING      | PENDING      | REJECTED | CLOCK_UNTRUSTED | STAGE       | IGNORE
            RUNNING      | ACTIVATING   | REJECTED | CLOCK_UNTRUSTED | ACTIVATION  | IGNORE
            # any other reason is a failure, as before (EXPIRED by a synchronised clock, too)
            RUNNING      | ACTIVATING   | REJECTED | EXPIRED         | ACTIVATION  | FAILED
            RUNNING      | ACTIVATING   | FAILED   | DOWNLOAD_FAILED | ACTIVATION  | FAILED
            RUNNING      | PENDING      | REJECTED | EXPIRED         | STAGE       | FAILED
            # a switch cut short on the device (its daemon or host stopped during it; it went back): asked again, no failure
            RUNNING      | ACTIVATING   | ROLLED_BACK | INTERRUPTED  | ACTIVATION  | ACTIVATE_AGAIN
            PAUSED       | ACTIVATING   | ROLLED_BACK | INTERRUPTED  | ACTIVATION  | ACTIVATE_AGAIN
            # ... the interrupted sequence, once asked again (it is older now), answers nothing
            RUNNING      | ACTIVATING   | ROLLED_BACK | INTERRUPTED  | STAGE       | IGNORE
            # ... a device that had succeeded and then went back is not retried; once the rollout ended, it failed late
            RUNNING      | ACTIVE       | ROLLED_BACK | INTERRUPTED  | ACTIVATION  | FAILED
            SUCCEEDED    | ACTIVATING   | ROLLED_BACK | INTERRUPTED  | ACTIVATION  | LATE_FAILED
            # judged by the device, or interrupted and then failed for good: failures
            RUNNING      | ACTIVATING   | ROLLED_BACK | HEALTH_CHECK_FAILED | ACTIVATION | FAILED
            RUNNING      | ACTIVATING   | FAILED   | TOO_MANY_ATTEMPTS | ACTIVATION | FAILED
            RUNNING      | ACTIVATING   | FAILED   | INTERRUPTED     | ACTIVATION  | FAILED
            """)
    void aFullDiskOrAnUntrustedClockIsNoFailure(RolloutState rollout, RolloutDeviceState device, UpdateState reports, String reason, String at,
                              Verdict verdict) {
        assertThat(DeviceVerdicts.judge(rollout, "2.0.0", device(device), "2.0.0", reports, reason, sequence(at))).isEqualTo(verdict);
    }

    @ParameterizedTest(name = "{0}: a silent {1} device, {2}, {3}: its time runs out -> {4}")
    @CsvSource(delimiter = '|', textBlock = """
            # rollout    | device       | where   | window      | verdict
            # activating: only an online device that does not wait (for its update window or its app's update lock) times out
            RUNNING      | ACTIVATING   | online  | not waiting | FAILED
            RUNNING      | ACTIVATING   | offline | not waiting | IGNORE
            RUNNING      | ACTIVATING   | online  | waiting     | IGNORE
            RUNNING      | ACTIVATING   | offline | waiting     | IGNORE
            # a rollback waits for nobody: unanswered, it is not confirmed
            ROLLING_BACK | ROLLING_BACK | online  | not waiting | ROLLBACK_FAILED
            ROLLING_BACK | ROLLING_BACK | offline | not waiting | ROLLBACK_FAILED
            ROLLING_BACK | ROLLING_BACK | online  | waiting     | ROLLBACK_FAILED
            # a device the rollback leaves on what it runs is not waited for
            ROLLING_BACK | ACTIVATING   | online  | not waiting | IGNORE
            # devices nobody waits for never time out, nor does anyone once the rollout ended
            RUNNING      | PENDING      | online  | not waiting | IGNORE
            RUNNING      | STAGED       | online  | not waiting | IGNORE
            RUNNING      | ACTIVE       | online  | not waiting | IGNORE
            SUCCEEDED    | ACTIVATING   | online  | not waiting | IGNORE
            """)
    void silenceBecomesVerdicts(RolloutState rollout, RolloutDeviceState device, String where, String window, Verdict verdict) {
        assertThat(DeviceVerdicts.silent(DeviceVerdicts.Phase.of(rollout), device, where.equals("offline"),
                window.equals("waiting"))).isEqualTo(verdict);
    }

    @Test
    void noTwoSilenceRowsNameTheSameCase() {
        Set<List<Object>> cases = new HashSet<>();
        for (DeviceVerdicts.Silence row : DeviceVerdicts.SILENCE) {
            assertThat(cases.add(List.of(row.phase(), row.device(), row.offline(), row.waitingForWindow())))
                    .as(row.toString()).isTrue();
        }
    }

    @Test
    void noTwoRowsNameTheSameCase() {
        Set<List<Object>> cases = new HashSet<>();
        for (DeviceVerdicts.Row row : DeviceVerdicts.TABLE) {
            assertThat(cases.add(List.of(row.phase(), row.device(), row.said(), row.answers()))).as(row.toString()).isTrue();
        }
    }

    private static long sequence(String at) {
        return switch (at) {
            case "BEFORE_STAGE" -> STAGE - 1;
            case "STAGE" -> STAGE;
            case "ACTIVATION" -> ACTIVATION;
            case "ROLLBACK" -> ROLLBACK;
            default -> throw new IllegalArgumentException(at);
        };
    }

    /** A device of the rollout in {@code state}, with the sequences the rollout sent it to get there. */
    private static RolloutDevice device(RolloutDeviceState state) {
        boolean activated = state != RolloutDeviceState.PENDING && state != RolloutDeviceState.STAGED
                && state != RolloutDeviceState.CANCELLED;
        boolean rolledBack = state == RolloutDeviceState.ROLLING_BACK || state == RolloutDeviceState.ROLLED_BACK;
        return new RolloutDevice("pi-1", 1, new DesiredApp("web", "1.0.0", Phase.ACTIVATE, false, ""), state, STAGE,
                activated ? ACTIVATION : 0, rolledBack ? ROLLBACK : 0, Instant.EPOCH, null, null);
    }
}
