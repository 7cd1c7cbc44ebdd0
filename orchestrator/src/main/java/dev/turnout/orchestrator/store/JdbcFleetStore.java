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

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@link FleetStore} over JDBC: one connection, serialized access, the same SQL for every database
 * but for the few words a {@link Dialect} fills in (column types, the audit key). Upserts are
 * written {@code INSERT ... ON CONFLICT ... DO UPDATE}, which SQLite (3.24+) and PostgreSQL share.
 * {@link SqliteFleetStore} is the embedded default, {@link PostgresFleetStore} the one several
 * orchestrators share.
 */
public class JdbcFleetStore implements FleetStore {

    /** What differs between the databases: a few type names in the schema. */
    public enum Dialect {
        SQLITE("INTEGER", "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        POSTGRESQL("BIGINT", "BYTEA", "BIGSERIAL PRIMARY KEY");

        private final String longType;
        private final String blobType;
        private final String serialKey;

        Dialect(String longType, String blobType, String serialKey) {
            this.longType = longType;
            this.blobType = blobType;
            this.serialKey = serialKey;
        }

        String ddl(String template) {
            return template.replace("{long}", longType).replace("{blob}", blobType).replace("{serial}", serialKey);
        }
    }

    private static final Logger LOG = LoggerFactory.getLogger(JdbcFleetStore.class);
    private static final int SCHEMA_VERSION = 3;
    /**
     * Version 1: the single-orchestrator tables; version 2 adds rollout leases and forwarded reports; version 3 what
     * identifies an artifact's image on either image store (platform, manifest digest, layers).
     */
    private static final String[] SCHEMA = {
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, labels TEXT NOT NULL, groups_json TEXT NOT NULL,"
                + " enrolled_at {long} NOT NULL, online INTEGER NOT NULL DEFAULT 0, last_seen {long}, platform TEXT)",
        "CREATE TABLE IF NOT EXISTS device_apps (device_id TEXT NOT NULL, app TEXT NOT NULL, running_version TEXT,"
                + " version TEXT, state TEXT, reason TEXT, message TEXT, sequence {long} NOT NULL, updated_at {long} NOT NULL,"
                + " PRIMARY KEY (device_id, app))",
        "CREATE TABLE IF NOT EXISTS device_desired (device_id TEXT PRIMARY KEY, sequence {long} NOT NULL,"
                + " issued_at {long} NOT NULL, apps TEXT NOT NULL, envelope {blob} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS artifacts (digest TEXT PRIMARY KEY, size {long} NOT NULL, image_id TEXT NOT NULL,"
                + " image_ref TEXT, created_at {long} NOT NULL, platform TEXT, manifest_digest TEXT, diff_ids TEXT)",
        "CREATE TABLE IF NOT EXISTS releases (app TEXT NOT NULL, version TEXT NOT NULL, created_at {long} NOT NULL,"
                + " images TEXT NOT NULL, spec TEXT NOT NULL, PRIMARY KEY (app, version))",
        "CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL,"
                + " target TEXT NOT NULL, strategy TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, created_at {long} NOT NULL,"
                + " updated_at {long} NOT NULL, current_wave INTEGER NOT NULL, wave_state TEXT NOT NULL,"
                + " wave_changed_at {long}, tolerated_failures INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rollout_devices (rollout_id TEXT NOT NULL, device_id TEXT NOT NULL, wave INTEGER NOT NULL,"
                + " state TEXT NOT NULL, previous TEXT, stage_seq {long} NOT NULL, activation_seq {long} NOT NULL,"
                + " rollback_seq {long} NOT NULL, waiting_since {long}, reason TEXT, message TEXT,"
                + " PRIMARY KEY (rollout_id, device_id))",
        "CREATE TABLE IF NOT EXISTS audit (id {serial}, at {long} NOT NULL, actor TEXT NOT NULL,"
                + " action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT)",
        "CREATE INDEX IF NOT EXISTS rollouts_state ON rollouts (state)",
        "CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject)",
        "CREATE INDEX IF NOT EXISTS audit_action_at ON audit (action, at)",
        // version 2: several orchestrators on one store
        "CREATE TABLE IF NOT EXISTS rollout_leases (rollout_id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
                + " owner_url TEXT, expires_at {long} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS forwarded_reports (id {serial}, rollout_id TEXT NOT NULL, device_id TEXT NOT NULL,"
                + " kind TEXT NOT NULL, payload {blob} NOT NULL, received_at {long} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS forwarded_reports_rollout ON forwarded_reports (rollout_id, id)",
    };

