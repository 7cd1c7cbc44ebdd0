package dev.turnout.orchestrator.policy;

import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.proto.UpdateState;

import java.util.List;

import static dev.turnout.orchestrator.domain.RolloutDeviceState.ACTIVATING;
import static dev.turnout.orchestrator.domain.RolloutDeviceState.PENDING;
import static dev.turnout.orchestrator.domain.RolloutDeviceState.ROLLING_BACK;
import static dev.turnout.orchestrator.domain.RolloutDeviceState.STAGED;
import static dev.turnout.orchestrator.policy.DeviceVerdicts.Answers.ACTIVATION;
import static dev.turnout.orchestrator.policy.DeviceVerdicts.Answers.ROLLBACK;
import static dev.turnout.orchestrator.policy.DeviceVerdicts.Answers.STAGE;
import static dev.turnout.orchestrator.policy.DeviceVerdicts.Said.ACTIVE;
import static dev.turnout.orchestrator.policy.DeviceVerdicts.Said.FAILURE;
import static dev.turnout.orchestrator.policy.DeviceVerdicts.Said.WAITING;

/**
 * The one table that turns a device's report into a verdict on its place in a rollout (docs/api.md,
 * "A device succeeds when ..."). Pure: no I/O, no clock. A report the table does not name changes
 * nothing ({@link Verdict#IGNORE}): a report proves only what a row says it proves.
 *
 * <p>A report is first reduced to what it {@link Said} and which decision of the rollout it
 * {@link Answers} (its version and sequence against the device's stage, activation and rollback
 * sequences); the row for the rollout's {@link Phase}, the device's state and those two gives the verdict.
 */
public final class DeviceVerdicts {

    /** Where the rollout stands, as far as judging a report goes. */
    public enum Phase {
        /** RUNNING or PAUSED: devices stage and activate the release. */
        LIVE,
        /** ROLLING_BACK: activated devices go back to their previous release. */
        ROLLING_BACK,
        /** Ended (SUCCEEDED, FAILED, ROLLED_BACK, ABORTED): only devices still under way can finish, late. */
        ENDED;

        public static Phase of(RolloutState s) {
            return switch (s) {
                case RUNNING, PAUSED -> LIVE;
                case ROLLING_BACK -> ROLLING_BACK;
                case SUCCEEDED, FAILED, ROLLED_BACK, ABORTED -> ENDED;
            };
        }
    }

    /** What a report says, reduced to what a rollout cares about. */
    public enum Said {
        /** STAGED: the release is in the device's cache and engine. */
        STAGED,
        /** ACTIVE: it runs the reported version, healthy through its soak. */
        ACTIVE,
        /**
         * WAITING_FOR_WINDOW or WAITING_FOR_LOCK: told to activate, it waits for its update window or for the running app
         * to release its update lock (which the device bounds by its lock timeout: it then reports FAILED, LOCK_TIMEOUT).
         */
        WAITING,
        /** FAILED, REJECTED or ROLLED_BACK: the reported version did not take. */
        FAILURE,
        /**
         * FAILED or REJECTED for a condition of the device, not of the release, that the device gets over by itself: a
         * full disk (DISK_FULL: it goes on once it has space) or a wall clock it cannot trust that says the state expired
         * (CLOCK_UNTRUSTED: it judges the state again once its clock is set); docs/edge-daemon.md. No row names it: it
         * proves nothing yet and the device's time to report runs on (a device that does not get over it times out).
         */
        DEVICE_CONDITION,
        /**
         * ROLLED_BACK for INTERRUPTED: the device's daemon or host stopped in the middle of its switch (a crash, a
         * {@code kill -9}, a power cut) and it went back to what it ran without judging the release (docs/edge-daemon.md).
         * Nothing is known against the release; the daemon tries again when told to with a new sequence.
         */
        INTERRUPTED,
        /** Anything else (downloading, applying, verifying...): under way, proves nothing yet. */
        BUSY;

        /** What a report in state {@code s} with reason {@code reason} (its name; null: none) says. */
        public static Said of(UpdateState s, String reason) {
            boolean condition = "DISK_FULL".equals(reason) || "CLOCK_UNTRUSTED".equals(reason);
            if (condition && (s == UpdateState.FAILED || s == UpdateState.REJECTED)) {
                return DEVICE_CONDITION;
            }
            return s == UpdateState.ROLLED_BACK && "INTERRUPTED".equals(reason) ? INTERRUPTED : of(s);
        }

        public static Said of(UpdateState s) {
            return switch (s) {
                case STAGED -> STAGED;
                case ACTIVE -> ACTIVE;
                case WAITING_FOR_WINDOW, WAITING_FOR_LOCK -> WAITING;
                case FAILED, REJECTED, ROLLED_BACK -> FAILURE;
                default -> BUSY;
            };
        }
    }

