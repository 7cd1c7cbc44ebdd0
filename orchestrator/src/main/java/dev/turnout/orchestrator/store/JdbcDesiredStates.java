package dev.turnout.orchestrator.store;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.DesiredApp;

import java.util.List;
import java.util.Optional;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/** Each device's last desired state, fenced by its sequence: table {@code device_desired}. */
final class JdbcDesiredStates implements DesiredStateStore {

    private final JdbcSession session;

    JdbcDesiredStates(JdbcSession session) {
        this.session = session;
    }

    @Override
    public Optional<DesiredRecord> findDesired(String deviceId) {
        return session.query("SELECT * FROM device_desired WHERE device_id = ?", rs -> new DesiredRecord(
                rs.getLong("sequence"), instant(rs, "issued_at"),
                StoredJson.read(rs.getString("apps"), new TypeReference<List<DesiredApp>>() { }),
                rs.getBytes("envelope")), deviceId).stream().findFirst();
    }

    @Override
    public void saveDesired(String deviceId, DesiredRecord d) {
        // fencing by sequence: a decision never replaces one with the same or a higher sequence (e.g. made by
        // another orchestrator meanwhile); the transaction that tried it rolls back and publishes nothing
        if (session.update("INSERT INTO device_desired (device_id, sequence, issued_at, apps, envelope) VALUES (?,?,?,?,?)"
                        + " ON CONFLICT (device_id) DO UPDATE SET sequence = excluded.sequence, issued_at = excluded.issued_at,"
                        + " apps = excluded.apps, envelope = excluded.envelope WHERE device_desired.sequence < excluded.sequence",
                deviceId, d.sequence(), millis(d.issuedAt()), StoredJson.write(d.apps()), d.envelope()) == 0) {
            throw new ConflictException("the desired state of " + deviceId + " has a sequence >= " + d.sequence()
                    + " already: another orchestrator decided for it");
        }
    }

    @Override
    public List<String> devicesWithDesired() {
        return session.query("SELECT device_id FROM device_desired ORDER BY device_id", rs -> rs.getString(1));
    }
}
