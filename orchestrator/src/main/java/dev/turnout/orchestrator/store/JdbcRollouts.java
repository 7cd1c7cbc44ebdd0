package dev.turnout.orchestrator.store;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WaveState;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.WeakHashMap;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/**
 * Rollouts and their devices: tables {@code rollouts} and {@code rollout_devices}. A save writes the
 * rollout's row and only the devices that changed since they were last written.
 */
final class JdbcRollouts {

    private static final String ACTIVE = "state IN ('RUNNING','PAUSED','ROLLING_BACK')";

    /** A strategy and its JSON. */
    private record StrategyJson(RolloutStrategy strategy, String json) {
    }

    private final JdbcSession session;
    /**
     * Rollout devices written in the current transaction, with the change count written: a batch of
     * reports saves the rollout once per report, and each save writes only what changed since the
     * last one (not every device changed since the last commit); marked saved on commit. Guarded by
     * the session's lock.
     */
    private final Map<RolloutDevice, Long> writtenInTransaction = new IdentityHashMap<>();
    /**
     * The {@code rollouts} row last written for a rollout object, committed, and in the current
     * transaction: a save whose row did not change (most device reports change only the device) writes
     * the changed devices and not the row again. Keyed by the object (Rollout keeps Object's equals), so
     * a rollout read again from the store, after another orchestrator drove it, is written in full.
     * Guarded by the session's lock.
     */
    private final Map<Rollout, List<Object>> committedRows = new WeakHashMap<>();
    private final Map<Rollout, List<Object>> rowsInTransaction = new IdentityHashMap<>();
    /** The last strategy written, with its JSON (one reference: a reader never pairs one with another's JSON). */
    private volatile StrategyJson lastStrategy = new StrategyJson(null, null);

    JdbcRollouts(JdbcSession session) {
        this.session = session;
        session.onTransactionEnd(committed -> {
            if (committed) {
                writtenInTransaction.forEach(RolloutDevice::saved);
                committedRows.putAll(rowsInTransaction);
            }
            writtenInTransaction.clear();
            rowsInTransaction.clear();
        });
    }

    /** Inserts or replaces a rollout and writes its changed devices, in one transaction (the current one, if any). */
    void saveRollout(Rollout r) {
        session.inTransaction(() -> write(r));
    }

    private void write(Rollout r) {
        List<Object> row = Arrays.asList(r.id(), r.app(), r.version(), r.target(), strategyJson(r.strategy()),
                r.state().name(), r.reason(), millis(r.createdAt()), millis(r.updatedAt()), r.currentWave(),
                r.currentWaveState().name(), millis(r.waveChangedAt()), r.toleratedFailures());
        List<Object> last = rowsInTransaction.containsKey(r) ? rowsInTransaction.get(r) : committedRows.get(r);
        if (!row.equals(last)) {
            session.update("INSERT INTO rollouts (id, app, version, target, strategy, state, reason, created_at, updated_at,"
                            + " current_wave, wave_state, wave_changed_at, tolerated_failures) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                            + " ON CONFLICT (id) DO UPDATE SET app = excluded.app, version = excluded.version, target = excluded.target,"
                            + " strategy = excluded.strategy, state = excluded.state, reason = excluded.reason,"
                            + " created_at = excluded.created_at, updated_at = excluded.updated_at, current_wave = excluded.current_wave,"
                            + " wave_state = excluded.wave_state, wave_changed_at = excluded.wave_changed_at,"
                            + " tolerated_failures = excluded.tolerated_failures",
                    row.toArray());
            rowsInTransaction.put(r, row);
        }
        // only the devices that changed: a status event of one device must not rewrite a 10,000-device rollout
        for (RolloutDevice d : r.unsavedDevices()) {
            long upTo = d.changes();
            Long written = writtenInTransaction.put(d, upTo);
            if (written != null && written == upTo) {
                continue;
            }
            session.update("INSERT INTO rollout_devices (rollout_id, device_id, wave, state, previous, stage_seq,"
                            + " activation_seq, rollback_seq, waiting_since, reason, message, bytes_moved, bytes_full)"
                            + " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                            + " ON CONFLICT (rollout_id, device_id) DO UPDATE SET wave = excluded.wave, state = excluded.state,"
                            + " previous = excluded.previous, stage_seq = excluded.stage_seq,"
                            + " activation_seq = excluded.activation_seq, rollback_seq = excluded.rollback_seq,"
                            + " waiting_since = excluded.waiting_since, reason = excluded.reason, message = excluded.message,"
                            + " bytes_moved = excluded.bytes_moved, bytes_full = excluded.bytes_full",
                    r.id(), d.deviceId(), d.wave(), d.state().name(), d.previous() == null ? null : StoredJson.write(d.previous()),
                    d.stageSequence(), d.activationSequence(), d.rollbackSequence(), millis(d.waitingSince()),
                    d.reason(), d.message(), d.bytesMoved(), d.bytesFull());
        }
    }

