package dev.turnout.orchestrator.app;

import dev.turnout.broker.EmbeddedBroker;
import dev.turnout.broker.TopicPolicy;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.security.HiveMqIdentitiesFile;
import dev.turnout.orchestrator.security.IdentityStore;
import dev.turnout.orchestrator.security.MosquittoConfig;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.http.ApiAuth;
import dev.turnout.orchestrator.security.BasicCredentials;
import dev.turnout.orchestrator.security.OperatorToken;
import dev.turnout.orchestrator.security.TlsMaterial;
import dev.turnout.proto.tls.PinnedTrust;
import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.cluster.LeasedRollouts;
import dev.turnout.orchestrator.cluster.SingleOrchestrator;
import dev.turnout.orchestrator.engine.DesiredStates;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.http.HttpApi;
import dev.turnout.orchestrator.http.MonitoringRoutes;
import dev.turnout.orchestrator.observe.FleetMetrics;
import dev.turnout.orchestrator.observe.FleetObserver;
import dev.turnout.orchestrator.observe.LiveEvents;
import dev.turnout.orchestrator.http.ServerInfo;
import dev.turnout.orchestrator.mqtt.MqttFleetTransport;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.orchestrator.store.PostgresFleetStore;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.SigningKey;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The orchestrator: HTTP API, rollout engine, SQLite store, MQTT transport and (unless an external
 * broker is given) an embedded MQTT broker, all in this process.
 */
