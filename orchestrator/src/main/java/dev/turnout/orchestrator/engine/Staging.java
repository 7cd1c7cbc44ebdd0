package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Phase;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;

import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Sends every device of a rollout its STAGE (the release to fetch before any activation), in wave
 * order: all at once, or in steps of {@value #STAGE_CHUNK} between device reports when the engine
 * is paced, so that the canaries do not wait behind the whole fleet's STAGE messages.
 */
final class Staging {

    /**
     * Devices staged per engine step when paced: create stages the first step, the steps after stage the rest. Small, so
     * that a report that completes a wave waits for one step at most (at 500 the deciding report waited up to 1.3 s
     * behind the staging of a 2,000-device fleet; a step signs and stores its devices' desired states).
     */
    static final int STAGE_CHUNK = 100;

    private final DesiredStates desired;
    private final Outbox outbox;
    /** Ids of the rollouts that may still have devices to stage. */
    private final Set<String> unfinished = new LinkedHashSet<>();

    Staging(DesiredStates desired, Outbox outbox) {
        this.desired = desired;
        this.outbox = outbox;
    }

    /** A new rollout: stages its first step ({@code paced}) or all of it. */
    void begin(Rollout r, boolean paced) {
        unfinished.add(r.id());
        stageSome(r, paced ? STAGE_CHUNK : Integer.MAX_VALUE);
    }

    /**
     * A rollout taken up from the store whose staging was cut short (the orchestrator stopped): true
     * if it goes on (and, unless {@code paced}, is done now; else the caller asks for a step).
     */
    boolean resume(Rollout r, boolean paced) {
        if ((r.state() != RolloutState.RUNNING && r.state() != RolloutState.PAUSED)
                || r.devices().stream().noneMatch(Staging::needsStaging)) {
            return false;
        }
        unfinished.add(r.id());
        if (!paced) {
            stageSome(r, Integer.MAX_VALUE);
        }
        return true;
    }

    /** True while {@code r} has devices to stage; one that was rolled back or aborted has nothing more to stage. */
    boolean unfinished(Rollout r) {
        if (r.state() != RolloutState.RUNNING && r.state() != RolloutState.PAUSED) {
            unfinished.remove(r.id());
        }
        return unfinished.contains(r.id());
    }

    /** One step of a rollout's staging. */
    void step(Rollout r) {
        stageSome(r, STAGE_CHUNK);
    }

    void forget(String rolloutId) {
        unfinished.remove(rolloutId);
    }

    void clear() {
        unfinished.clear();
    }

    /** Sends one device its STAGE (a device that joined the rollout late, or one of the steps). */
    void stage(Rollout r, RolloutDevice d) {
        DesiredStates.Decision decision = desired.commit(d.deviceId(), r.app(),
                new DesiredApp(r.app(), r.version(), Phase.STAGE, r.strategy().rollback(), r.id(), false, 0,
                        r.strategy().downloadRateLimit()));
        d.staging(decision.sequence());
        outbox.addInBackground(decision);
    }

    /** Stages up to {@code budget} devices told nothing yet (in wave order); forgets the rollout once none is left. */
    private void stageSome(Rollout r, int budget) {
        for (RolloutDevice d : r.devices()) {
            if (needsStaging(d)) {
                if (budget-- == 0) {
                    return;
                }
                stage(r, d);
            }
        }
        unfinished.remove(r.id());
    }

    /** A device the rollout has neither staged nor activated (activation alone also makes it fetch the release). */
    private static boolean needsStaging(RolloutDevice d) {
        return d.stageSequence() == 0 && !d.wasActivated() && d.state() == RolloutDeviceState.PENDING;
    }
}
