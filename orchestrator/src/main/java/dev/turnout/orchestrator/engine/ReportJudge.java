package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.policy.DeviceVerdicts;
import dev.turnout.proto.RolloutEventType;
import dev.turnout.proto.UpdateState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.List;

/**
 * Judges one report about a device of a rollout with the verdict table ({@link DeviceVerdicts}) and
 * applies the verdict to the device: staged, waiting for its window, succeeded, failed, rolled back,
 * or (the rollout had ended) finished late, which the rollout's reason then names.
 */
final class ReportJudge {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);
    private static final String FINISHED_LATE = "finished late";

    private final Journal journal;
    private final Timeouts timeouts;
    private final Clock clock;

    ReportJudge(Journal journal, Timeouts timeouts, Clock clock) {
        this.journal = journal;
        this.timeouts = timeouts;
        this.clock = clock;
    }

    /** Applies one report about {@code version} to device {@code d} of {@code r}, as the table says; true if the device changed. */
    boolean apply(Rollout r, RolloutDevice d, String version, UpdateState state, long sequence, String reason,
                  String message) {
        DeviceVerdicts.Answers answers = DeviceVerdicts.Answers.of(d, r.version(), version, sequence);
        DeviceVerdicts.Verdict verdict = DeviceVerdicts.verdict(DeviceVerdicts.Phase.of(r.state()), d.state(),
                DeviceVerdicts.Said.of(state), answers);
        String why = reason == null ? state.name() : reason;
        if (verdict != DeviceVerdicts.Verdict.WAITING_FOR_WINDOW && d.state() == RolloutDeviceState.ACTIVATING
                && (answers == DeviceVerdicts.Answers.STAGE || answers == DeviceVerdicts.Answers.ACTIVATION)
                && timeouts.windowOpened(r, d)) {
            d.restartWaiting(clock.instant()); // any other news of the release: the window opened, its time to report starts now
            d.noted(null);
        }
        switch (verdict) {
            case STAGED -> d.staged();
            case WAITING_FOR_WINDOW -> {
                if (!timeouts.waitForWindow(r, d)) {
                    return false;
                }
                d.noted("waiting for its update window" + (message == null ? "" : ": " + message));
            }
            case SUCCEEDED -> {
                d.succeeded(message);
                LOG.info("rollout {}: device {} is ACTIVE on {}", r.id(), d.deviceId(), version);
                journal.event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), "active on " + version);
            }
            case FAILED -> journal.deviceFailed(r, d, why, message);
            case ROLLED_BACK -> {
                d.rolledBack("back on " + version);
                journal.event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), "rolled back to " + version);
            }
            case ROLLBACK_FAILED -> {
                d.failed(why, "rollback to " + version + " failed: " + orEmpty(message));
                journal.event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), d.message());
            }
            case LATE_SUCCEEDED -> {
                d.succeeded(late(r, "active on " + version));
                journal.event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), d.message());
                finishedLate(r, d);
            }
            case LATE_FAILED -> {
                d.failed(why, late(r, orEmpty(message)));
                journal.event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), why + ": " + d.message());
                finishedLate(r, d);
            }
            case LATE_ROLLED_BACK -> {
                d.rolledBack(late(r, "back on " + version));
                journal.event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), d.message());
                finishedLate(r, d);
            }
            case IGNORE -> {
                return false;
            }
        }
        return true;
    }

    private static String late(Rollout r, String what) {
        return FINISHED_LATE + " (the rollout had ended " + r.state() + ")" + (what.isEmpty() ? "" : ": " + what);
    }

    /**
     * A device of an ended rollout reported its outcome: the rollout keeps its state, its reason names
     * the devices that finished late (a succeeded rollout's list of offline devices is recomputed).
     */
    private void finishedLate(Rollout r, RolloutDevice d) {
        String base = r.state() == RolloutState.SUCCEEDED ? RolloutFacts.successReason(r) : r.reason();
        if (base != null && base.contains("; " + FINISHED_LATE + ": ")) {
            base = base.substring(0, base.indexOf("; " + FINISHED_LATE + ": "));
        } else if (base != null && base.startsWith(FINISHED_LATE + ": ")) {
            base = null;
        }
        List<String> late = r.devices().stream().filter(x -> x.message() != null && x.message().startsWith(FINISHED_LATE))
                .map(x -> x.deviceId() + " " + x.state()).toList();
        String list = FINISHED_LATE + ": " + String.join(", ", late);
        r.moveTo(r.state(), base == null ? list : base + "; " + list, clock.instant());
        LOG.info("rollout {} ({}): device {} finished late, {}", r.id(), r.state(), d.deviceId(), d.state());
        journal.audit(Journal.ENGINE, "rollout.late", r.id(), d.deviceId() + " " + d.state() + ": " + d.message());
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }
}
