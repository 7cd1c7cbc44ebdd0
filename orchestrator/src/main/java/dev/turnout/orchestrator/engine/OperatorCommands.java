package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.proto.RolloutEventType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.Set;

/**
 * What an operator may do to a rollout this engine drives, and when: each command checks the
 * rollout's state (a {@link ConflictException} otherwise), changes it and writes its audit row. The
 * engine then moves the rollout on where the command lets it, stores it and publishes.
 */
final class OperatorCommands {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);

    private final Journal journal;
    private final Rollbacks rollbacks;
    private final ReportJudge judge;
    private final Activations activations;
    private final Clock clock;

    OperatorCommands(Journal journal, Rollbacks rollbacks, ReportJudge judge, Activations activations, Clock clock) {
        this.journal = journal;
        this.rollbacks = rollbacks;
        this.judge = judge;
        this.activations = activations;
        this.clock = clock;
    }

    /** A planned rollout was stored: the audit trail, the log and the monitors learn of it. */
    void created(RolloutPlanner.Plan plan, String actor) {
        Rollout r = plan.rollout();
        journal.audit(actor, r.strategy().rollback() ? "rollout.rollback" : "rollout.create", r.id(), r.app() + ":"
                + r.version() + " to " + r.target() + " in waves " + plan.sizes()
                + (plan.canary().isEmpty() ? "" : ", canary " + String.join(",", plan.canary())));
        if (r.strategy().emergency() != null) {
            journal.audit(actor, "rollout.emergency", r.id(), r.strategy().emergency());
        }
        LOG.info("rollout {} created: {}:{} to {} devices in waves {}", r.id(), r.app(), r.version(),
                plan.deviceIds().size(), plan.sizes());
        journal.event(r, RolloutEventType.CREATED, 0, "", "waves " + plan.sizes());
    }

    /**
     * {@code by}, just created, replaces unfinished rollout {@code r} of the same app: {@code r} ends
     * ABORTED, naming {@code by}. Its devices that {@code by} targets and that had not settled are
     * SKIPPED (they go straight to the newer release; those ACTIVE on {@code r}'s release stay so and
     * are not rolled back); the others are left as an abort leaves them.
     */
    void supersede(Rollout r, Rollout by, Set<String> takenBy, String actor) {
        String why = "superseded by rollout " + by.id() + " (" + by.app() + ":" + by.version() + ") by " + actor;
        journal.audit(actor, "rollout.supersede", r.id(), why);
        journal.moveTo(r, RolloutState.ABORTED, why);
        for (RolloutDevice d : r.devices()) {
            if (!d.state().isSettled() && takenBy.contains(d.deviceId())) {
                judge.superseded(r, d, by);
            }
        }
        rollbacks.cancelUnactivated(r, "the rollout was superseded by " + by.id());
    }

    void pause(Rollout r, String actor) {
        if (r.state() != RolloutState.RUNNING) {
            throw new ConflictException("rollout " + r.id() + " is " + r.state() + " and cannot be paused");
        }
        journal.moveTo(r, RolloutState.PAUSED, "paused by " + actor);
        journal.audit(actor, "rollout.pause", r.id(), null);
    }

    /** Resumes a paused rollout; the failures seen so far are accepted. */
    void resume(Rollout r, String actor) {
        if (r.state() != RolloutState.PAUSED) {
            throw new ConflictException("rollout " + r.id() + " is " + r.state() + " and cannot be resumed");
        }
        r.tolerateCurrentFailures();
        journal.moveTo(r, RolloutState.RUNNING, null);
        journal.audit(actor, "rollout.resume", r.id(), null);
    }

    /** Stops the rollout for good: devices it never activated are cancelled, the others keep what they were told. */
    void abort(Rollout r, String actor) {
        journal.moveTo(r, RolloutState.ABORTED, "aborted by " + actor);
        rollbacks.cancelUnactivated(r, "the rollout was aborted");
        journal.audit(actor, "rollout.abort", r.id(), null);
    }

    /** Rolls an unfinished rollout back now, as {@code onFailure: rollback} would. */
    void rollBack(Rollout r, String actor) {
        if (r.state() != RolloutState.RUNNING && r.state() != RolloutState.PAUSED) {
            throw new ConflictException("rollout " + r.id() + " is " + r.state() + " and cannot be rolled back");
        }
        journal.audit(actor, "rollout.rollback-now", r.id(), null);
        rollbacks.start(r, "rolled back by " + actor, clock.instant());
    }

    /** Starts the next wave of a rollout that waits for approval between waves. */
    void approve(Rollout r, String actor) {
        if (r.state() != RolloutState.RUNNING || r.currentWaveState() != WaveState.DONE || r.currentWave() == 0
                || r.currentWave() >= r.waveCount()) {
            throw new ConflictException("rollout " + r.id() + " is not waiting for approval");
        }
        journal.audit(actor, "rollout.approve", r.id(), "wave " + (r.currentWave() + 1));
        r.moveTo(RolloutState.RUNNING, null, clock.instant());
        activations.startWave(r, r.currentWave() + 1, clock.instant());
    }
}
