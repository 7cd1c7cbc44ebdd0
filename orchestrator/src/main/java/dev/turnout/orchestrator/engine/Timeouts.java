package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.policy.DeviceVerdicts;
import dev.turnout.proto.RolloutEventType;

import java.time.Instant;
import java.util.HashSet;
import java.util.Set;

/**
 * Devices that did not answer in time: the silence table ({@link DeviceVerdicts#silent}) says whose
 * time runs, this class knows who waits for an update window and fails those whose time ran out.
 * A running rollout times out its activations, a rolling-back one its rollbacks; a paused one nobody.
 */
final class Timeouts {

    private final Journal journal;
    private final DeviceReports reports;
    /** "rolloutId/deviceId" of activated devices that wait for their update window: no timeout meanwhile. */
    private final Set<String> inWindowWait = new HashSet<>();

    Timeouts(Journal journal, DeviceReports reports) {
        this.journal = journal;
        this.reports = reports;
    }

    /** The device said it waits for its update window: false if it had said so already. */
    boolean waitForWindow(Rollout r, RolloutDevice d) {
        return inWindowWait.add(key(r, d));
    }

    /** Other news of the release from the device: true if it was waiting for its window (it opened). */
    boolean windowOpened(Rollout r, RolloutDevice d) {
        return inWindowWait.remove(key(r, d));
    }

    /** True while the device says it waits for its update window or its app's update lock. */
    boolean waitsForWindow(Rollout r, RolloutDevice d) {
        return !inWindowWait.isEmpty() && inWindowWait.contains(key(r, d));
    }

    /**
     * Fails the devices the rollout waits for whose time ran out, and notes when the next one of a
     * running rollout can time out (so that the next report need not walk the devices).
     */
    void failOverdue(Rollout r, Instant now) {
        Instant timedOutIfBefore = now.minus(r.strategy().deviceTimeout());
        boolean running = r.state() == RolloutState.RUNNING;
        // runs on every report: a running rollout walks its devices only when one of them may have timed out
        if (running ? !r.mayHaveWaitedSince(timedOutIfBefore) : r.state() != RolloutState.ROLLING_BACK) {
            return;
        }
        DeviceVerdicts.Phase phase = DeviceVerdicts.Phase.of(r.state());
        Instant earliest = null;
        for (RolloutDevice d : r.devices()) {
            if (!RolloutFacts.underWay(d)) {
                continue;
            }
            DeviceVerdicts.Verdict verdict = DeviceVerdicts.silent(phase, d.state(), reports.isOffline(d.deviceId()),
                    !inWindowWait.isEmpty() && inWindowWait.contains(key(r, d)));
            if (verdict == DeviceVerdicts.Verdict.IGNORE) {
                continue;
            }
            if (!d.waitingSince().isAfter(timedOutIfBefore)) {
                timedOut(r, d, verdict);
                r.touched(now);
            } else if (earliest == null || d.waitingSince().isBefore(earliest)) {
                earliest = d.waitingSince();
            }
        }
        if (running) {
            r.earliestWaiting(earliest);
        }
    }

    private void timedOut(Rollout r, RolloutDevice d, DeviceVerdicts.Verdict verdict) {
        String within = " within " + Durations.format(r.strategy().deviceTimeout());
        if (verdict == DeviceVerdicts.Verdict.ROLLBACK_FAILED) {
            d.failed("TIMEOUT", "no ACTIVE report on " + d.previous().version() + within);
            journal.event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), d.message());
        } else {
            journal.deviceFailed(r, d, "TIMEOUT", "no ACTIVE report" + within);
        }
    }

    private static String key(Rollout r, RolloutDevice d) {
        return r.id() + "/" + d.deviceId();
    }
}
