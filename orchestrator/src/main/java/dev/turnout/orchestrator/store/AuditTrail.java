package dev.turnout.orchestrator.store;

import java.time.Instant;
import java.util.List;

/** The audit history: who did what to which device or rollout, and when. Thread-safe, blocking. */
public interface AuditTrail {

    void appendAudit(AuditEntry entry);

    /** Deletes audit entries with {@code action} older than {@code before}; returns how many went. */
    int pruneAudit(String action, Instant before);

    /** The newest {@code limit} audit entries, newest first. */
    List<AuditEntry> audit(int limit);

    /** The newest {@code limit} audit entries whose subject or actor is {@code who}, newest first. */
    List<AuditEntry> auditAbout(String who, int limit);

    /** Every audit entry with {@code action} written at or after {@code since}, oldest first. */
    List<AuditEntry> auditByAction(String action, Instant since);
}