    /** Opens a new connection to the database (also after the old one broke). */
    @FunctionalInterface
    public interface ConnectionSource {
        Connection open() throws SQLException;
    }

    private final Dialect dialect;
    private final ConnectionSource source;
    private final String description;
    /** The one connection; null after it broke, until the next statement opens a new one. Guarded by this. */
    private Connection connection;
    private final ObjectMapper json = new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /**
     * Connects, then creates or migrates the schema; {@code description} names the store in errors
     * and logs (never a password).
     */
    protected JdbcFleetStore(Dialect dialect, ConnectionSource source, String description) {
        this.dialect = dialect;
        this.source = source;
        this.description = description;
        try {
            Connection c = source.open();
            this.connection = c;
            migrate(c);
        } catch (SQLException e) {
            close();
            throw new StoreException("cannot open the store " + description + ": " + e.getMessage(), e);
        }
    }

    private void migrate(Connection c) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            prepareSchema(s);
            for (String ddl : SCHEMA) {
                s.execute(dialect.ddl(ddl));
            }
            int version = 0;
            try (ResultSet rs = s.executeQuery("SELECT MAX(version) FROM schema_version")) {
                if (rs.next()) {
                    version = rs.getInt(1);
                }
            }
            if (version > SCHEMA_VERSION) {
                throw new SQLException("the store has schema version " + version + ", newer than this orchestrator's "
                        + SCHEMA_VERSION + "; upgrade the orchestrator");
            }
            for (String column : new String[] {"platform", "manifest_digest", "diff_ids"}) { // version 3, on an older table
                if (!hasColumn(c, "artifacts", column)) {
                    s.execute("ALTER TABLE artifacts ADD COLUMN " + column + " TEXT");
                }
            }
            if (version == 0) {
                s.execute("INSERT INTO schema_version (version) VALUES (" + SCHEMA_VERSION + ")");
            } else if (version < SCHEMA_VERSION) {
                s.execute("UPDATE schema_version SET version = " + SCHEMA_VERSION);
            }
            c.commit();
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    private static boolean hasColumn(Connection c, String table, String column) throws SQLException {
        try (ResultSet columns = c.getMetaData().getColumns(null, null, table, column)) {
            return columns.next();
        }
    }

    /** Runs before the schema is created, in the same transaction (e.g. to serialize concurrent first starts). */
    protected void prepareSchema(Statement s) throws SQLException {
    }

    /** The dialect this store speaks. */
    public Dialect dialect() {
        return dialect;
    }

    /** The connection, opened again if the last one broke. Callers hold the lock. */
    private Connection connection() throws SQLException {
        if (connection == null) {
            if (transactionDepth > 0) {
                throw new SQLException("the connection to " + description + " broke in a transaction", "08003");
            }
            connection = source.open();
            LOG.info("reconnected to the store {}", description);
        }
        return connection;
    }

    /** After a connection failure, drops the connection: the next statement opens a new one. */
    private StoreException failed(String what, SQLException e) {
        String state = e.getSQLState();
        boolean broken = state != null && state.startsWith("08");
        try {
            broken |= connection != null && connection.isClosed();
        } catch (SQLException ignored) {
            broken = true;
        }
        if (broken && connection != null) {
            LOG.warn("lost the connection to the store {}: {}", description, e.getMessage());
            for (PreparedStatement ps : statements.values()) {
                try {
                    ps.close();
                } catch (SQLException ignored) {
                    // the connection is gone anyway
                }
            }
            statements.clear();
            try {
                connection.close();
            } catch (SQLException ignored) {
                // already broken
            }
            connection = null;
        }
        return new StoreException(what + " failed: " + e.getMessage(), e);
    }

