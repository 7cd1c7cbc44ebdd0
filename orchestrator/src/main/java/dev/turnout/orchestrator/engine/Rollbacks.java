package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Phase;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.policy.RollbackTargets;
import dev.turnout.proto.rules.SemVer;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Takes a rollout's devices back: each device it activated to the release it last ran healthy
 * ({@link RollbackTargets}), each one it never activated back to where it was (cancelled). When the
 * rollback ends is the wave policy's to say.
 */
final class Rollbacks {

    private final DesiredStates desired;
    private final Outbox outbox;
    private final Journal journal;

    Rollbacks(DesiredStates desired, Outbox outbox, Journal journal) {
        this.desired = desired;
        this.outbox = outbox;
        this.journal = journal;
    }

    /** The rollout rolls back for {@code why}: signed rollbacks out, never-activated devices cancelled. */
    void start(Rollout r, String why, Instant now) {
        List<String> kept = new ArrayList<>();
        List<String> belowFloor = new ArrayList<>();
        String floor = desired.floor(r.app());
        for (RolloutDevice d : r.devices()) {
            DesiredApp previous = d.previous();
            if (!d.wasActivated()) {
                cancel(r, d, null);
            } else if (RollbackTargets.knownHealthy(previous) && floor != null && SemVer.compare(previous.version(), floor) < 0) {
                // the device would refuse it (BELOW_FLOOR): not sent
                d.noted("its previous release " + previous.version() + " is below the rollback floor " + floor
                        + ": keeps what it runs");
                belowFloor.add(d.deviceId());
            } else if (RollbackTargets.knownHealthy(previous)) {
                DesiredStates.Decision decision = desired.commit(d.deviceId(), r.app(),
                        new DesiredApp(r.app(), previous.version(), Phase.ACTIVATE, true, r.id()));
                d.rollingBack(decision.sequence(), now);
                outbox.add(decision);
            } else if (previous == null) {
                // it had no release of the app before: a signed removal takes it back there (an entry merely left out
                // would leave the app running on the device)
                outbox.add(desired.commit(d.deviceId(), r.app(), DesiredApp.removal(r.app())));
                d.rolledBack("app removed: the device had no previous release");
            } else {
                // nothing says which release ran healthy there: sending it one would be a guess
                d.noted("no release known healthy before this rollout: keeps what it runs");
                kept.add(d.deviceId());
            }
        }
        String reason = kept.isEmpty() ? why : why + "; kept what they run (no release known healthy): " + String.join(", ", kept);
        journal.moveTo(r, RolloutState.ROLLING_BACK, belowFloor.isEmpty() ? reason
                : reason + "; kept what they run (previous release below the rollback floor " + floor + "): "
                + String.join(", ", belowFloor));
    }

    /** The rollout was aborted: the devices it never activated are cancelled, the others keep what they were told. */
    void cancelUnactivated(Rollout r, String why) {
        for (RolloutDevice d : r.devices()) {
            if (!d.wasActivated() && !d.state().isSettled()) {
                cancel(r, d, why);
            }
        }
    }

    /** Every device answered its rollback: the rollout rolled back, or failed where a rollback was not confirmed. */
    void end(Rollout r, boolean confirmed) {
        if (confirmed) {
            journal.moveTo(r, RolloutState.ROLLED_BACK, r.reason());
        } else {
            journal.moveTo(r, RolloutState.FAILED, r.reason() + "; rollback not confirmed on "
                    + String.join(", ", RolloutFacts.unconfirmed(r)));
        }
    }

    /**
     * A device the rollout never activated: its desired state goes back to its previous release (its
     * container was never touched), or loses the app if it had none.
     */
    private void cancel(Rollout r, RolloutDevice d, String why) {
        DesiredApp back = RollbackTargets.untouched(d.previous());
        outbox.add(desired.commit(d.deviceId(), r.app(), back));
        d.cancelled("never activated" + (why == null ? "" : ": " + why) + ": stays on "
                + (back == null ? "nothing" : back.version()));
    }
}
