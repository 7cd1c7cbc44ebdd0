package dev.turnout.orchestrator.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WaveState;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** {@link FleetStore} on one SQLite file ({@code turnout.db}) in WAL mode, one connection, serialized access. */
public final class SqliteFleetStore implements FleetStore {

    private static final int SCHEMA_VERSION = 1;
    private static final String[] SCHEMA = {
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, labels TEXT NOT NULL, groups_json TEXT NOT NULL,"
                + " enrolled_at INTEGER NOT NULL, online INTEGER NOT NULL DEFAULT 0, last_seen INTEGER, platform TEXT)",
        "CREATE TABLE IF NOT EXISTS device_apps (device_id TEXT NOT NULL, app TEXT NOT NULL, running_version TEXT,"
                + " version TEXT, state TEXT, reason TEXT, message TEXT, sequence INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
                + " PRIMARY KEY (device_id, app))",
        "CREATE TABLE IF NOT EXISTS device_desired (device_id TEXT PRIMARY KEY, sequence INTEGER NOT NULL,"
                + " issued_at INTEGER NOT NULL, apps TEXT NOT NULL, envelope BLOB NOT NULL)",
        "CREATE TABLE IF NOT EXISTS artifacts (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, image_id TEXT NOT NULL,"
                + " image_ref TEXT, created_at INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS releases (app TEXT NOT NULL, version TEXT NOT NULL, created_at INTEGER NOT NULL,"
                + " images TEXT NOT NULL, spec TEXT NOT NULL, PRIMARY KEY (app, version))",
        "CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL,"
                + " target TEXT NOT NULL, strategy TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, created_at INTEGER NOT NULL,"
                + " updated_at INTEGER NOT NULL, current_wave INTEGER NOT NULL, wave_state TEXT NOT NULL,"
                + " wave_changed_at INTEGER, tolerated_failures INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rollout_devices (rollout_id TEXT NOT NULL, device_id TEXT NOT NULL, wave INTEGER NOT NULL,"
                + " state TEXT NOT NULL, previous TEXT, stage_seq INTEGER NOT NULL, activation_seq INTEGER NOT NULL,"
                + " rollback_seq INTEGER NOT NULL, waiting_since INTEGER, reason TEXT, message TEXT,"
                + " PRIMARY KEY (rollout_id, device_id))",
        "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,"
                + " action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT)",
        "CREATE INDEX IF NOT EXISTS rollouts_state ON rollouts (state)",
        "CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject)",
        "CREATE INDEX IF NOT EXISTS audit_action_at ON audit (action, at)",
    };

    private final Connection connection;
    private final ObjectMapper json = new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private SqliteFleetStore(Connection connection) {
        this.connection = connection;
    }