    /** Which decision of the rollout a report answers, from its version and sequence. */
    public enum Answers {
        /** The rollout's release, at or after the STAGE the device was sent (and before its ACTIVATE). */
        STAGE,
        /** The rollout's release, at or after the ACTIVATE the device was sent. */
        ACTIVATION,
        /** The device's previous release, at or after the rollback it was sent. */
        ROLLBACK,
        /** Another version, or an older sequence: nothing this rollout asked for. */
        NOTHING;

        /** Classifies a report about {@code version} at {@code sequence} for device {@code d} of a rollout of {@code release}. */
        public static Answers of(RolloutDevice d, String release, String version, long sequence) {
            if (d.rollbackSequence() > 0 && d.previous() != null && d.previous().version().equals(version)
                    && sequence >= d.rollbackSequence()) {
                return ROLLBACK;
            }
            if (!release.equals(version) || sequence < d.stageSequence()) {
                return NOTHING;
            }
            return d.wasActivated() && sequence >= d.activationSequence() ? ACTIVATION : STAGE;
        }
    }

    /** What the engine does with the device. */
    public enum Verdict {
        /** Nothing changes. */
        IGNORE,
        /** PENDING becomes STAGED. */
        STAGED,
        /**
         * Still ACTIVATING, but waiting for its update window or its app's update lock: its timeout stops until it reports
         * again (the window opened, the lock was released or timed out on the device).
         */
        WAITING_FOR_WINDOW,
        /** ACTIVE on the release: the device succeeded. */
        SUCCEEDED,
        /** FAILED: counts against maxFailures. */
        FAILED,
        /** Still ACTIVATING: its switch was cut short on the device; the activation is signed again with a new sequence. */
        ACTIVATE_AGAIN,
        /** Back on its previous release. */
        ROLLED_BACK,
        /** The rollback did not take: FAILED, the rollout cannot end ROLLED_BACK. */
        ROLLBACK_FAILED,
        /** The rollout had ended: ACTIVE now, marked late; the rollout's state stays, its record is updated. */
        LATE_SUCCEEDED,
        /** The rollout had ended: FAILED now, marked late. */
        LATE_FAILED,
        /** The rollout had ended while the device was rolling back: back on its previous release, marked late. */
        LATE_ROLLED_BACK
    }

    /** One row: in {@code phase}, a device in state {@code device} that {@code said} something answering {@code answers}. */
    public record Row(Phase phase, RolloutDeviceState device, Said said, Answers answers, Verdict verdict) {
    }

    /** The table. Order does not matter: no two rows share their first four columns. */
    public static final List<Row> TABLE = List.of(
            // staging: a device that has the release (or already runs it) is staged; a refusal is a failure
            row(Phase.LIVE, PENDING, Said.STAGED, STAGE, Verdict.STAGED),
            row(Phase.LIVE, PENDING, ACTIVE, STAGE, Verdict.STAGED),
            row(Phase.LIVE, PENDING, FAILURE, STAGE, Verdict.FAILED),
            row(Phase.LIVE, STAGED, FAILURE, STAGE, Verdict.FAILED),
            // activation: only ACTIVE for the activating sequence succeeds; any failure on the release fails
            row(Phase.LIVE, ACTIVATING, ACTIVE, ACTIVATION, Verdict.SUCCEEDED),
            row(Phase.LIVE, ACTIVATING, WAITING, ACTIVATION, Verdict.WAITING_FOR_WINDOW),
            row(Phase.LIVE, ACTIVATING, FAILURE, ACTIVATION, Verdict.FAILED),
            row(Phase.LIVE, ACTIVATING, FAILURE, STAGE, Verdict.FAILED),
            // a switch cut short on the device (daemon or host stopped) proves nothing against the release: it is asked
            // again with a new sequence (the daemon bounds its attempts: then FAILED, which counts); the interrupted
            // sequence, older than the new one, answers nothing any more (no row: IGNORE)
            row(Phase.LIVE, ACTIVATING, Said.INTERRUPTED, ACTIVATION, Verdict.ACTIVATE_AGAIN),
            row(Phase.LIVE, RolloutDeviceState.ACTIVE, Said.INTERRUPTED, ACTIVATION, Verdict.FAILED),
            // a device that succeeded and then fails for the same activation (its app crashed, it rolled back)
            row(Phase.LIVE, RolloutDeviceState.ACTIVE, FAILURE, ACTIVATION, Verdict.FAILED),
            // rolling back: only the rollback's own sequence on the previous release counts
            row(Phase.ROLLING_BACK, ROLLING_BACK, ACTIVE, ROLLBACK, Verdict.ROLLED_BACK),
            row(Phase.ROLLING_BACK, ROLLING_BACK, FAILURE, ROLLBACK, Verdict.ROLLBACK_FAILED),
            // ended (issue 23, 3): a device still under way when the rollout ended finishes late, and says so
            row(Phase.ENDED, ACTIVATING, ACTIVE, ACTIVATION, Verdict.LATE_SUCCEEDED),
            row(Phase.ENDED, ACTIVATING, FAILURE, ACTIVATION, Verdict.LATE_FAILED),
            row(Phase.ENDED, ACTIVATING, Said.INTERRUPTED, ACTIVATION, Verdict.LATE_FAILED),
            row(Phase.ENDED, ACTIVATING, FAILURE, STAGE, Verdict.LATE_FAILED),
            row(Phase.ENDED, ROLLING_BACK, ACTIVE, ROLLBACK, Verdict.LATE_ROLLED_BACK),
            row(Phase.ENDED, ROLLING_BACK, FAILURE, ROLLBACK, Verdict.LATE_FAILED));