    @Override
    public synchronized void insertDevice(Device d) {
        if (findDevice(d.id()).isPresent()) {
            throw new ConflictException("device " + d.id() + " is already enrolled");
        }
        // ON CONFLICT: another orchestrator on the same store may enroll the same id at the same moment
        if (update("INSERT INTO devices (id, labels, groups_json, enrolled_at, online, last_seen, platform) VALUES (?,?,?,?,?,?,?)"
                        + " ON CONFLICT (id) DO NOTHING",
                d.id(), write(d.labels()), write(d.groups()), millis(d.enrolledAt()), d.online() ? 1 : 0,
                millis(d.lastSeen()), d.platform()) == 0) {
            throw new ConflictException("device " + d.id() + " is already enrolled");
        }
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
        update("INSERT INTO device_apps (device_id, app, running_version, version, state, reason, message, sequence,"
                        + " updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (device_id, app) DO UPDATE SET"
                        + " running_version = excluded.running_version, version = excluded.version, state = excluded.state,"
                        + " reason = excluded.reason, message = excluded.message, sequence = excluded.sequence,"
                        + " updated_at = excluded.updated_at",
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
        // fencing by sequence: a decision never replaces one with the same or a higher sequence (e.g. made by
        // another orchestrator meanwhile); the transaction that tried it rolls back and publishes nothing
        if (update("INSERT INTO device_desired (device_id, sequence, issued_at, apps, envelope) VALUES (?,?,?,?,?)"
                        + " ON CONFLICT (device_id) DO UPDATE SET sequence = excluded.sequence, issued_at = excluded.issued_at,"
                        + " apps = excluded.apps, envelope = excluded.envelope WHERE device_desired.sequence < excluded.sequence",
                deviceId, d.sequence(), millis(d.issuedAt()), write(d.apps()), d.envelope()) == 0) {
            throw new ConflictException("the desired state of " + deviceId + " has a sequence >= " + d.sequence()
                    + " already: another orchestrator decided for it");
        }
    }

    @Override
    public synchronized List<String> devicesWithDesired() {
        return query("SELECT device_id FROM device_desired ORDER BY device_id", rs -> rs.getString(1));
    }

    @Override
    public synchronized void saveArtifact(Artifact a) {
        update("INSERT INTO artifacts (digest, size, image_id, image_ref, created_at, platform, manifest_digest, diff_ids)"
                        + " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (digest) DO NOTHING",
                a.digest(), a.size(), a.imageId(), a.imageRef(), System.currentTimeMillis(), a.platform(), a.manifestDigest(),
                a.diffIds().isEmpty() ? null : String.join(",", a.diffIds()));
    }

    @Override
    public synchronized Optional<Artifact> findArtifact(String digest) {
        return query("SELECT * FROM artifacts WHERE digest = ?", rs -> new Artifact(rs.getString("digest"),
                rs.getLong("size"), rs.getString("image_id"), rs.getString("image_ref"), rs.getString("platform"),
                rs.getString("manifest_digest"), rs.getString("diff_ids") == null ? List.of() : List.of(rs.getString("diff_ids").split(","))),
                digest).stream().findFirst();
    }

    @Override
    public synchronized void insertRelease(Release r) {
        if (findRelease(r.app(), r.version()).isPresent()) {
            throw new ConflictException("release " + r.key() + " exists already");
        }
        if (update("INSERT INTO releases (app, version, created_at, images, spec) VALUES (?,?,?,?,?)"
                        + " ON CONFLICT (app, version) DO NOTHING",
                r.app(), r.version(), millis(r.createdAt()), write(r.images()), write(r.spec())) == 0) {
            throw new ConflictException("release " + r.key() + " exists already");
        }
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
                Connection c = connection();
                c.setAutoCommit(false);
                transactionDepth++;
                try {
                    work.run();
                    c.commit();
                    writtenInTransaction.forEach(RolloutDevice::saved);
                } catch (RuntimeException | Error e) {
                    quietRollback(c);
                    afterCommit.clear();
                    throw e;
                } finally {
                    writtenInTransaction.clear();
                    transactionDepth--;
                    if (connection == c) {
                        c.setAutoCommit(true);
                    }
                }
            } catch (SQLException e) {
                afterCommit.clear();
                throw failed("transaction", e);
            }
            committed = List.copyOf(afterCommit);
            afterCommit.clear();
        }
        committed.forEach(Runnable::run); // outside the lock: publishing must not hold up readers
    }