public final class TurnoutServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TurnoutServer.class);
    /** Version reported by {@code GET /api/v1/health}. */
    public static final String VERSION = "0.1.0";
    private static final long TICK_MILLIS = 500;
    private static final int LIVE_EVENTS_KEPT = 1000;

    private final FleetStore store;
    private final IdentityStore identities;
    private final BrokerAccess access;
    private final EmbeddedBroker broker;
    private final MqttFleetTransport transport;
    private final ScheduledExecutorService engineThread;
    private final Vertx vertx;
    private final int httpPort;
    private final String brokerUrl;
    private final TlsMaterial tls;
    private RolloutEngine engine;
    private OperatorToken operatorToken;
    private Path localEntry;

    private TurnoutServer(FleetStore store, IdentityStore identities, BrokerAccess access, EmbeddedBroker broker,
                          MqttFleetTransport transport, ScheduledExecutorService engineThread, Vertx vertx, int httpPort,
                          String brokerUrl, TlsMaterial tls) {
        this.tls = tls;
        this.store = store;
        this.identities = identities;
        this.access = access;
        this.broker = broker;
        this.transport = transport;
        this.engineThread = engineThread;
        this.vertx = vertx;
        this.httpPort = httpPort;
        this.brokerUrl = brokerUrl;
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
        Path dataDir = Files.createDirectories(options.dataDir().toAbsolutePath());
        SigningKey key = loadOrCreateKey(dataDir.resolve("signing.key"));
        LOG.info("signing key id {}", key.keyId());
        Topics topics = new Topics(options.topicPrefix());
        FleetStore store = null;
        IdentityStore identities = null;
        EmbeddedBroker broker = null;
        MqttFleetTransport transport = null;
        ScheduledExecutorService engineThread = null;
        Vertx vertx = null;
        try {
            store = cluster.shared() ? PostgresFleetStore.open(cluster.storeUrl(), cluster.storeUser(), cluster.storePassword())
                    : SqliteFleetStore.open(dataDir);
            identities = IdentityStore.open(dataDir);
            BrokerAuth auth = options.brokerAuth();
            OrchestratorIdentity self = auth.username() != null
                    ? OrchestratorIdentity.fromFile(auth.username(), auth.passwordFile())
                    : OrchestratorIdentity.loadOrCreate(dataDir, key.keyId());
            BrokerAccess access = new BrokerAccess(identities, self, Clock.systemUTC());
            if (auth.mosquittoConfigDir() != null) {
                Runnable rewrite = mosquittoWriter(auth, topics, access);
                rewrite.run();
                access.onChange(rewrite);
            }
            if (auth.hivemqIdentitiesFile() != null) {
                Path file = auth.hivemqIdentitiesFile();
                Runnable rewrite = () -> {
                    try {
                        HiveMqIdentitiesFile.write(file, access.orchestrator(), access.identities());
                    } catch (IOException e) {
                        throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
                    }
                };
                rewrite.run();
                access.onChange(rewrite);
            }
            TlsMaterial tls = tlsMaterial(options, dataDir);
            String localBrokerUrl;
            String deviceBrokerUrl;
            javax.net.ssl.SSLSocketFactory brokerSockets = null;
            boolean verifyBrokerHost = true;
            String brokerCaPem = null;
            if (options.embedsBroker()) {
                EmbeddedBroker.TlsListener listener = null;
                if (tls != null) {
                    // a fresh key store and password at every start: nothing to keep in step with the PEM files
                    Path keyStore = Files.createDirectories(dataDir.resolve("tls")).resolve("broker.p12");
                    String password = dev.turnout.orchestrator.security.Secrets.newSecret();
                    tls.writeKeyStore(keyStore, password.toCharArray());
                    listener = new EmbeddedBroker.TlsListener(keyStore, password);
                }
                broker = EmbeddedBroker.start(dataDir.resolve("broker"), options.bindAddress(), options.mqttPort(),
                        access, new TopicPolicy(topics), listener);
                EmbeddedBroker embedded = broker;
                access.onRevoke(name -> embedded.disconnect(name).whenComplete((was, e) -> {
                    if (e != null) {
                        LOG.warn("could not drop the connection of revoked {}: {}", name, e.toString());
                    } else if (Boolean.TRUE.equals(was)) {
                        LOG.info("dropped the connection of revoked {}", name);
                    }
                }));
                localBrokerUrl = broker.url();
                deviceBrokerUrl = (tls != null ? "ssl://" : "tcp://") + options.advertiseHost() + ":" + broker.port();
                if (tls != null) {
                    // no plain-text listener at all: this process connects over TLS to its own loopback listener too
                    String loopback = java.net.URI.create(localBrokerUrl).getHost();
                    verifyBrokerHost = tls.names(loopback);
                    brokerSockets = tls.caPem() != null
                            ? PinnedTrust.fromPem(tls.caPem(), "the orchestrator's CA").socketFactory("broker", verifyBrokerHost)
                            : (javax.net.ssl.SSLSocketFactory) javax.net.ssl.SSLSocketFactory.getDefault();
                }
            } else {
                localBrokerUrl = options.brokerUrl();
                deviceBrokerUrl = options.brokerUrl();
                brokerSockets = externalBrokerSockets(options, tls);
                brokerCaPem = options.tls().brokerCaFile() == null ? null : Files.readString(options.tls().brokerCaFile());
            }
            // the default name is turnout-orchestrator-<key id>: two instances with different keys never take over each other's session
            // several instances share the user name; each connects as <name>.<instance>, reading reports as a shared group
            transport = MqttFleetTransport.connect(localBrokerUrl, self.name(),
                    cluster.shared() ? self.name() + "." + cluster.instanceId() : self.name(), self.secret(), topics,
                    cluster.shared() ? cluster.shareGroup() : null, brokerSockets, verifyBrokerHost);
            engineThread = Executors.newSingleThreadScheduledExecutor(runnable -> {
                Thread t = new Thread(runnable, "turnout-engine");
                t.setDaemon(true);
                return t;
            });
            Clock clock = Clock.systemUTC();
            FleetMetrics metrics = new FleetMetrics(store, clock);
            LiveEvents live = new LiveEvents(LIVE_EVENTS_KEPT, clock.millis() * 1000);
            FleetObserver observer = new FleetObserver(topics, live, metrics, clock);
            FleetTransport observedTransport = observer.observe(transport);
            DesiredStates desired = new DesiredStates(store, key, observedTransport, clock);
            ClusterMembership membership = cluster.shared()
                    ? new LeasedRollouts(store, cluster.instanceId(), "http://" + options.advertiseHost() + ":" + options.httpPort(),
                            cluster.leaseTtl(), metrics::forwardedReportDelay)
                    : new SingleOrchestrator(store);
            RolloutEngine engine = new RolloutEngine(store, store, membership, desired, observedTransport, clock);
            if (cluster.shared()) {
                LOG.info("orchestrator instance {} on the shared store {} (rollout lease {})", cluster.instanceId(),
                        cluster.storeUrl(), cluster.leaseTtl());
            }
            engine.onWaveDecision(metrics::waveDecision);
            engine.continueOn(guardedExecutor(engineThread));
            engineThread.submit(() -> {
                int republished = desired.republishAll();
                LOG.info("republished the desired state of {} device(s)", republished);
                engine.start();
                return null;
            }).get(60, TimeUnit.SECONDS);
            BatchingExecutor reports = new BatchingExecutor(engineThread, store, engine::desiredWaiting);
            transport.listen(observer.observe(engine), reports);
            if (cluster.shared()) {
                store.onForwarded(() -> reports.execute(engine::drainForwarded));
            }
            engineThread.scheduleWithFixedDelay(guarded(engine::tick), TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);

            vertx = Vertx.vertx();
            ArtifactRepository artifacts = new ArtifactRepository(dataDir.resolve("artifacts"), store);
            int requestedPort = options.httpPort();
            String advertise = options.advertiseHost();
            AtomicReference<ServerInfo> info = new AtomicReference<>();
            OperatorToken token = OperatorToken.loadOrCreate(dataDir);
            LOG.info("{} the operator token in {}", token.created() ? "created" : "using", token.file());
            ApiAuth apiAuth = new ApiAuth(vertx, token, new BasicCredentials(identities, clock), clock);
            HttpApi api = new HttpApi(vertx, store, artifacts, engine, engineThread, info::get, clock,
                    new dev.turnout.orchestrator.enroll.FleetEnrollment(store, access, clock), apiAuth);
            Router router = api.router();
            new MonitoringRoutes(vertx, metrics, live, observer).mountOn(router);
            HttpServer http = api.listen(options.bindAddress(), requestedPort, router,
                            tls == null ? null : tls.certificatePem(), tls == null ? null : tls.keyPem())
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            int port = http.actualPort();
            String scheme = tls != null ? "https" : "http";
            info.set(new ServerInfo(key.keyId(), key.publicKey().toBase64(), deviceBrokerUrl,
                    scheme + "://" + advertise + ":" + port, topics.prefix(), VERSION, deviceCaBundle(tls, brokerCaPem)));
            LOG.info("Turnout orchestrator listening on {}://{}:{} (devices: broker {}, orchestrator {}://{}:{})",
                    scheme, options.bindAddress(), port, deviceBrokerUrl, scheme, advertise, port);
            TurnoutServer server = new TurnoutServer(store, identities, access, broker, transport, engineThread, vertx, port,
                    localBrokerUrl, tls);
            server.engine = engine;
            server.operatorToken = token;
            // lets the CLI on this host find the token whatever --data is (LocalServers)
            server.localEntry = LocalServers.register(System.getenv(), port, token.file()).orElse(null);
            return server;
        } catch (Exception | Error e) {
            closeAll(vertx, engineThread, transport, broker, store);
            if (identities != null) {
                identities.close();
            }
            throw e;
        }
    }

    /** The port the HTTP API listens on. */
    public int httpPort() {
        return httpPort;
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

    /** The generated or supplied TLS material; null when TLS is off. */
    private static TlsMaterial tlsMaterial(ServerOptions options, Path dataDir) throws IOException {
        TlsOptions t = options.tls();
        if (!t.enabled()) {
            return null;
        }
        if (t.supplied()) {
            return TlsMaterial.supplied(t.certFile(), t.keyFile(), t.caFile());
        }
        List<String> names = TlsMaterial.serverNames(options.advertiseHost(), options.bindAddress(), t.extraHosts());
        TlsMaterial generated = TlsMaterial.loadOrGenerate(dataDir.resolve("tls"), names, Clock.systemUTC());
        LOG.info("TLS: CA {} (devices pin it), server certificate for {}", generated.caFile(), names);
        return generated;
    }

    /**
     * TLS sockets for an {@code ssl://} external broker, pinning {@code --broker-ca}, else the orchestrator's
     * CA, else the system trust store; null for a plain-text broker.
     */
    private static javax.net.ssl.SSLSocketFactory externalBrokerSockets(ServerOptions options, TlsMaterial tls) throws IOException {
        Path brokerCa = options.tls().brokerCaFile();
        if (!options.brokerUrl().startsWith("ssl://")) {
            if (brokerCa != null) {
                throw new IllegalArgumentException("--broker-ca is for a TLS broker: give --broker-url as ssl://HOST:8883");
            }
            return null;
        }
        PinnedTrust trust = brokerCa != null ? PinnedTrust.fromFile(brokerCa)
                : tls != null && tls.caPem() != null ? PinnedTrust.fromPem(tls.caPem(), "the orchestrator's CA " + tls.caFile())
                : PinnedTrust.system();
        return trust.socketFactory("broker", true);
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

    /** Stops the HTTP API, the engine, the MQTT client, the embedded broker and the store. */
    @Override
    public void close() {
        if (engine != null && store.shared()) {
            // a clean stop hands the rollouts over at once instead of after the lease expires
            quietly(() -> engineThread.submit(engine::releaseLeases).get(5, TimeUnit.SECONDS));
        }
        if (localEntry != null) {
            LocalServers.unregister(localEntry, operatorToken.file());
        }
        closeAll(vertx, engineThread, transport, broker, store);
        identities.close();
        LOG.info("Turnout orchestrator stopped");
    }

    private static void closeAll(Vertx vertx, ExecutorService engineThread, MqttFleetTransport transport,
                                 EmbeddedBroker broker, FleetStore store) {
        if (vertx != null) {
            quietly(() -> vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS));
        }
        if (transport != null) {
            quietly(() -> {
                transport.close();
                return null;
            });
        }
        if (engineThread != null) {
            engineThread.shutdown();
            quietly(() -> engineThread.awaitTermination(10, TimeUnit.SECONDS));
        }
        if (broker != null) {
            quietly(() -> {
                broker.close();
                return null;
            });
        }
        if (store != null) {
            quietly(() -> {
                store.close();
                return null;
            });
        }
    }

    private static void quietly(Callable<?> step) {
        try {
            step.call();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.warn("while stopping: {}", e.toString());
        }
    }

    private static Runnable mosquittoWriter(BrokerAuth auth, Topics topics, BrokerAccess access) {
        Path dir = auth.mosquittoConfigDir();
        return () -> {
            try {
                new MosquittoConfig(topics, access.orchestrator(), access.identities()).writeTo(dir);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the Mosquitto files in " + dir + ": " + e.getMessage(), e);
            }
            if (auth.mosquittoReloadCommand() != null) {
                runReload(auth.mosquittoReloadCommand());
            }
        };
    }

    private static void runReload(String command) {
        try {
            Process p = new ProcessBuilder("/bin/sh", "-c", command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                LOG.warn("Mosquitto reload command did not finish within 30 s: {}", command);
            } else if (p.exitValue() != 0) {
                LOG.warn("Mosquitto reload command exited with {}: {}", p.exitValue(), command);
            }
        } catch (IOException e) {
            LOG.warn("cannot run the Mosquitto reload command '{}': {}", command, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
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

    private static Runnable guarded(Runnable step) {
        return () -> {
            try {
                step.run();
            } catch (RuntimeException e) {
                LOG.error("engine step failed", e);
            }
        };
    }

    private static Executor guardedExecutor(ExecutorService executor) {
        return task -> executor.execute(guarded(task));
    }
}
