package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.backup.BackupManifest;
import dev.turnout.orchestrator.backup.DataBackup;
import dev.turnout.orchestrator.cluster.LeasedRollouts;
import dev.turnout.orchestrator.cluster.SingleOrchestrator;
import dev.turnout.orchestrator.enroll.FleetEnrollment;
import dev.turnout.orchestrator.http.ServerInfo;
import dev.turnout.orchestrator.logs.DeviceLogs;
import dev.turnout.orchestrator.mqtt.MqttFleetTransport;
import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.security.BasicCredentials;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.store.IdentityStore;
import dev.turnout.orchestrator.security.Keyring;
import dev.turnout.orchestrator.security.OperatorToken;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.security.TlsMaterial;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.orchestrator.store.PostgresFleetStore;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.orchestrator.webhook.RetryPolicy;
import dev.turnout.orchestrator.webhook.WebhookDispatcher;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.SigningKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.List;

/**
 * The orchestrator: HTTP API, rollout engine, store, MQTT transport and (unless an external broker
 * is given) an embedded MQTT broker, all in this process. {@link #start} starts them as parts, in
 * order, and {@link #close} stops them in reverse order; a part that does not start is named in
 * the exception and the parts started before it are stopped again.
 */
public final class TurnoutServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TurnoutServer.class);
    /** Version reported by {@code GET /api/v1/health}. */
    public static final String VERSION = "0.1.0";

    private final ServerParts parts;
    private final int httpPort;
    private final String brokerUrl;
    private final TlsMaterial tls;
    private final OperatorToken operatorToken;
    private final BrokerAccess access;
    private final ApiServer http;

    private TurnoutServer(ServerParts parts, ApiServer http, String brokerUrl, TlsMaterial tls, OperatorToken operatorToken,
                          BrokerAccess access) {
        this.parts = parts;
        this.http = http;
        this.httpPort = http.port();
        this.brokerUrl = brokerUrl;
        this.tls = tls;
        this.operatorToken = operatorToken;
        this.access = access;
    }

    /**
     * Starts everything and returns once the HTTP API listens and the MQTT client is connected.
     * Creates {@code signing.key} and {@code broker.secret} (the orchestrator's broker identity,
     * unless one is given) in the data directory on first start.
     */
    public static TurnoutServer start(ServerOptions options) throws Exception {
        return start(options, ClusterOptions.single());
    }

    /**
     * Starts an orchestrator on the store {@code cluster} names: with a shared (PostgreSQL) store
     * it is one of several instances (rollout leases, shared subscriptions, forwarded reports).
     */
    public static TurnoutServer start(ServerOptions options, ClusterOptions cluster) throws Exception {
        return start(options, cluster, RetryPolicy.DEFAULT);
    }

    /** Starts an orchestrator whose webhook deliveries follow {@code webhookPolicy} (tests shorten the retries). */
    public static TurnoutServer start(ServerOptions options, ClusterOptions cluster, RetryPolicy webhookPolicy) throws Exception {
        Clock clock = Clock.systemUTC();
        Topics topics = new Topics(options.topicPrefix());
        ServerParts parts = new ServerParts();
        try {
            Path data = parts.start("data directory", () -> Files.createDirectories(options.dataDir().toAbsolutePath()));
            Keyring keys = parts.start("signing keys", () -> signingKeys(data));
            FleetStore store = parts.start("store", () -> openStore(data, cluster), FleetStore::close);
            IdentityStore identities = parts.start("identity store", () -> IdentityStore.open(data), IdentityStore::close);
            BrokerAccess access = parts.start("broker identities",
                    () -> brokerAccess(options.brokerAuth(), data, keys.identityKeyId(), identities, topics, clock));
            TlsMaterial tls = parts.start("TLS material", () -> tlsMaterial(options, data, clock));
            BrokerEndpoint broker = parts.start(options.embedsBroker() ? "embedded MQTT broker" : "external MQTT broker",
                    () -> BrokerEndpoint.open(options, data, topics, access, tls), BrokerEndpoint::close);
            // the engine thread outlives the MQTT client: reports taken up before it closes are still applied
            EngineThread engineThread = parts.start("engine thread", EngineThread::start, EngineThread::close);
            MqttFleetTransport transport = parts.start("MQTT client of " + broker.localUrl(),
                    () -> broker.connect(access.orchestrator(), topics, cluster), MqttFleetTransport::close);
            if (options.embedsBroker()) {
                // the embedded broker holds no session from before a restart: subscribe to the reports (kept until the
                // engine listens) before any device may send one
                transport.subscribeToReports();
                broker.holdReportAcks(transport);
                broker.admitDevices();
            }
            // before the engine listens: the answers to log requests are read with the reports
            DeviceLogs deviceLogs = new DeviceLogs(keys::active, transport::publishLogRequest, clock);
            transport.onLogResponse(deviceLogs::onResponse);
            FleetMonitoring monitoring = parts.start("metrics and live events", () -> FleetMonitoring.create(topics, store, clock));
            ClusterMembership membership = parts.start("cluster membership", () -> membership(options, cluster, store, monitoring));
            // started before the engine and stopped after it: the engine hands it events until it stops
            WebhookDispatcher webhooks = parts.start("webhooks", () -> WebhookDispatcher.start(store, webhookPolicy, clock,
                    monitoring.metrics()::webhookDelivery, presence(store)), WebhookDispatcher::close);
            EngineLoop engine = parts.start("rollout engine", () -> EngineLoop.start(store, membership, keys, monitoring,
                    webhooks, transport, engineThread, clock), EngineLoop::close);
            // stopped before the engine: at a graceful stop the embedded broker lets the devices go and hands over the
            // reports it already acknowledged to them, which would otherwise die with its in-memory queues
            parts.start("report drain", () -> transport, broker::drainDevices); // nothing to do with an external broker
            ArtifactRepository artifacts = parts.start("artifact repository",
                    () -> new ArtifactRepository(data.resolve("artifacts"), store));
            OperatorToken token = parts.start("operator token", () -> operatorToken(data));
            DataBackup backup = parts.start("backup", () -> DataBackup.open(data, keys.active().keyId(),
                    cluster.shared() ? BackupManifest.POSTGRESQL : BackupManifest.SQLITE, VERSION, clock));
            ApiServer.Backend backend = new ApiServer.Backend(store, new BasicCredentials(identities), artifacts,
                    engine.engine(), engineThread.executor(), new FleetEnrollment(store, access, clock), monitoring,
                    backup, keys, cluster.shared(), webhooks, clock, options.edgePackage(), deviceLogs,
                    options.maxDownloads());
            ApiServer http = parts.start("HTTP API on " + options.bindAddress() + ":" + options.httpPort(),
                    () -> ApiServer.listen(options.bindAddress(), options.httpPort(), tls, token, backend,
                            port -> serverInfo(keys, broker, topics, tls, options.advertiseHost(), port)), ApiServer::close);
            // lets the CLI on this host find the token whatever --data is (LocalServers)
            parts.start("local server entry", () -> LocalServers.register(System.getenv(), http.port(), token.file()).orElse(null),
                    entry -> LocalServers.unregister(entry, token.file()));
            String scheme = tls != null ? "https" : "http";
            LOG.info("Turnout orchestrator listening on {}://{}:{} (devices: broker {}, orchestrator {}://{}:{})", scheme,
                    options.bindAddress(), http.port(), broker.deviceUrl(), scheme, options.advertiseHost(), http.port());
            return new TurnoutServer(parts, http, broker.localUrl(), tls, token, access);
        } catch (Exception | Error e) {
            parts.close();
            throw e;
        }
    }

    /** Each enrolled device's online flag as stored. */
    private static java.util.Map<String, Boolean> presence(FleetStore store) {
        java.util.Map<String, Boolean> online = new java.util.HashMap<>();
        store.listDevices().forEach(d -> online.put(d.id(), d.online()));
        return online;
    }

    private static Keyring signingKeys(Path data) throws IOException {
        Keyring keys = Keyring.open(data);
        LOG.info("signing key id {}{}", keys.active().keyId(), keys.next().map(k -> " (announced next: " + k.keyId() + ")").orElse(""));
        return keys;
    }

    private static FleetStore openStore(Path data, ClusterOptions cluster) {
        return cluster.shared() ? PostgresFleetStore.open(cluster.storeUrl(), cluster.storeUser(), cluster.storePassword())
                : SqliteFleetStore.open(data);
    }

    /** The orchestrator's own identity and the stored ones, with the site broker's files kept in step. */
    private static BrokerAccess brokerAccess(BrokerAuth auth, Path data, String identityKeyId, IdentityStore identities,
                                             Topics topics, Clock clock) throws IOException {
        OrchestratorIdentity self = auth.username() != null
                ? OrchestratorIdentity.fromFile(auth.username(), auth.passwordFile())
                : OrchestratorIdentity.loadOrCreate(data, identityKeyId);
        BrokerAccess access = new BrokerAccess(identities, self, clock);
        SiteBrokerFiles.keepInStep(auth, topics, access);
        return access;
    }

    /** The generated or supplied TLS material; null when TLS is off. */
    private static TlsMaterial tlsMaterial(ServerOptions options, Path data, Clock clock) throws IOException {
        TlsOptions t = options.tls();
        if (!t.enabled()) {
            return null;
        }
        if (t.supplied()) {
            return TlsMaterial.supplied(t.certFile(), t.keyFile(), t.caFile());
        }
        List<String> names = TlsMaterial.serverNames(options.advertiseHost(), options.bindAddress(), t.extraHosts());
        TlsMaterial generated = TlsMaterial.loadOrGenerate(data.resolve("tls"), names, clock);
        LOG.info("TLS: CA {} (devices pin it), server certificate for {}", generated.caFile(), names);
        return generated;
    }

    /** Which rollouts this orchestrator drives: all of them, or with a shared store those it holds the lease of. */
    private static ClusterMembership membership(ServerOptions options, ClusterOptions cluster, FleetStore store,
                                                FleetMonitoring monitoring) {
        if (!cluster.shared()) {
            return new SingleOrchestrator(store);
        }
        LOG.info("orchestrator instance {} on the shared store {} (rollout lease {})", cluster.instanceId(),
                cluster.storeUrl(), cluster.leaseTtl());
        return new LeasedRollouts(store, cluster.instanceId(), "http://" + options.advertiseHost() + ":" + options.httpPort(),
                cluster.leaseTtl(), monitoring.metrics()::forwardedReportDelay);
    }

    private static OperatorToken operatorToken(Path data) throws IOException {
        OperatorToken token = OperatorToken.loadOrCreate(data);
        LOG.info("{} the operator token in {}", token.created() ? "created" : "using", token.file());
        return token;
    }

    /** What {@code GET /api/v1/server} tells devices and the CLI, once the API listens on {@code port}. */
    private static ServerInfo serverInfo(Keyring keys, BrokerEndpoint broker, Topics topics, TlsMaterial tls,
                                         String advertiseHost, int port) {
        String scheme = tls != null ? "https" : "http";
        return new ServerInfo(keys::trusted, broker.deviceUrl(),
                scheme + "://" + advertiseHost + ":" + port, topics.prefix(), VERSION, deviceCaBundle(tls, broker.caPem()));
    }

    /** What devices pin: the orchestrator's CA and the external broker's, once each. */
    private static String deviceCaBundle(TlsMaterial tls, String brokerCaPem) {
        String own = tls == null ? null : tls.caPem();
        if (own == null) {
            return brokerCaPem;
        }
        if (brokerCaPem == null || brokerCaPem.strip().equals(own.strip())) {
            return own;
        }
        return own + (own.endsWith("\n") ? "" : "\n") + brokerCaPem;
    }

    /** The port the HTTP API listens on. */
    public int httpPort() {
        return httpPort;
    }

    /** Every route the HTTP server serves (tests hold them against the OpenAPI contract). */
    java.util.List<io.vertx.ext.web.Route> httpRoutes() {
        return http.routes();
    }

    /** The HTTP API as reached from this host, e.g. {@code http://127.0.0.1:8080} ({@code https://} with TLS). */
    public String url() {
        return (tls != null ? "https" : "http") + "://127.0.0.1:" + httpPort;
    }

    /** The CA certificate file clients pin (generated: {@code <data>/tls/ca.pem}); null without TLS or CA. */
    public Path caFile() {
        return tls == null ? null : tls.caFile();
    }

    /** The TLS material of the API and the embedded broker; null without TLS. */
    public TlsMaterial tls() {
        return tls;
    }

    /** The broker as reached from this host, e.g. {@code tcp://127.0.0.1:1883}. */
    public String brokerUrl() {
        return brokerUrl;
    }

    /** The operator token every HTTP API route asks for ({@code Authorization: Bearer ...}). Never log it. */
    public String operatorToken() {
        return operatorToken.value();
    }

    /** Where the operator token is kept: {@code <data>/operator.token}. */
    public Path operatorTokenFile() {
        return operatorToken.file();
    }

    /** Who may use the broker: issue, revoke and check broker identities. */
    public BrokerAccess brokerAccess() {
        return access;
    }

    /**
     * Stops the parts in reverse order: the local server entry, the HTTP API, the engine (handing
     * its rollout leases over), the MQTT client, the engine thread, the broker and the stores.
     */
    @Override
    public void close() {
        parts.close();
        LOG.info("Turnout orchestrator stopped");
    }

    /** Loads the signing key in {@code file}, creating it (mode 0600) on first use. */
    public static SigningKey loadOrCreateKey(Path file) throws IOException {
        boolean existed = Files.exists(file);
        SigningKey key = SigningKey.loadOrCreate(file);
        if (!existed) {
            try {
                Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                LOG.warn("cannot restrict the permissions of {} on this file system", file);
            }
            LOG.info("created a new signing key in {}", file);
        }
        return key;
    }
}
