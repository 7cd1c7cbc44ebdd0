package dev.turnout.orchestrator.store;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/** The audit history: table {@code audit}, newest first by its serial id. */
final class JdbcAudit implements AuditTrail {

    private final JdbcSession session;

    JdbcAudit(JdbcSession session) {
        this.session = session;
    }

    @Override
    public void appendAudit(AuditEntry e) {
        session.update("INSERT INTO audit (at, actor, action, subject, detail, log_tail) VALUES (?,?,?,?,?,?)",
                millis(e.at()), e.actor(), e.action(), e.subject(), e.detail(), e.logTail());
    }

    @Override
    public int pruneAudit(String action, Instant before) {
        return session.update("DELETE FROM audit WHERE action = ? AND at < ?", action, millis(before));
    }

    @Override
    public List<AuditEntry> audit(int limit) {
        return session.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", JdbcAudit::entry, limit);
    }

    @Override
    public List<AuditEntry> auditAbout(String who, int limit) {
        return session.query("SELECT * FROM audit WHERE subject = ? OR actor = ? ORDER BY id DESC LIMIT ?", JdbcAudit::entry,
                who, who, limit);
    }

    @Override
    public List<AuditEntry> auditByAction(String action, Instant since) {
        return session.query("SELECT * FROM audit WHERE action = ? AND at >= ? ORDER BY id", JdbcAudit::entry, action,
                millis(since));
    }

    private static AuditEntry entry(ResultSet rs) throws SQLException {
        return new AuditEntry(instant(rs, "at"), rs.getString("actor"), rs.getString("action"), rs.getString("subject"),
                rs.getString("detail"), rs.getString("log_tail"));
    }
}
