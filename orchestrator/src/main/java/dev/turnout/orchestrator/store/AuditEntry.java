package dev.turnout.orchestrator.store;

import java.time.Instant;

/** One line of the audit history. */
public record AuditEntry(Instant at, String actor, String action, String subject, String detail) {
}
