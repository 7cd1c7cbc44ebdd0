package dev.turnout.orchestrator.engine;

import dev.turnout.proto.transfer.ByteRate;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.proto.RolloutEventType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;

/**
 * Writes down each change of a rollout the same way wherever it is made: a log line, an audit row
 * (in the open transaction) and a rollout event (in the {@link Outbox}, out after the commit).
 */
final class Journal {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);
    /** The actor of the audit rows the engine writes by itself. */
    static final String ENGINE = "engine";

    private final RolloutStore store;
    private final Outbox outbox;
    private final Clock clock;

    Journal(RolloutStore store, Outbox outbox, Clock clock) {
        this.store = store;
        this.outbox = outbox;
        this.clock = clock;
    }

    /** The rollout moves to {@code next} for {@code why} (null: no reason). */
    void moveTo(Rollout r, RolloutState next, String why) {
        r.moveTo(next, why, clock.instant());
        LOG.info("rollout {} is {}{}", r.id(), next, why == null ? "" : ": " + why);
        audit(ENGINE, "rollout.state", r.id(), next + (why == null ? "" : ": " + why) + (next.isTerminal() ? moved(r) : ""));
        event(r, RolloutEventType.STATE_CHANGED, r.currentWave(), "", why == null ? next.name() : why);
    }

    /** A device of the rollout failed; its failure counts against maxFailures. */
    void deviceFailed(Rollout r, RolloutDevice d, String reason, String message) {
        d.failed(reason, message);
        LOG.info("rollout {}: device {} failed: {}{}", r.id(), d.deviceId(), reason, message == null ? "" : " (" + message + ")");
        event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), reason + (message == null ? "" : ": " + message));
    }

    /** What the rollout moved, for the audit entry of its end: "; moved 12.3 MiB (full archives 40.0 MiB)". */
    private static String moved(Rollout r) {
        long full = r.bytesFull();
        return full == 0 ? "" : "; downloads moved " + ByteRate.size(r.bytesMoved()) + " (full archives " + ByteRate.size(full) + ")";
    }

    void event(Rollout r, RolloutEventType type, int wave, String deviceId, String message) {
        outbox.event(r, type, wave, deviceId, message);
    }

    /** Device {@code d} ended its activation or rollback: the event carries how long that took. */
    void deviceSucceeded(Rollout r, RolloutDevice d, String message) {
        outbox.deviceSucceeded(r, d, message);
    }

    void audit(String actor, String action, String subject, String detail) {
        store.appendAudit(new AuditEntry(clock.instant(), actor, action, subject, detail));
    }
}
