package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.Rollout;

import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@link FleetStore} over JDBC: one repository per role ({@link JdbcRollouts}, {@link JdbcReleases},
 * {@link JdbcDevices}, {@link JdbcDesiredStates}, {@link JdbcAudit}, {@link JdbcLeases}) over one
 * {@link JdbcSession} (one connection, serialized access, transactions and "after commit"), with the
 * same SQL for every database but for the few words a {@link Dialect} fills in (column types, the
 * audit key). Upserts are written {@code INSERT ... ON CONFLICT ... DO UPDATE}, which SQLite (3.24+)
 * and PostgreSQL share. {@link SqliteFleetStore} is the embedded default, {@link PostgresFleetStore}
 * the one several orchestrators share.
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

    private final Dialect dialect;
    private final JdbcSession session;
    private final JdbcRollouts rollouts;
    private final JdbcReleases releases;
    private final JdbcDevices devices;
    private final JdbcDesiredStates desired;
    private final JdbcAudit audit;
    private final JdbcLeases leases;
    private final JdbcOperators operators;
    private final JdbcWebhooks webhooks;
    private final JdbcInstallTokens installTokens;

    /**
     * Connects, then creates or migrates the schema; {@code description} names the store in errors
     * and logs (never a password).
     */
    JdbcFleetStore(Dialect dialect, JdbcSession.ConnectionSource source, String description) {
        this.dialect = dialect;
        this.session = open(dialect, source, description, this::prepareSchema);
        this.rollouts = new JdbcRollouts(session);
        this.releases = new JdbcReleases(session);
        this.devices = new JdbcDevices(session);
        this.desired = new JdbcDesiredStates(session);
        this.audit = new JdbcAudit(session);
        this.leases = new JdbcLeases(session);
        this.operators = new JdbcOperators(session);
        this.webhooks = new JdbcWebhooks(session);
        this.installTokens = new JdbcInstallTokens(session);
    }

    private static JdbcSession open(Dialect dialect, JdbcSession.ConnectionSource source, String description,
                                    FleetSchema.Preparation preparation) {
        JdbcSession session = null;
        try {
            session = new JdbcSession(source, description);
            synchronized (session) {
                FleetSchema.migrate(session.connection(), dialect, preparation);
            }
            return session;
        } catch (SQLException e) {
            if (session != null) {
                session.close();
            }
            throw new StoreException("cannot open the store " + description + ": " + e.getMessage(), e);
        }
    }

    /** Runs before the schema is created, in the same transaction (e.g. to serialize concurrent first starts). */
    protected void prepareSchema(Statement s) throws SQLException {
    }

    /** The dialect this store speaks. */
    public Dialect dialect() {
        return dialect;
    }

    // ---- transactions ----

    @Override
    public void inTransaction(Runnable work) {
        session.inTransaction(work);
    }

    @Override
    public void afterCommit(Runnable action) {
        session.afterCommit(action);
    }

    @Override
    public void onRefusedTransaction(Runnable listener) {
        session.onFailure(listener);
    }

    @Override
    public java.util.Optional<String> writesRefused() {
        return session.writesRefused();
    }

    /** What its errors say of why the store may refuse writes (see {@link JdbcSession#explainFailuresWith}). */
    protected void explainFailuresWith(java.util.function.Supplier<String> explanation) {
        session.explainFailuresWith(explanation);
    }

    // ---- webhooks ----

    @Override
    public void insertWebhook(dev.turnout.orchestrator.domain.Webhook webhook) {
        webhooks.insertWebhook(webhook);
    }

    @Override
    public Optional<dev.turnout.orchestrator.domain.Webhook> findWebhook(String id) {
        return webhooks.findWebhook(id);
    }

    @Override
    public List<dev.turnout.orchestrator.domain.Webhook> listWebhooks() {
        return webhooks.listWebhooks();
    }

    @Override
    public boolean deleteWebhook(String id) {
        return webhooks.deleteWebhook(id);
    }

    @Override
    public void appendDelivery(dev.turnout.orchestrator.domain.WebhookDelivery delivery) {
        webhooks.appendDelivery(delivery);
    }

    @Override
    public List<dev.turnout.orchestrator.domain.WebhookDelivery> deliveries(String webhookId, int limit) {
        return webhooks.deliveries(webhookId, limit);
    }

    // ---- rollouts ----

    @Override
    public void saveRollout(Rollout rollout) {
        rollouts.saveRollout(rollout);
    }

    @Override
    public Optional<Rollout> findRollout(String id) {
        return rollouts.findRollout(id);
    }

    @Override
    public List<Rollout> listRollouts() {
        return rollouts.listRollouts();
    }

    @Override
    public List<Rollout> activeRollouts() {
        return rollouts.activeRollouts();
    }

    @Override
    public List<String> activeRolloutIds() {
        return rollouts.activeRolloutIds();
    }

    // ---- releases and artifacts ----

    @Override
    public void saveArtifact(Artifact artifact) {
        releases.saveArtifact(artifact);
    }

    @Override
    public Optional<Artifact> findArtifact(String digest) {
        return releases.findArtifact(digest);
    }

    @Override
    public void insertRelease(Release release) {
        releases.insertRelease(release);
    }

    @Override
    public Optional<Release> findRelease(String app, String version) {
        return releases.findRelease(app, version);
    }

    @Override
    public List<Release> listReleases() {
        return releases.listReleases();
    }

    @Override
    public Optional<String> findFloor(String app) {
        return releases.findFloor(app);
    }

    @Override
    public void saveFloor(String app, String version, Instant at, String actor) {
        releases.saveFloor(app, version, at, actor);
    }

    // ---- devices and their apps ----

    @Override
    public void insertDevice(Device device) {
        devices.insertDevice(device);
    }

    @Override
    public boolean updateDeviceTags(String id, Map<String, String> labels, List<String> groups) {
        return devices.updateTags(id, labels, groups);
    }

    @Override
    public Optional<Device> findDevice(String id) {
        return devices.findDevice(id);
    }

    @Override
    public List<Device> listDevices() {
        return devices.listDevices();
    }

    @Override
    public void updatePresence(String deviceId, boolean online, Instant lastSeen, String platform, String agentVersion) {
        devices.updatePresence(deviceId, online, lastSeen, platform, agentVersion);
    }

    @Override
    public boolean saveDeviceApp(String deviceId, DeviceApp app) {
        return devices.saveDeviceApp(deviceId, app);
    }

    @Override
    public List<DeviceApp> deviceApps(String deviceId) {
        return devices.deviceApps(deviceId);
    }

    @Override
    public Map<String, DeviceApp> unsettledDeviceApps(String rolloutId, String app) {
        return devices.unsettledDeviceApps(rolloutId, app);
    }

    // ---- desired states ----

    @Override
    public Optional<DesiredRecord> findDesired(String deviceId) {
        return desired.findDesired(deviceId);
    }

    @Override
    public void saveDesired(String deviceId, DesiredRecord record) {
        desired.saveDesired(deviceId, record);
    }

    @Override
    public List<String> devicesWithDesired() {
        return desired.devicesWithDesired();
    }

    // ---- audit ----

    @Override
    public void appendAudit(AuditEntry entry) {
        audit.appendAudit(entry);
    }

    @Override
    public int pruneAudit(String action, Instant before) {
        return audit.pruneAudit(action, before);
    }

    @Override
    public List<AuditEntry> audit(int limit) {
        return audit.audit(limit);
    }

    @Override
    public List<AuditEntry> auditAbout(String who, int limit) {
        return audit.auditAbout(who, limit);
    }

    @Override
    public List<AuditEntry> auditByAction(String action, Instant since) {
        return audit.auditByAction(action, since);
    }

    // ---- operator accounts ----

    @Override
    public void insertOperator(dev.turnout.orchestrator.domain.OperatorAccount account) {
        operators.insertOperator(account);
    }

    @Override
    public Optional<dev.turnout.orchestrator.domain.OperatorAccount> findOperator(String name) {
        return operators.findOperator(name);
    }

    @Override
    public List<dev.turnout.orchestrator.domain.OperatorAccount> listOperators() {
        return operators.listOperators();
    }

    @Override
    public boolean updateOperatorPassword(String name, String passwordHash) {
        return operators.updateOperatorPassword(name, passwordHash);
    }

    @Override
    public boolean deleteOperator(String name) {
        return operators.deleteOperator(name);
    }

    @Override
    public void insertOperatorToken(String tokenHash, String operator, Instant createdAt, Instant expiresAt) {
        operators.insertOperatorToken(tokenHash, operator, createdAt, expiresAt);
    }

    @Override
    public Optional<dev.turnout.orchestrator.domain.OperatorAccount> operatorByToken(String tokenHash, Instant now) {
        return operators.operatorByToken(tokenHash, now);
    }

    @Override
    public boolean deleteOperatorToken(String tokenHash, Instant now) {
        return operators.deleteOperatorToken(tokenHash, now);
    }

    // ---- install tokens ----

    @Override
    public void insertInstallToken(InstallToken token, Instant forgetBefore) {
        installTokens.insertInstallToken(token, forgetBefore);
    }

    @Override
    public Optional<InstallToken> findInstallToken(String tokenHash) {
        return installTokens.findInstallToken(tokenHash);
    }

    @Override
    public boolean spendInstallToken(String tokenHash, Instant now) {
        return installTokens.spendInstallToken(tokenHash, now);
    }

    // ---- leases and forwarded reports ----

    @Override
    public boolean claimRollout(String rolloutId, String owner, String ownerUrl, Instant now, Instant until) {
        return leases.claimRollout(rolloutId, owner, ownerUrl, now, until);
    }

    @Override
    public boolean holdsRollout(String rolloutId, String owner, Instant now, Instant until) {
        return leases.holdsRollout(rolloutId, owner, now, until);
    }

    @Override
    public void releaseRollout(String rolloutId, String owner) {
        leases.releaseRollout(rolloutId, owner);
    }

    @Override
    public Optional<RolloutLease> rolloutLease(String rolloutId) {
        return leases.rolloutLease(rolloutId);
    }

    @Override
    public void forwardReport(String rolloutId, String deviceId, String kind, byte[] payload, Instant receivedAt) {
        synchronized (session) {
            leases.forwardReport(rolloutId, deviceId, kind, payload, receivedAt);
            notifyForwarded(rolloutId);
        }
    }

    /** Tells the other orchestrators that a report waits for them; nothing by default (they poll). */
    protected void notifyForwarded(String rolloutId) {
    }

    /** Runs a statement of a subclass on the store's connection, in the current transaction if there is one. */
    protected int execute(String sql, Object... args) {
        return session.update(sql, args);
    }

    @Override
    public List<ForwardedReport> takeForwardedReports(Collection<String> rolloutIds, int limit) {
        return leases.takeForwardedReports(rolloutIds, limit);
    }

    @Override
    public void close() {
        session.close();
    }
}