    Optional<Rollout> findRollout(String id) {
        return session.query("SELECT * FROM rollouts WHERE id = ?", this::rollout, id).stream().findFirst();
    }

    /** Every rollout, newest first. */
    List<Rollout> listRollouts() {
        return session.query("SELECT * FROM rollouts ORDER BY created_at DESC, id DESC", this::rollout);
    }

    /** The rollouts not in a terminal state, oldest first. */
    List<Rollout> activeRollouts() {
        return session.query("SELECT * FROM rollouts WHERE " + ACTIVE + " ORDER BY created_at", this::rollout);
    }

    List<String> activeRolloutIds() {
        return session.query("SELECT id FROM rollouts WHERE " + ACTIVE + " ORDER BY created_at", rs -> rs.getString(1));
    }

    /** Reads a rollout row and its devices (a second query, on the same connection under the same lock). */
    private Rollout rollout(ResultSet rs) throws SQLException {
        String id = rs.getString("id");
        Map<String, Object> s = StoredJson.read(rs.getString("strategy"), new TypeReference<Map<String, Object>>() { });
        RolloutStrategy strategy = RolloutStrategy.parse((String) s.get("waves"), (String) s.get("soak"),
                (String) s.get("maxFailures"), (String) s.get("onFailure"), (String) s.get("deviceTimeout"),
                (Boolean) s.get("approveEachWave"), (Boolean) s.get("offlineCountsAsFailure"), (Boolean) s.get("static"),
                (Boolean) s.get("rollback"), (String) s.get("emergency"), (Boolean) s.get("force"), (String) s.get("lockTimeout"))
                .withDownloadRateLimit(s.get("downloadRateLimit") instanceof Number n ? n.longValue() : 0);
        List<RolloutDevice> devices = session.query("SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY device_id",
                JdbcRollouts::device, id);
        devices.forEach(d -> d.saved(d.changes())); // as stored
        return new Rollout(id, rs.getString("app"), rs.getString("version"), rs.getString("target"), strategy,
                instant(rs, "created_at"), RolloutState.valueOf(rs.getString("state")), rs.getString("reason"),
                instant(rs, "updated_at"), rs.getInt("current_wave"), WaveState.valueOf(rs.getString("wave_state")),
                instant(rs, "wave_changed_at"), rs.getInt("tolerated_failures"), devices);
    }

    private static RolloutDevice device(ResultSet d) throws SQLException {
        RolloutDevice device = new RolloutDevice(d.getString("device_id"), d.getInt("wave"),
                d.getString("previous") == null ? null : StoredJson.read(d.getString("previous"), new TypeReference<DesiredApp>() { }),
                RolloutDeviceState.valueOf(d.getString("state")), d.getLong("stage_seq"), d.getLong("activation_seq"),
                d.getLong("rollback_seq"), instant(d, "waiting_since"), d.getString("reason"), d.getString("message"));
        device.downloaded(d.getLong("bytes_moved"), d.getLong("bytes_full"));
        return device;
    }

    /** A rollout is saved on every report and its strategy never changes: its JSON is made once. */
    private String strategyJson(RolloutStrategy s) {
        StrategyJson last = lastStrategy;
        if (last.strategy() != s) {
            last = new StrategyJson(s, StoredJson.write(strategyFields(s)));
            lastStrategy = last;
        }
        return last.json();
    }

    private static Map<String, Object> strategyFields(RolloutStrategy s) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("waves", s.wavesText());
        fields.put("soak", Durations.format(s.soak()));
        fields.put("maxFailures", s.maxFailures().toString());
        fields.put("onFailure", s.onFailure().wireName());
        fields.put("deviceTimeout", Durations.format(s.deviceTimeout()));
        fields.put("approveEachWave", s.approveEachWave());
        fields.put("offlineCountsAsFailure", s.offlineCountsAsFailure());
        fields.put("static", s.staticTarget());
        fields.put("rollback", s.rollback());
        if (s.emergency() != null) {
            fields.put("emergency", s.emergency());
        }
        fields.put("force", s.force());
        fields.put("lockTimeout", s.lockTimeout() == null ? null : Durations.format(s.lockTimeout()));
        if (s.downloadRateLimit() > 0) {
            fields.put("downloadRateLimit", s.downloadRateLimit());
        }
        return fields;
    }
}
