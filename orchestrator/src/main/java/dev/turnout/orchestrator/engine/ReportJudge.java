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
    private static final String SKIPPED = "skipped, taken by a newer rollout";

    private final Journal journal;
    private final Timeouts timeouts;
    private final Activations activations;
    private final Clock clock;

    ReportJudge(Journal journal, Timeouts timeouts, Activations activations, Clock clock) {
        this.journal = journal;
        this.timeouts = timeouts;
        this.activations = activations;
        this.clock = clock;
    }

    /** Applies one report about {@code version} to device {@code d} of {@code r}, as the table says; true if the device changed. */
    boolean apply(Rollout r, RolloutDevice d, String version, UpdateState state, long sequence, String reason,
                  String message) {
        DeviceVerdicts.Answers answers = DeviceVerdicts.Answers.of(d, r.version(), version, sequence);
        DeviceVerdicts.Verdict verdict = DeviceVerdicts.verdict(DeviceVerdicts.Phase.of(r.state()), d.state(),
                DeviceVerdicts.Said.of(state, reason), answers);
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
                d.noted((state == UpdateState.WAITING_FOR_LOCK ? "waiting for the app's update lock" : "waiting for its update window")
                        + (message == null ? "" : ": " + message));
            }
            case SUCCEEDED -> {
                d.succeeded(message);
                // DEBUG: one line per device is 10,000 lines per rollout at scale, written on the engine thread;
                // the wave's lines, the audit trail and the rollout events say it at INFO
                LOG.debug("rollout {}: device {} is ACTIVE on {}", r.id(), d.deviceId(), version);
                journal.deviceSucceeded(r, d, "active on " + version);
            }
            case FAILED -> journal.deviceFailed(r, d, why, message);
            case ACTIVATE_AGAIN -> {
                activations.activateAgain(r, d, clock.instant());
                d.noted("its switch was interrupted on the device, activated again: " + orEmpty(message));
                LOG.info("rollout {}: device {} was interrupted during its switch to {} ({}): activated again", r.id(),
                        d.deviceId(), version, orEmpty(message));
                journal.audit(Journal.ENGINE, "rollout.retry", r.id(), d.deviceId() + " interrupted, activated again: "
                        + orEmpty(message));
            }
            case ROLLED_BACK -> {
                d.rolledBack("back on " + version);
                journal.deviceSucceeded(r, d, "rolled back to " + version);
            }
            case ROLLBACK_FAILED -> {
                d.failed(why, "rollback to " + version + " failed: " + orEmpty(message));
                journal.event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), d.message());
            }
            case LATE_SUCCEEDED -> {
                d.succeeded(late(r, "active on " + version));
                journal.deviceSucceeded(r, d, d.message());
                finishedLate(r, d);
            }
            case LATE_FAILED -> {
                d.failed(why, late(r, orEmpty(message)));
                journal.event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), why + ": " + d.message());
                finishedLate(r, d);
            }
            case LATE_ROLLED_BACK -> {
                d.rolledBack(late(r, "back on " + version));
                journal.deviceSucceeded(r, d, d.message());
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
        r.moveTo(r.state(), reasonAfterItEnded(r), clock.instant());
        LOG.info("rollout {} ({}): device {} finished late, {}", r.id(), r.state(), d.deviceId(), d.state());
        journal.audit(Journal.ENGINE, "rollout.late", r.id(), d.deviceId() + " " + d.state() + ": " + d.message());
    }

    /**
     * A newer rollout ({@code by}) took device {@code d} of ended rollout {@code r} before {@code d}
     * finished it (it was offline, or had not reported yet): {@code d} is SKIPPED, since the device
     * only ever applies its newest desired state, and the rollout's reason names it.
     */
    void superseded(Rollout r, RolloutDevice d, Rollout by) {
        d.skipped("superseded by rollout " + by.id() + " (" + by.version() + ") before it finished this one");
        journal.event(r, RolloutEventType.DEVICE_SKIPPED, d.wave(), d.deviceId(), d.message());
        r.moveTo(r.state(), reasonAfterItEnded(r), clock.instant());
        LOG.info("rollout {} ({}): device {} skipped, taken by rollout {} ({})", r.id(), r.state(), d.deviceId(), by.id(),
                by.version());
        journal.audit(Journal.ENGINE, "rollout.skipped", r.id(), d.deviceId() + ": " + d.message());
    }

    /**
     * The reason of ended rollout {@code r} once devices finished late or were skipped: what it ended
     * with (a succeeded rollout's list of offline devices recomputed), then the devices that finished
     * late, then the ones a newer rollout took.
     */
    private static String reasonAfterItEnded(Rollout r) {
        String base = r.state() == RolloutState.SUCCEEDED ? RolloutFacts.successReason(r) : r.reason();
        for (String suffix : List.of(FINISHED_LATE + ": ", SKIPPED + ": ")) {
            if (base != null && base.startsWith(suffix)) {
                base = null;
            } else if (base != null && base.contains("; " + suffix)) {
                base = base.substring(0, base.indexOf("; " + suffix));
            }
        }
        List<String> parts = new java.util.ArrayList<>();
        if (base != null && !base.isEmpty()) {
            parts.add(base);
        }
        List<String> late = r.devices().stream().filter(x -> x.message() != null && x.message().startsWith(FINISHED_LATE))
                .map(x -> x.deviceId() + " " + x.state()).toList();
        if (!late.isEmpty()) {
            parts.add(FINISHED_LATE + ": " + String.join(", ", late));
        }
        List<String> skipped = r.devices().stream().filter(x -> x.state() == RolloutDeviceState.SKIPPED)
                .map(RolloutDevice::deviceId).toList();
        if (!skipped.isEmpty()) {
            parts.add(SKIPPED + ": " + String.join(", ", skipped));
        }
        return parts.isEmpty() ? null : String.join("; ", parts);
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }
}
