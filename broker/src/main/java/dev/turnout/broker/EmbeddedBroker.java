package dev.turnout.broker;

import com.hivemq.configuration.service.InternalConfigurations;
import com.hivemq.embedded.EmbeddedExtension;
import com.hivemq.embedded.EmbeddedHiveMQ;
import com.hivemq.extension.sdk.api.packets.disconnect.DisconnectReasonCode;
import com.hivemq.extension.sdk.api.services.Services;
import dev.turnout.broker.internal.TurnoutExtensionMain;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * HiveMQ Community Edition running inside the orchestrator's JVM, keeping its messages and sessions
 * as {@link BrokerStorage} says (in memory by default, or on disk under {@code dataDir}) and the Turnout
 * security extension loaded: every client authenticates against {@link BrokerIdentities} (client
 * id = user name) and gets {@link TopicPolicy}'s rules as HiveMQ default permissions, which HiveMQ checks for every
 * publish and subscribe on its event loop; deny by default.
 */
public final class EmbeddedBroker implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedBroker.class);
    private static final long START_TIMEOUT_SECONDS = 60;
    private static final int SHUTDOWN_GRACE_MS = 200;
    /** QoS 1 messages in flight from one client to the broker: Mosquitto's max_inflight_messages in Turnout's configuration. */
    static final int RECEIVE_MAXIMUM = 1000;

    private final EmbeddedHiveMQ hivemq;
    private final String bindAddress;
    private final int port;
    private final boolean tls;
    private final AtomicBoolean othersAdmitted;
    private final boolean quickStop;
    private final ReportReceipts receipts;

    private EmbeddedBroker(EmbeddedHiveMQ hivemq, String bindAddress, int port, boolean tls, AtomicBoolean othersAdmitted,
                           boolean quickStop, ReportReceipts receipts) {
        this.quickStop = quickStop;
        this.receipts = receipts;
        this.hivemq = hivemq;
        this.bindAddress = bindAddress;
        this.port = port;
        this.tls = tls;
        this.othersAdmitted = othersAdmitted;
    }

    /**
     * A TLS listener's key material: a PKCS#12 key store holding the server key and certificate chain.
     *
     * @param keyStore the key store file
     * @param password its password (also the key's)
     */
    public record TlsListener(Path keyStore, String password) {
        public TlsListener {
            Objects.requireNonNull(keyStore, "keyStore");
            Objects.requireNonNull(password, "password");
        }

        @Override
        public String toString() {
            return "TlsListener[" + keyStore + "]";
        }
    }

    /**
     * Starts the broker and returns once it accepts connections.
     *
     * @param dataDir     where the broker keeps its configuration, persistence and logs
     * @param bindAddress address of the MQTT listener, e.g. {@code 0.0.0.0}
     * @param port        MQTT TCP port; 0 picks a free one
     * @param identities  who may connect, and in which role
     * @param policy      what each role may publish and subscribe to
     */
    public static EmbeddedBroker start(Path dataDir, String bindAddress, int port, BrokerIdentities identities,
                                       TopicPolicy policy) throws Exception {
        return start(dataDir, bindAddress, port, identities, policy, null);
    }

    /**
     * Starts the broker with one listener: MQTT over TLS when {@code tls} is given (no plain-text
     * listener at all), else plain MQTT.
     */
    public static EmbeddedBroker start(Path dataDir, String bindAddress, int port, BrokerIdentities identities,
                                       TopicPolicy policy, TlsListener tls) throws Exception {
        return start(dataDir, bindAddress, port, identities, policy, tls, BrokerStorage.DEFAULT);
    }

    /**
     * Starts the broker keeping its messages and sessions as {@code storage} says (see {@link BrokerStorage};
     * its settings are JVM-wide: one embedded broker per JVM).
     */
    public static EmbeddedBroker start(Path dataDir, String bindAddress, int port, BrokerIdentities identities,
                                       TopicPolicy policy, TlsListener tls, BrokerStorage storage) throws Exception {
        return start(dataDir, bindAddress, port, identities, policy, tls, storage, true);
    }

    /**
     * Starts the broker; with {@code admitOthers} false only the orchestrator may connect until {@link #admitOthers()}
     * (the others are refused "server unavailable" and retry): an orchestrator on a broker that keeps nothing on disk
     * subscribes to the devices' reports before a device can send one.
     */
    public static EmbeddedBroker start(Path dataDir, String bindAddress, int port, BrokerIdentities identities,
                                       TopicPolicy policy, TlsListener tls, BrokerStorage storage, boolean admitOthers)
            throws Exception {
        Objects.requireNonNull(dataDir, "dataDir");
        Objects.requireNonNull(storage, "storage");
        Objects.requireNonNull(bindAddress, "bindAddress");
        Objects.requireNonNull(identities, "identities");
        Objects.requireNonNull(policy, "policy");
        int chosenPort = port == 0 ? freePort(bindAddress) : port;
        requirePortFree(bindAddress, chosenPort);

        Path root = dataDir.toAbsolutePath();
        Path conf = Files.createDirectories(root.resolve("conf"));
        storage.prepare(root);
        storage.applyToHiveMq();
        // HiveMQ keeps its single writers open 2 s after the persistence shutdown starts, for tasks that "could
        // just get enqueued"; by then the listeners and the extension are already down and every queued task
        // still runs in the final pass, so a short grace loses nothing and halves every stop (4.1 -> 2.1 s)
        InternalConfigurations.PERSISTENCE_SHUTDOWN_GRACE_PERIOD_MSEC.set(SHUTDOWN_GRACE_MS);
        // HiveMQ CE sends a client at most 50 unacknowledged QoS 1 messages "regardless of the client receive maximum":
        // the orchestrator's one connection reads the reports of the whole fleet, which then came in 50 per round trip
        // and queued in the broker (a wave's deciding report behind the others). As many as Mosquitto's max_inflight.
        InternalConfigurations.MAX_INFLIGHT_WINDOW_SIZE_MESSAGES = RECEIVE_MAXIMUM;
        Path data = Files.createDirectories(root.resolve("data"));
        Path extensions = Files.createDirectories(root.resolve("extensions"));
        Files.writeString(conf.resolve("config.xml"), configXml(bindAddress, chosenPort, tls, storage), StandardCharsets.UTF_8);
        restrictToOwner(conf.resolve("config.xml")); // holds the key store password when TLS is on

        AtomicBoolean othersAdmitted = new AtomicBoolean(admitOthers);
        ReportReceipts receipts = new ReportReceipts(policy, identities);
        EmbeddedExtension extension = EmbeddedExtension.builder()
                .withId("turnout-security")
                .withName("Turnout security")
                .withVersion("0.1.0")
                .withAuthor("Turnout")
                .withPriority(1000)
                .withStartPriority(1000)
                .withExtensionMain(new TurnoutExtensionMain(identities, policy, othersAdmitted::get))
                .build();

        EmbeddedHiveMQ hivemq = EmbeddedHiveMQ.builder()
                .withConfigurationFolder(conf)
                .withDataFolder(data)
                .withExtensionsFolder(extensions)
                .withEmbeddedExtension(extension)
                .build();
        try {
            // start().join() hangs forever when the heap is too small (STACK.md pitfall 8)
            hivemq.start().get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            closeQuietly(hivemq);
            throw new IllegalStateException("embedded MQTT broker did not start within " + START_TIMEOUT_SECONDS + " s", e);
        } catch (Exception e) {
            closeQuietly(hivemq);
            throw e;
        }
        boolean quickStop = dev.turnout.broker.internal.QuickNettyShutdown.install(hivemq); // no fixed 2 s quiet period
        LOG.info("embedded MQTT broker listening on {}:{}{}, {} persistence{}", bindAddress, chosenPort, tls != null ? " (TLS)" : "",
                storage.mode().name().toLowerCase(java.util.Locale.ROOT),
                storage.mode() == BrokerStorage.Mode.FILE ? " in " + storage.buckets() + " buckets under " + data : "");
        return new EmbeddedBroker(hivemq, bindAddress, chosenPort, tls != null, othersAdmitted, quickStop, receipts);
    }

    public int port() {
        return port;
    }

    /** URL a client on this host uses, e.g. {@code tcp://127.0.0.1:1883} or {@code ssl://127.0.0.1:8883}. */
    public String url() {
        String host = "0.0.0.0".equals(bindAddress) || "::".equals(bindAddress) ? "127.0.0.1" : bindAddress;
        return (tls ? "ssl://" : "tcp://") + host + ":" + port;
    }

    /**
     * From now on a device's status report is acknowledged only once the orchestrator in this JVM has stored it and
     * says so through the returned receipts ({@link ReportReceipts}); call before {@link #admitOthers()}.
     */
    public ReportReceipts holdReportAcks() {
        return holdReportAcks(ReportReceipts.HOLD_LIMIT);
    }

    /** {@link #holdReportAcks()} waiting {@code limit} at most for the store (tests). */
    ReportReceipts holdReportAcks(java.time.Duration limit) {
        receipts.hold(limit);
        return receipts;
    }

    /** Lets every client with good credentials connect from now on, not only the orchestrator. */
    public void admitOthers() {
        if (!othersAdmitted.getAndSet(true)) {
            LOG.info("embedded MQTT broker admits devices and monitors");
        }
    }

    /**
     * Lets only {@code keepClientId} connect from now on (as at start, before {@link #admitOthers()}) and disconnects
     * every other client, holding back their wills: a graceful stop, not devices going away. Completes with the number
     * of clients disconnected.
     */
    public CompletableFuture<Integer> refuseOthers(String keepClientId) {
        othersAdmitted.set(false);
        java.util.List<CompletableFuture<Boolean>> disconnects = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        return Services.clientService().iterateAllClients((context, session) -> {
            if (session.isConnected() && !session.getClientIdentifier().equals(keepClientId)) {
                disconnects.add(Services.clientService().disconnectClient(session.getClientIdentifier(), true,
                        DisconnectReasonCode.SERVER_SHUTTING_DOWN, "server shutting down"));
            }
        }).thenCompose(done -> CompletableFuture.allOf(disconnects.toArray(CompletableFuture[]::new)))
                .thenApply(done -> disconnects.size());
    }

    /** True when this broker stops without HiveMQ's fixed 2 s Netty quiet period ({@code QuickNettyShutdown}). */
    boolean stopsQuickly() {
        return quickStop;
    }

    /** True when the listener speaks TLS. */
    public boolean tls() {
        return tls;
    }

    /**
     * Drops the connection of {@code clientId} (a revoked identity) and discards its session;
     * completes with false when it was not connected.
     */
    public CompletableFuture<Boolean> disconnect(String clientId) {
        return Services.clientService().disconnectClient(clientId, false, DisconnectReasonCode.NOT_AUTHORIZED, "access revoked")
                .thenCompose(was -> Services.clientService().invalidateSession(clientId).handle((ignored, e) -> was));
    }

    @Override
    public void close() {
        try {
            hivemq.stop().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("embedded MQTT broker did not stop cleanly: {}", e.toString());
        } finally {
            closeQuietly(hivemq);
        }
    }

    private static void closeQuietly(EmbeddedHiveMQ hivemq) {
        try {
            hivemq.close();
        } catch (Exception ignored) {
            // already reported or stopping anyway
        }
    }

    static String configXml(String bindAddress, int port) {
        return configXml(bindAddress, port, null, BrokerStorage.DEFAULT);
    }

    static String configXml(String bindAddress, int port, TlsListener tls, BrokerStorage storage) {
        String listener = tls == null ? """
                        <tcp-listener>
                            <port>%d</port>
                            <bind-address>%s</bind-address>
                        </tcp-listener>""".formatted(port, bindAddress) : """
                        <tls-tcp-listener>
                            <port>%d</port>
                            <bind-address>%s</bind-address>
                            <tls>
                                <keystore>
                                    <path>%s</path>
                                    <password>%s</password>
                                    <private-key-password>%s</private-key-password>
                                </keystore>
                                <client-authentication-mode>NONE</client-authentication-mode>
                            </tls>
                        </tls-tcp-listener>""".formatted(port, bindAddress, xml(tls.keyStore().toAbsolutePath().toString()),
                xml(tls.password()), xml(tls.password()));
        return """
                <?xml version="1.0"?>
                <hivemq>
                    <listeners>
                %s
                    </listeners>
                    <persistence>
                        <mode>%s</mode>
                    </persistence>
                    <mqtt>
                        <!-- the orchestrator's session takes the reports of the whole fleet: never drop them in a burst
                             (the default, 1000 per client, discards status events of a large rollout) -->
                        <queued-messages>
                            <max-queue-size>1000000</max-queue-size>
                        </queued-messages>
                        <!-- QoS 1 messages a client may have in flight to the broker (HiveMQ's default: 10): the orchestrator's
                             one connection carries every desired state out, and 10 unacknowledged messages held it to round
                             trips (devices heard of a wave's decision seconds late). As Turnout's Mosquitto configuration. -->
                        <receive-maximum>
                            <server-receive-maximum>%d</server-receive-maximum>
                        </receive-maximum>
                    </mqtt>
                    <anonymous-usage-statistics>
                        <enabled>false</enabled>
                    </anonymous-usage-statistics>
                </hivemq>
                """.formatted(listener, storage.mode().hivemqMode(), RECEIVE_MAXIMUM);
    }

    private static String xml(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    private static void restrictToOwner(Path file) {
        try {
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | UnsupportedOperationException e) {
            LOG.debug("cannot restrict {}: {}", file, e.toString());
        }
    }

    private static int freePort(String bindAddress) throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress(bindAddress, 0));
            return socket.getLocalPort();
        }
    }

    private static void requirePortFree(String bindAddress, int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(bindAddress, port));
        } catch (IOException e) {
            throw new IllegalStateException("MQTT port " + port + " on " + bindAddress
                    + " is already in use: is another broker running? Use --mqtt-port or --broker-url", e);
        }
    }
}
