package dev.turnout.orchestrator.store;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The tables of a fleet store and their migration, in one transaction on start. Version 1: the
 * single-orchestrator tables; version 2 adds rollout leases and forwarded reports; version 3 what
 * identifies an artifact's image on either image store (platform, manifest digest, layers); version 4
 * each device's report number per app, so an older report never replaces a newer one; version 5 the apps'
 * rollback floors (a new table: nothing to migrate); version 6 operator accounts and their API tokens (new tables); version 7 webhooks and
 * their delivery log (new tables); version 8 the Compose file of a multi-container release
 * (a column of releases); version 9 the edge daemon version each device last named in its presence (a column of
 * devices); version 10 one-time install tokens (a new table: only their hashes, the config sealed
 * under a key derived from the token); version 11 the last lines of a failed container's log, with the app's
 * reported state and with the failure's audit entry (a column of device_apps and one of audit); version 12 the bytes
 * each device of a rollout moved to stage its release and the full size of its archives (two columns of rollout_devices);
 * version 13 the files (blobs) each artifact is made of, which devices fetch one by one (a column of artifacts; null:
 * only whole).
 */
final class FleetSchema {

    static final int VERSION = 13;

    private static final String[] TABLES = {
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, labels TEXT NOT NULL, groups_json TEXT NOT NULL,"
                + " enrolled_at {long} NOT NULL, online INTEGER NOT NULL DEFAULT 0, last_seen {long}, platform TEXT,"
                + " agent_version TEXT)",
        "CREATE TABLE IF NOT EXISTS device_apps (device_id TEXT NOT NULL, app TEXT NOT NULL, running_version TEXT,"
                + " version TEXT, state TEXT, reason TEXT, message TEXT, sequence {long} NOT NULL, updated_at {long} NOT NULL,"
                + " report_seq {long} NOT NULL DEFAULT 0, PRIMARY KEY (device_id, app))",
        "CREATE TABLE IF NOT EXISTS device_desired (device_id TEXT PRIMARY KEY, sequence {long} NOT NULL,"
                + " issued_at {long} NOT NULL, apps TEXT NOT NULL, envelope {blob} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS artifacts (digest TEXT PRIMARY KEY, size {long} NOT NULL, image_id TEXT NOT NULL,"
                + " image_ref TEXT, created_at {long} NOT NULL, platform TEXT, manifest_digest TEXT, diff_ids TEXT, blobs TEXT)",
        "CREATE TABLE IF NOT EXISTS releases (app TEXT NOT NULL, version TEXT NOT NULL, created_at {long} NOT NULL,"
                + " images TEXT NOT NULL, spec TEXT NOT NULL, PRIMARY KEY (app, version))",
        "CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, app TEXT NOT NULL, version TEXT NOT NULL,"
                + " target TEXT NOT NULL, strategy TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, created_at {long} NOT NULL,"
                + " updated_at {long} NOT NULL, current_wave INTEGER NOT NULL, wave_state TEXT NOT NULL,"
                + " wave_changed_at {long}, tolerated_failures INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rollout_devices (rollout_id TEXT NOT NULL, device_id TEXT NOT NULL, wave INTEGER NOT NULL,"
                + " state TEXT NOT NULL, previous TEXT, stage_seq {long} NOT NULL, activation_seq {long} NOT NULL,"
                + " rollback_seq {long} NOT NULL, waiting_since {long}, reason TEXT, message TEXT,"
                + " bytes_moved {long} NOT NULL DEFAULT 0, bytes_full {long} NOT NULL DEFAULT 0,"
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
        // version 5: rollback floors
        "CREATE TABLE IF NOT EXISTS app_floors (app TEXT PRIMARY KEY, version TEXT NOT NULL, set_at {long} NOT NULL,"
                + " set_by TEXT NOT NULL)",
        // version 6: operator accounts and their API tokens (only hashes of either)
        "CREATE TABLE IF NOT EXISTS operators (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,"
                + " created_at {long} NOT NULL, created_by TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS operator_tokens (token_hash TEXT PRIMARY KEY, operator TEXT NOT NULL,"
                + " created_at {long} NOT NULL, expires_at {long} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS operator_tokens_operator ON operator_tokens (operator)",
        // version 7: webhooks; the secret is kept in clear (it signs), like the signing key in the data directory
        "CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL,"
                + " secret TEXT NOT NULL, created_at {long} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS webhook_deliveries (id {serial}, webhook_id TEXT NOT NULL, delivery_id TEXT NOT NULL,"
                + " event TEXT NOT NULL, result TEXT NOT NULL, status_code INTEGER, error TEXT, attempts INTEGER NOT NULL,"
                + " duration_ms {long} NOT NULL, at {long} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id)",
        // version 10: one-time install tokens, by hash; the config (with the broker secret) sealed under the token
        "CREATE TABLE IF NOT EXISTS install_tokens (token_hash TEXT PRIMARY KEY, device_id TEXT NOT NULL,"
                + " sealed_config {blob} NOT NULL, config_sha256 TEXT NOT NULL, created_at {long} NOT NULL,"
                + " expires_at {long} NOT NULL, used_at {long})",
    };