    private void quietRollback(Connection c) {
        try {
            if (!c.isClosed()) {
                c.rollback();
            }
        } catch (SQLException e) {
            LOG.warn("rollback on the store {} failed: {}", description, e.getMessage());
        }
    }

    @Override
    public synchronized void saveRollout(Rollout r) {
        inTransaction(() -> writeRollout(r));
    }

    private void writeRollout(Rollout r) {
        update("INSERT INTO rollouts (id, app, version, target, strategy, state, reason, created_at, updated_at,"
                        + " current_wave, wave_state, wave_changed_at, tolerated_failures) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                        + " ON CONFLICT (id) DO UPDATE SET app = excluded.app, version = excluded.version, target = excluded.target,"
                        + " strategy = excluded.strategy, state = excluded.state, reason = excluded.reason,"
                        + " created_at = excluded.created_at, updated_at = excluded.updated_at, current_wave = excluded.current_wave,"
                        + " wave_state = excluded.wave_state, wave_changed_at = excluded.wave_changed_at,"
                        + " tolerated_failures = excluded.tolerated_failures",
                r.id(), r.app(), r.version(), r.target(), strategyJson(r.strategy()), r.state().name(),
                r.reason(), millis(r.createdAt()), millis(r.updatedAt()), r.currentWave(), r.currentWaveState().name(),
                millis(r.waveChangedAt()), r.toleratedFailures());
        // only the devices that changed: a status event of one device must not rewrite a 10,000-device rollout
        for (RolloutDevice d : r.unsavedDevices()) {
            long upTo = d.changes();
            Long written = writtenInTransaction.put(d, upTo);
            if (written != null && written == upTo) {
                continue;
            }
            update("INSERT INTO rollout_devices (rollout_id, device_id, wave, state, previous, stage_seq,"
                            + " activation_seq, rollback_seq, waiting_since, reason, message) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                            + " ON CONFLICT (rollout_id, device_id) DO UPDATE SET wave = excluded.wave, state = excluded.state,"
                            + " previous = excluded.previous, stage_seq = excluded.stage_seq,"
                            + " activation_seq = excluded.activation_seq, rollback_seq = excluded.rollback_seq,"
                            + " waiting_since = excluded.waiting_since, reason = excluded.reason, message = excluded.message",
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
    public synchronized List<String> activeRolloutIds() {
        return query("SELECT id FROM rollouts WHERE state IN ('RUNNING','PAUSED','ROLLING_BACK') ORDER BY created_at",
                rs -> rs.getString(1));
    }

    @Override
    public synchronized Map<String, DeviceApp> unsettledDeviceApps(String rolloutId, String app) {
        Map<String, DeviceApp> apps = new java.util.HashMap<>();
        query("SELECT a.* FROM device_apps a JOIN rollout_devices d ON d.device_id = a.device_id"
                        + " WHERE d.rollout_id = ? AND a.app = ? AND d.state IN ('PENDING','STAGED','ACTIVATING','ROLLING_BACK')",
                rs -> apps.put(rs.getString("device_id"), new DeviceApp(rs.getString("app"), rs.getString("running_version"),
                        rs.getString("version"), rs.getString("state"), rs.getString("reason"), rs.getString("message"),
                        rs.getLong("sequence"), instant(rs, "updated_at"))), rolloutId, app);
        return apps;
    }

    @Override
    public synchronized boolean claimRollout(String rolloutId, String owner, String ownerUrl, Instant now, Instant until) {
        // one statement: PostgreSQL locks the row and re-checks the WHERE on its latest version, so of two
        // orchestrators claiming an expired lease at once exactly one gets it; a holder's renewal keeps the row
        // locked until its transaction ends, so nobody takes the lease in the middle of a decision
        return update("INSERT INTO rollout_leases (rollout_id, owner, owner_url, expires_at) VALUES (?,?,?,?)"
                        + " ON CONFLICT (rollout_id) DO UPDATE SET owner = excluded.owner, owner_url = excluded.owner_url,"
                        + " expires_at = excluded.expires_at"
                        + " WHERE rollout_leases.owner = excluded.owner OR rollout_leases.expires_at < ?",
                rolloutId, owner, ownerUrl, millis(until), millis(now)) == 1;
    }

    @Override
    public synchronized boolean holdsRollout(String rolloutId, String owner, Instant now, Instant until) {
        return update("UPDATE rollout_leases SET expires_at = ? WHERE rollout_id = ? AND owner = ? AND expires_at >= ?",
                millis(until), rolloutId, owner, millis(now)) == 1;
    }

    @Override
    public synchronized void releaseRollout(String rolloutId, String owner) {
        update("DELETE FROM rollout_leases WHERE rollout_id = ? AND owner = ?", rolloutId, owner);
    }

    @Override
    public synchronized Optional<RolloutLease> rolloutLease(String rolloutId) {
        return query("SELECT * FROM rollout_leases WHERE rollout_id = ?", rs -> new RolloutLease(rs.getString("rollout_id"),
                rs.getString("owner"), rs.getString("owner_url"), instant(rs, "expires_at")), rolloutId).stream().findFirst();
    }

    @Override
    public synchronized void forwardReport(String rolloutId, String deviceId, String kind, byte[] payload, Instant receivedAt) {
        update("INSERT INTO forwarded_reports (rollout_id, device_id, kind, payload, received_at) VALUES (?,?,?,?,?)",
                rolloutId, deviceId, kind, payload, millis(receivedAt));
        notifyForwarded(rolloutId);
    }

    /** Tells the other orchestrators that a report waits for them; nothing by default (they poll). */
    protected void notifyForwarded(String rolloutId) {
    }

    /** Runs a statement of a subclass on the store's connection, in the current transaction if there is one. */
    protected synchronized int execute(String sql, Object... args) {
        return update(sql, args);
    }

    @Override
    public synchronized List<ForwardedReport> takeForwardedReports(java.util.Collection<String> rolloutIds, int limit) {
        if (rolloutIds.isEmpty()) {
            return List.of();
        }
        List<ForwardedReport> taken = new ArrayList<>();
        inTransaction(() -> {
            for (String id : rolloutIds) {
                List<ForwardedReport> reports = query("SELECT * FROM forwarded_reports WHERE rollout_id = ? ORDER BY id LIMIT ?",
                        rs -> new ForwardedReport(rs.getLong("id"), rs.getString("rollout_id"), rs.getString("device_id"),
                                rs.getString("kind"), rs.getBytes("payload"), instant(rs, "received_at")), id, limit);
                if (!reports.isEmpty()) {
                    update("DELETE FROM forwarded_reports WHERE rollout_id = ? AND id <= ?", id,
                            reports.get(reports.size() - 1).id());
                    taken.addAll(reports);
                }
            }
        });
        return taken;
    }

    @Override
    public synchronized void close() {
        try {
            for (PreparedStatement ps : statements.values()) {
                ps.close();
            }
            statements.clear();
            if (connection != null) {
                connection.close();
                connection = null;
            }
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

    /** A strategy and its JSON. */
    private record StrategyJson(RolloutStrategy strategy, String json) {
    }

    /** The last strategy written, with its JSON (one reference: a reader never pairs one with another's JSON). */
    private volatile StrategyJson lastStrategy = new StrategyJson(null, null);

    /** A rollout is saved on every report and its strategy never changes: its JSON is made once. */
    private String strategyJson(RolloutStrategy s) {
        StrategyJson last = lastStrategy;
        if (last.strategy() != s) {
            last = new StrategyJson(s, write(strategyFields(s)));
            lastStrategy = last;
        }
        return last.json();
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
        try (PreparedStatement ps = bind(connection().prepareStatement(sql), args); ResultSet rs = ps.executeQuery()) {
            List<T> rows = new ArrayList<>();
            while (rs.next()) {
                rows.add(mapper.map(rs));
            }
            return rows;
        } catch (SQLException e) {
            throw failed("query", e);
        }
    }

    private int update(String sql, Object... args) {
        try {
            return prepare(sql, args).executeUpdate();
        } catch (SQLException e) {
            throw failed("update", e);
        }
    }

    /**
     * Write statements are compiled once and kept: compiling costs more than running most of them
     * (this doubled status ingest). Callers hold the lock.
     */
    private PreparedStatement prepare(String sql, Object... args) throws SQLException {
        PreparedStatement ps = statements.get(sql);
        if (ps == null) {
            ps = connection().prepareStatement(sql);
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
