package dev.turnout.orchestrator.store;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/**
 * Several orchestrators on one store: who drives which rollout (table {@code rollout_leases}) and the
 * reports kept for the one that does (table {@code forwarded_reports}).
 */
final class JdbcLeases {

    private final JdbcSession session;

    JdbcLeases(JdbcSession session) {
        this.session = session;
    }

    boolean claimRollout(String rolloutId, String owner, String ownerUrl, Instant now, Instant until) {
        // one statement: PostgreSQL locks the row and re-checks the WHERE on its latest version, so of two
        // orchestrators claiming an expired lease at once exactly one gets it; a holder's renewal keeps the row
        // locked until its transaction ends, so nobody takes the lease in the middle of a decision
        return session.update("INSERT INTO rollout_leases (rollout_id, owner, owner_url, expires_at) VALUES (?,?,?,?)"
                        + " ON CONFLICT (rollout_id) DO UPDATE SET owner = excluded.owner, owner_url = excluded.owner_url,"
                        + " expires_at = excluded.expires_at"
                        + " WHERE rollout_leases.owner = excluded.owner OR rollout_leases.expires_at < ?",
                rolloutId, owner, ownerUrl, millis(until), millis(now)) == 1;
    }

    boolean holdsRollout(String rolloutId, String owner, Instant now, Instant until) {
        return session.update("UPDATE rollout_leases SET expires_at = ? WHERE rollout_id = ? AND owner = ? AND expires_at >= ?",
                millis(until), rolloutId, owner, millis(now)) == 1;
    }

    void releaseRollout(String rolloutId, String owner) {
        session.update("DELETE FROM rollout_leases WHERE rollout_id = ? AND owner = ?", rolloutId, owner);
    }

    Optional<RolloutLease> rolloutLease(String rolloutId) {
        return session.query("SELECT * FROM rollout_leases WHERE rollout_id = ?", rs -> new RolloutLease(
                rs.getString("rollout_id"), rs.getString("owner"), rs.getString("owner_url"), instant(rs, "expires_at")),
                rolloutId).stream().findFirst();
    }

    void forwardReport(String rolloutId, String deviceId, String kind, byte[] payload, Instant receivedAt) {
        session.update("INSERT INTO forwarded_reports (rollout_id, device_id, kind, payload, received_at) VALUES (?,?,?,?,?)",
                rolloutId, deviceId, kind, payload, millis(receivedAt));
    }

    /** Reads and deletes, in one transaction, up to {@code limit} reports per rollout, oldest first. */
    List<ForwardedReport> takeForwardedReports(Collection<String> rolloutIds, int limit) {
        if (rolloutIds.isEmpty()) {
            return List.of();
        }
        List<ForwardedReport> taken = new ArrayList<>();
        session.inTransaction(() -> {
            for (String id : rolloutIds) {
                List<ForwardedReport> reports = session.query(
                        "SELECT * FROM forwarded_reports WHERE rollout_id = ? ORDER BY id LIMIT ?",
                        rs -> new ForwardedReport(rs.getLong("id"), rs.getString("rollout_id"), rs.getString("device_id"),
                                rs.getString("kind"), rs.getBytes("payload"), instant(rs, "received_at")), id, limit);
                if (!reports.isEmpty()) {
                    session.update("DELETE FROM forwarded_reports WHERE rollout_id = ? AND id <= ?", id,
                            reports.get(reports.size() - 1).id());
                    taken.addAll(reports);
                }
            }
        });
        return taken;
    }
}