    /** Runs before the schema is created, in the same transaction (e.g. to serialize concurrent first starts). */
    @FunctionalInterface
    interface Preparation {
        void prepare(Statement s) throws SQLException;
    }

    private FleetSchema() {
    }

    /** Creates the tables or migrates them to {@link #VERSION}; refuses a store of a newer version. */
    static void migrate(Connection c, JdbcFleetStore.Dialect dialect, Preparation preparation) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            preparation.prepare(s);
            for (String ddl : TABLES) {
                s.execute(dialect.ddl(ddl));
            }
            int version = 0;
            try (ResultSet rs = s.executeQuery("SELECT MAX(version) FROM schema_version")) {
                if (rs.next()) {
                    version = rs.getInt(1);
                }
            }
            if (version > VERSION) {
                throw new SQLException("the store has schema version " + version + ", newer than this orchestrator's "
                        + VERSION + "; upgrade the orchestrator");
            }
            for (String column : new String[] {"platform", "manifest_digest", "diff_ids"}) { // version 3, on an older table
                if (!hasColumn(c, "artifacts", column)) {
                    s.execute("ALTER TABLE artifacts ADD COLUMN " + column + " TEXT");
                }
            }
            if (!hasColumn(c, "device_apps", "report_seq")) { // version 4, on an older table
                s.execute(dialect.ddl("ALTER TABLE device_apps ADD COLUMN report_seq {long} NOT NULL DEFAULT 0"));
            }
            if (!hasColumn(c, "releases", "compose")) { // version 8: null for a single-container release
                s.execute("ALTER TABLE releases ADD COLUMN compose TEXT");
            }
            if (!hasColumn(c, "devices", "agent_version")) { // version 9: null until the device's next presence
                s.execute("ALTER TABLE devices ADD COLUMN agent_version TEXT");
            }
            for (String table : new String[] {"device_apps", "audit"}) { // version 11: null where no failure report carried a log
                if (!hasColumn(c, table, "log_tail")) {
                    s.execute("ALTER TABLE " + table + " ADD COLUMN log_tail TEXT");
                }
            }
            for (String column : new String[] {"bytes_moved", "bytes_full"}) { // version 12: 0 for rollouts before it
                if (!hasColumn(c, "rollout_devices", column)) {
                    s.execute(dialect.ddl("ALTER TABLE rollout_devices ADD COLUMN " + column + " {long} NOT NULL DEFAULT 0"));
                }
            }
            if (!hasColumn(c, "artifacts", "blobs")) { // version 13: null for an artifact stored before (offered only whole)
                s.execute("ALTER TABLE artifacts ADD COLUMN blobs TEXT");
            }
            if (version == 0) {
                s.execute("INSERT INTO schema_version (version) VALUES (" + VERSION + ")");
            } else if (version < VERSION) {
                s.execute("UPDATE schema_version SET version = " + VERSION);
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
}