    /**
     * One row of the silence table: in {@code phase}, a device in state {@code device}, offline or not,
     * waiting for its update window or not, whose time to report ran out (deviceTimeout since it was told).
     */
    public record Silence(Phase phase, RolloutDeviceState device, boolean offline, boolean waitingForWindow,
                          Verdict verdict) {
    }

    /**
     * The silence table: what a device's time running out means. Activating, only an online device that
     * does not wait for its update window times out (the others' time stops, and starts again when they
     * are back or their window opens); a rollback waits for nobody: unanswered, it is not confirmed.
     * Cases not listed never time out (a device a rollback leaves on what it runs, for one).
     */
    public static final List<Silence> SILENCE = List.of(
            silence(Phase.LIVE, ACTIVATING, false, false, Verdict.FAILED),
            silence(Phase.LIVE, ACTIVATING, true, false, Verdict.IGNORE),
            silence(Phase.LIVE, ACTIVATING, false, true, Verdict.IGNORE),
            silence(Phase.LIVE, ACTIVATING, true, true, Verdict.IGNORE),
            silence(Phase.ROLLING_BACK, ROLLING_BACK, false, false, Verdict.ROLLBACK_FAILED),
            silence(Phase.ROLLING_BACK, ROLLING_BACK, true, false, Verdict.ROLLBACK_FAILED),
            silence(Phase.ROLLING_BACK, ROLLING_BACK, false, true, Verdict.ROLLBACK_FAILED),
            silence(Phase.ROLLING_BACK, ROLLING_BACK, true, true, Verdict.ROLLBACK_FAILED));

    private DeviceVerdicts() {
    }

    private static Silence silence(Phase phase, RolloutDeviceState device, boolean offline, boolean waitingForWindow,
                                   Verdict verdict) {
        return new Silence(phase, device, offline, waitingForWindow, verdict);
    }

    /**
     * The verdict on a device whose time to report ran out, from the silence table; {@link Verdict#IGNORE}
     * when its time does not run (so it cannot run out).
     */
    public static Verdict silent(Phase phase, RolloutDeviceState device, boolean offline, boolean waitingForWindow) {
        for (Silence s : SILENCE) {
            if (s.phase() == phase && s.device() == device && s.offline() == offline
                    && s.waitingForWindow() == waitingForWindow) {
                return s.verdict();
            }
        }
        return Verdict.IGNORE;
    }

    private static Row row(Phase phase, RolloutDeviceState device, Said said, Answers answers, Verdict verdict) {
        return new Row(phase, device, said, answers, verdict);
    }

    /** The verdict of the table's row, or {@link Verdict#IGNORE} when no row names the case. */
    public static Verdict verdict(Phase phase, RolloutDeviceState device, Said said, Answers answers) {
        for (Row r : TABLE) {
            if (r.phase() == phase && r.device() == device && r.said() == said && r.answers() == answers) {
                return r.verdict();
            }
        }
        return Verdict.IGNORE;
    }

    /** The verdict on a report about {@code version} in {@code state} at {@code sequence} for device {@code d}. */
    public static Verdict judge(RolloutState rollout, String release, RolloutDevice d, String version, UpdateState state,
                                long sequence) {
        return judge(rollout, release, d, version, state, null, sequence);
    }

    /** As above, for a report giving {@code reason} (its name; null: none). */
    public static Verdict judge(RolloutState rollout, String release, RolloutDevice d, String version, UpdateState state,
                                String reason, long sequence) {
        return verdict(Phase.of(rollout), d.state(), Said.of(state, reason), Answers.of(d, release, version, sequence));
    }
}