    /** Opens (creating or migrating) {@code dataDir/turnout.db}. */
    public static SqliteFleetStore open(Path dataDir) {
        try {
            Files.createDirectories(dataDir);
            Connection c = DriverManager.getConnection("jdbc:sqlite:" + dataDir.resolve("turnout.db").toAbsolutePath());
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA journal_mode=WAL");
                s.execute("PRAGMA synchronous=NORMAL");
                s.execute("PRAGMA busy_timeout=5000");
                for (String ddl : SCHEMA) {
                    s.execute(ddl);
                }
                try (ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM schema_version")) {
                    if (rs.next() && rs.getInt(1) == 0) {
                        s.execute("INSERT INTO schema_version (version) VALUES (" + SCHEMA_VERSION + ")");
                    }
                }
            }
            return new SqliteFleetStore(c);
        } catch (Exception e) {
            throw new StoreException("cannot open the store in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void insertDevice(Device d) {
        if (findDevice(d.id()).isPresent()) {
            throw new ConflictException("device " + d.id() + " is already enrolled");
        }
        update("INSERT INTO devices (id, labels, groups_json, enrolled_at, online, last_seen, platform) VALUES (?,?,?,?,?,?,?)",
                d.id(), write(d.labels()), write(d.groups()), millis(d.enrolledAt()), d.online() ? 1 : 0,
                millis(d.lastSeen()), d.platform());
    }

    @Override
    public synchronized Optional<Device> findDevice(String id) {
        return query("SELECT * FROM devices WHERE id = ?", this::device, id).stream().findFirst();
    }

    @Override
    public synchronized List<Device> listDevices() {
        return query("SELECT * FROM devices ORDER BY id", this::device);
    }

    @Override
    public synchronized void updatePresence(String deviceId, boolean online, Instant lastSeen, String platform) {
        update("UPDATE devices SET online = ?, last_seen = ?, platform = COALESCE(?, platform) WHERE id = ?",
                online ? 1 : 0, millis(lastSeen), platform == null || platform.isBlank() ? null : platform, deviceId);
    }

    @Override
    public synchronized void saveDeviceApp(String deviceId, DeviceApp a) {
        update("INSERT OR REPLACE INTO device_apps (device_id, app, running_version, version, state, reason, message, sequence,"
                        + " updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                deviceId, a.app(), a.runningVersion(), a.version(), a.state(), a.reason(), a.message(), a.sequence(),
                millis(a.updatedAt()));
    }

    @Override
    public synchronized List<DeviceApp> deviceApps(String deviceId) {
        return query("SELECT * FROM device_apps WHERE device_id = ? ORDER BY app", rs -> new DeviceApp(
                rs.getString("app"), rs.getString("running_version"), rs.getString("version"), rs.getString("state"),
                rs.getString("reason"), rs.getString("message"), rs.getLong("sequence"),
                instant(rs, "updated_at")), deviceId);
    }

    @Override
    public synchronized Optional<DesiredRecord> findDesired(String deviceId) {
        return query("SELECT * FROM device_desired WHERE device_id = ?", rs -> new DesiredRecord(
                rs.getLong("sequence"), instant(rs, "issued_at"),
                read(rs.getString("apps"), new TypeReference<List<DesiredApp>>() { }),
                rs.getBytes("envelope")), deviceId).stream().findFirst();
    }

    @Override
    public synchronized void saveDesired(String deviceId, DesiredRecord d) {
        update("INSERT OR REPLACE INTO device_desired (device_id, sequence, issued_at, apps, envelope) VALUES (?,?,?,?,?)",
                deviceId, d.sequence(), millis(d.issuedAt()), write(d.apps()), d.envelope());
    }

    @Override
    public synchronized List<String> devicesWithDesired() {
        return query("SELECT device_id FROM device_desired ORDER BY device_id", rs -> rs.getString(1));
    }

    @Override
    public synchronized void saveArtifact(Artifact a) {
        update("INSERT OR IGNORE INTO artifacts (digest, size, image_id, image_ref, created_at) VALUES (?,?,?,?,?)",
                a.digest(), a.size(), a.imageId(), a.imageRef(), System.currentTimeMillis());
    }

    @Override
    public synchronized Optional<Artifact> findArtifact(String digest) {
        return query("SELECT * FROM artifacts WHERE digest = ?", rs -> new Artifact(rs.getString("digest"),
                rs.getLong("size"), rs.getString("image_id"), rs.getString("image_ref")), digest).stream().findFirst();
    }

    @Override
    public synchronized void insertRelease(Release r) {
        if (findRelease(r.app(), r.version()).isPresent()) {
            throw new ConflictException("release " + r.key() + " exists already");
        }
        update("INSERT INTO releases (app, version, created_at, images, spec) VALUES (?,?,?,?,?)",
                r.app(), r.version(), millis(r.createdAt()), write(r.images()), write(r.spec()));
    }

    @Override
    public synchronized Optional<Release> findRelease(String app, String version) {
        return query("SELECT * FROM releases WHERE app = ? AND version = ?", this::release, app, version).stream().findFirst();
    }

    @Override
    public synchronized List<Release> listReleases() {
        return query("SELECT * FROM releases ORDER BY app, created_at", this::release);
    }

    /** Depth of {@link #inTransaction} calls on the (only) connection; guarded by this. */
    private int transactionDepth;
    private final Map<String, PreparedStatement> statements = new java.util.HashMap<>();
    /** Actions waiting for the commit of the current transaction; guarded by this. */
    private final List<Runnable> afterCommit = new ArrayList<>();
    /**
     * Rollout devices written in the current transaction, with the change count written: a batch of
     * reports saves the rollout once per report, and each save writes only what changed since the
     * last one (not every device changed since the last commit); marked saved on commit. Guarded by this.
     */
    private final Map<RolloutDevice, Long> writtenInTransaction = new java.util.IdentityHashMap<>();

    @Override
    public void afterCommit(Runnable action) {
        synchronized (this) {
            if (transactionDepth > 0) {
                afterCommit.add(action);
                return;
            }
        }
        action.run();
    }

    @Override
    public void inTransaction(Runnable work) {
        List<Runnable> committed;
        synchronized (this) {
            if (transactionDepth > 0) {
                work.run();
                return;
            }
            try {
                connection.setAutoCommit(false);
                transactionDepth++;
                try {
                    work.run();
                    connection.commit();
                    writtenInTransaction.forEach(RolloutDevice::saved);
                } catch (RuntimeException | Error e) {
                    connection.rollback();
                    afterCommit.clear();
                    throw e;
                } finally {
                    writtenInTransaction.clear();
                    transactionDepth--;
                    connection.setAutoCommit(true);
                }
            } catch (SQLException e) {
                afterCommit.clear();
                throw new StoreException("transaction failed: " + e.getMessage(), e);
            }
            committed = List.copyOf(afterCommit);
            afterCommit.clear();
        }
        committed.forEach(Runnable::run); // outside the lock: publishing must not hold up readers
    }

    @Override
    public synchronized void saveRollout(Rollout r) {
        inTransaction(() -> writeRollout(r));
    }

    private void writeRollout(Rollout r) {
        update("INSERT OR REPLACE INTO rollouts (id, app, version, target, strategy, state, reason, created_at, updated_at,"
                        + " current_wave, wave_state, wave_changed_at, tolerated_failures) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                r.id(), r.app(), r.version(), r.target(), write(strategyFields(r.strategy())), r.state().name(),
                r.reason(), millis(r.createdAt()), millis(r.updatedAt()), r.currentWave(), r.currentWaveState().name(),
                millis(r.waveChangedAt()), r.toleratedFailures());
        // only the devices that changed: a status event of one device must not rewrite a 10,000-device rollout
        for (RolloutDevice d : r.devices()) {
            if (!d.unsaved()) {
                continue;
            }
            long upTo = d.changes();
            Long written = writtenInTransaction.put(d, upTo);
            if (written != null && written == upTo) {
                continue;
            }
            update("INSERT OR REPLACE INTO rollout_devices (rollout_id, device_id, wave, state, previous, stage_seq,"
                            + " activation_seq, rollback_seq, waiting_since, reason, message) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    r.id(), d.deviceId(), d.wave(), d.state().name(), d.previous() == null ? null : write(d.previous()),
                    d.stageSequence(), d.activationSequence(), d.rollbackSequence(), millis(d.waitingSince()),
                    d.reason(), d.message());
        }
    }

    @Override
    public synchronized Optional<Rollout> findRollout(String id) {
        return query("SELECT * FROM rollouts WHERE id = ?", this::rollout, id).stream().findFirst();
    }

    @Override
    public synchronized Optional<Instant> waitingSince(String rolloutId, String deviceId) {
        return query("SELECT waiting_since FROM rollout_devices WHERE rollout_id = ? AND device_id = ?",
                rs -> Optional.ofNullable(instant(rs, "waiting_since")), rolloutId, deviceId).stream().findFirst()
                .flatMap(o -> o);
    }

    @Override
    public synchronized List<Rollout> listRollouts() {
        return query("SELECT * FROM rollouts ORDER BY created_at DESC, id DESC", this::rollout);
    }

    @Override
    public synchronized List<Rollout> activeRollouts() {
        return query("SELECT * FROM rollouts WHERE state IN ('RUNNING','PAUSED','ROLLING_BACK') ORDER BY created_at",
                this::rollout);
    }

    @Override
    public synchronized void appendAudit(AuditEntry e) {
        update("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?,?,?,?,?)",
                millis(e.at()), e.actor(), e.action(), e.subject(), e.detail());
    }

    @Override
    public synchronized int pruneAudit(String action, Instant before) {
        return update("DELETE FROM audit WHERE action = ? AND at < ?", action, millis(before));
    }

    @Override
    public synchronized List<AuditEntry> audit(int limit) {
        return query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", rs -> new AuditEntry(instant(rs, "at"),
                rs.getString("actor"), rs.getString("action"), rs.getString("subject"), rs.getString("detail")), limit);
    }

    @Override
    public synchronized List<AuditEntry> auditAbout(String who, int limit) {
        return query("SELECT * FROM audit WHERE subject = ? OR actor = ? ORDER BY id DESC LIMIT ?", this::auditEntry,
                who, who, limit);
    }

    @Override
    public synchronized List<AuditEntry> auditByAction(String action, Instant since) {
        return query("SELECT * FROM audit WHERE action = ? AND at >= ? ORDER BY id", this::auditEntry, action, millis(since));
    }

    private AuditEntry auditEntry(ResultSet rs) throws SQLException {
        return new AuditEntry(instant(rs, "at"), rs.getString("actor"), rs.getString("action"), rs.getString("subject"),
                rs.getString("detail"));
    }

    @Override
    public synchronized void close() {
        try {
            for (PreparedStatement ps : statements.values()) {
                ps.close();
            }
            statements.clear();
            connection.close();
        } catch (SQLException e) {
            throw new StoreException("cannot close the store: " + e.getMessage(), e);
        }
    }

    private Device device(ResultSet rs) throws SQLException {
        return new Device(rs.getString("id"), read(rs.getString("labels"), new TypeReference<Map<String, String>>() { }),
                read(rs.getString("groups_json"), new TypeReference<List<String>>() { }), instant(rs, "enrolled_at"),
                rs.getInt("online") == 1, instant(rs, "last_seen"), rs.getString("platform"));
    }

    private Release release(ResultSet rs) throws SQLException {
        return new Release(rs.getString("app"), rs.getString("version"), instant(rs, "created_at"),
                read(rs.getString("images"), new TypeReference<List<ReleaseImage>>() { }),
                read(rs.getString("spec"), new TypeReference<ReleaseSpec>() { }));
    }

    private Rollout rollout(ResultSet rs) throws SQLException {
        String id = rs.getString("id");
        Map<String, Object> s = read(rs.getString("strategy"), new TypeReference<Map<String, Object>>() { });
        RolloutStrategy strategy = RolloutStrategy.parse((String) s.get("waves"), (String) s.get("soak"),
                (String) s.get("maxFailures"), (String) s.get("onFailure"), (String) s.get("deviceTimeout"),
                (Boolean) s.get("approveEachWave"), (Boolean) s.get("offlineCountsAsFailure"), (Boolean) s.get("static"),
                (Boolean) s.get("rollback"), (String) s.get("emergency"));
        List<RolloutDevice> devices = query("SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY device_id",
                d -> new RolloutDevice(d.getString("device_id"), d.getInt("wave"),
                        d.getString("previous") == null ? null : read(d.getString("previous"), new TypeReference<DesiredApp>() { }),
                        RolloutDeviceState.valueOf(d.getString("state")), d.getLong("stage_seq"), d.getLong("activation_seq"),
                        d.getLong("rollback_seq"), instant(d, "waiting_since"), d.getString("reason"), d.getString("message")),
                id);
        devices.forEach(d -> d.saved(d.changes())); // as stored
        return new Rollout(id, rs.getString("app"), rs.getString("version"), rs.getString("target"), strategy,
                instant(rs, "created_at"), RolloutState.valueOf(rs.getString("state")), rs.getString("reason"),
                instant(rs, "updated_at"), rs.getInt("current_wave"), WaveState.valueOf(rs.getString("wave_state")),
                instant(rs, "wave_changed_at"), rs.getInt("tolerated_failures"), devices);
    }

    private static Map<String, Object> strategyFields(RolloutStrategy s) {
        Map<String, Object> fields = new java.util.LinkedHashMap<>();
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
        return fields;
    }

    private interface RowMapper<T> {
        T map(ResultSet rs) throws SQLException;
    }

    private <T> List<T> query(String sql, RowMapper<T> mapper, Object... args) {
        // queries get a fresh statement: a kept one can hold its read snapshot open after the last row (SQLite
        // then refuses this connection's next write with SQLITE_BUSY once another connection has written)
        try (PreparedStatement ps = bind(connection.prepareStatement(sql), args); ResultSet rs = ps.executeQuery()) {
            List<T> rows = new ArrayList<>();
            while (rs.next()) {
                rows.add(mapper.map(rs));
            }
            return rows;
        } catch (SQLException e) {
            throw new StoreException("query failed: " + e.getMessage(), e);
        }
    }

    private int update(String sql, Object... args) {
        try {
            return prepare(sql, args).executeUpdate();
        } catch (SQLException e) {
            throw new StoreException("update failed: " + e.getMessage(), e);
        }
    }

    /**
     * Write statements are compiled once and kept: compiling costs more than running most of them
     * (this doubled status ingest). Callers hold the lock.
     */
    private PreparedStatement prepare(String sql, Object... args) throws SQLException {
        PreparedStatement ps = statements.get(sql);
        if (ps == null) {
            ps = connection.prepareStatement(sql);
            statements.put(sql, ps);
        }
        ps.clearParameters();
        return bind(ps, args);
    }

    private static PreparedStatement bind(PreparedStatement ps, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            ps.setObject(i + 1, args[i]);
        }
        return ps;
    }

    private static Long millis(Instant t) {
        return t == null ? null : t.toEpochMilli();
    }

    private static Instant instant(ResultSet rs, String column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : Instant.ofEpochMilli(v);
    }

    private String write(Object value) {
        try {
            return json.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new StoreException("cannot encode " + value.getClass().getSimpleName() + ": " + e.getMessage(), e);
        }
    }

    private <T> T read(String text, TypeReference<T> type) {
        try {
            return json.readValue(text, type);
        } catch (JsonProcessingException e) {
            throw new StoreException("cannot decode stored JSON: " + e.getMessage(), e);
        }
    }
}
