package dev.turnout.orchestrator.store;

import java.time.Instant;

/**
 * One line of the audit history; {@code logTail} is the last lines of a failed container's log a device's failure
 * report carried (null: none).
 */
public record AuditEntry(Instant at, String actor, String action, String subject, String detail, String logTail) {

    public AuditEntry(Instant at, String actor, String action, String subject, String detail) {
        this(at, actor, action, subject, detail, null);
    }
}
