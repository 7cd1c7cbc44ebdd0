package dev.turnout.orchestrator.store;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Webhook;
import dev.turnout.orchestrator.domain.WebhookDelivery;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Optional;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/** Webhooks and their delivery log: tables {@code webhooks} and {@code webhook_deliveries} (newest by serial id). */
final class JdbcWebhooks implements WebhookStore {

    private static final TypeReference<List<String>> STRINGS = new TypeReference<>() { };

    private final JdbcSession session;

    JdbcWebhooks(JdbcSession session) {
        this.session = session;
    }

    @Override
    public void insertWebhook(Webhook w) {
        if (session.update("INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (?,?,?,?,?)"
                + " ON CONFLICT (id) DO NOTHING", w.id(), w.url(), StoredJson.write(w.events()), w.secret(),
                millis(w.createdAt())) == 0) {
            throw new ConflictException("webhook " + w.id() + " exists");
        }
    }

    @Override
    public Optional<Webhook> findWebhook(String id) {
        return session.query("SELECT * FROM webhooks WHERE id = ?", JdbcWebhooks::webhook, id).stream().findFirst();
    }

    @Override
    public List<Webhook> listWebhooks() {
        return session.query("SELECT * FROM webhooks ORDER BY created_at, id", JdbcWebhooks::webhook);
    }

    @Override
    public boolean deleteWebhook(String id) {
        boolean[] deleted = {false};
        session.inTransaction(() -> {
            session.update("DELETE FROM webhook_deliveries WHERE webhook_id = ?", id);
            deleted[0] = session.update("DELETE FROM webhooks WHERE id = ?", id) > 0;
        });
        return deleted[0];
    }

    @Override
    public void appendDelivery(WebhookDelivery d) {
        session.inTransaction(() -> {
            session.update("INSERT INTO webhook_deliveries (webhook_id, delivery_id, event, result, status_code, error,"
                            + " attempts, duration_ms, at) VALUES (?,?,?,?,?,?,?,?,?)", d.webhookId(), d.deliveryId(), d.event(),
                    d.result().name(), d.statusCode(), d.error(), d.attempts(), d.durationMillis(), millis(d.at()));
            // keeps the newest DELIVERIES_KEPT: everything at or below the id of the first one past them goes
            session.update("DELETE FROM webhook_deliveries WHERE webhook_id = ? AND id <= (SELECT id FROM webhook_deliveries"
                    + " WHERE webhook_id = ? ORDER BY id DESC LIMIT 1 OFFSET " + DELIVERIES_KEPT + ")", d.webhookId(), d.webhookId());
        });
    }

    @Override
    public List<WebhookDelivery> deliveries(String webhookId, int limit) {
        if (webhookId == null) {
            return session.query("SELECT * FROM webhook_deliveries ORDER BY id DESC LIMIT ?", JdbcWebhooks::delivery, limit);
        }
        return session.query("SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?",
                JdbcWebhooks::delivery, webhookId, limit);
    }

    private static Webhook webhook(ResultSet rs) throws SQLException {
        return new Webhook(rs.getString("id"), rs.getString("url"), StoredJson.read(rs.getString("events"), STRINGS),
                rs.getString("secret"), instant(rs, "created_at"));
    }

    private static WebhookDelivery delivery(ResultSet rs) throws SQLException {
        int status = rs.getInt("status_code");
        Integer statusCode = rs.wasNull() ? null : status;
        return new WebhookDelivery(rs.getString("webhook_id"), rs.getString("delivery_id"), rs.getString("event"),
                WebhookDelivery.Result.valueOf(rs.getString("result")), statusCode, rs.getString("error"), rs.getInt("attempts"),
                rs.getLong("duration_ms"), instant(rs, "at"));
    }
}
