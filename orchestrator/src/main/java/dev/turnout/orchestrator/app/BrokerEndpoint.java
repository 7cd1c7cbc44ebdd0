package dev.turnout.orchestrator.app;

import dev.turnout.broker.EmbeddedBroker;
import dev.turnout.broker.TopicPolicy;
import dev.turnout.orchestrator.mqtt.MqttFleetTransport;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.security.Secrets;
import dev.turnout.orchestrator.security.TlsMaterial;
import dev.turnout.proto.Topics;
import dev.turnout.proto.tls.PinnedTrust;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLSocketFactory;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The MQTT broker of this orchestrator, embedded (HiveMQ CE, started and stopped here) or external,
 * and how it is reached: by this process ({@link #localUrl}, {@link #connect}) and by devices
 * ({@link #deviceUrl}, {@link #caPem}).
 */
final class BrokerEndpoint implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BrokerEndpoint.class);
    /** How long a revocation waits for the broker to drop the revoked connection. */
    private static final long REVOKE_DISCONNECT_SECONDS = 10;
    /** A graceful stop reads the devices' reports until none has come for this long. */
    static final java.time.Duration DRAIN_QUIET = java.time.Duration.ofMillis(300);
    /** ... and for this long at most. */
    static final java.time.Duration DRAIN_LIMIT = java.time.Duration.ofSeconds(10);

    private final EmbeddedBroker embedded;
    private final String localUrl;
    private final String deviceUrl;
    private final SSLSocketFactory sockets;
    private final boolean verifyHost;
    private final String caPem;
    /** The embedded broker keeps its queues in memory only (the default). */
    private final boolean keepsNothingOnDisk;

    private BrokerEndpoint(EmbeddedBroker embedded, String localUrl, String deviceUrl, SSLSocketFactory sockets,
                           boolean verifyHost, String caPem, boolean keepsNothingOnDisk) {
        this.embedded = embedded;
        this.keepsNothingOnDisk = keepsNothingOnDisk;
        this.localUrl = localUrl;
        this.deviceUrl = deviceUrl;
        this.sockets = sockets;
        this.verifyHost = verifyHost;
        this.caPem = caPem;
    }

    /** The embedded broker when {@code options} name no external one, else the external broker. */
    static BrokerEndpoint open(ServerOptions options, Path dataDir, Topics topics, BrokerAccess access, TlsMaterial tls)
            throws Exception {
        return options.embedsBroker() ? embedded(options, dataDir, topics, access, tls) : external(options, tls);
    }

    /**
     * Starts HiveMQ CE in {@code <data>/broker}, checking credentials with {@code access} and dropping
     * the connection of every revoked name. With TLS it has no plain-text listener at all: this
     * process, too, connects over TLS to its loopback listener.
     */
    private static BrokerEndpoint embedded(ServerOptions options, Path dataDir, Topics topics, BrokerAccess access,
                                           TlsMaterial tls) throws Exception {
        EmbeddedBroker.TlsListener listener = null;
        if (tls != null) {
            // a fresh key store and password at every start: nothing to keep in step with the PEM files
            Path keyStore = Files.createDirectories(dataDir.resolve("tls")).resolve("broker.p12");
            String password = Secrets.newSecret();
            tls.writeKeyStore(keyStore, password.toCharArray());
            listener = new EmbeddedBroker.TlsListener(keyStore, password);
        }
        EmbeddedBroker broker = EmbeddedBroker.start(dataDir.resolve("broker"), options.bindAddress(), options.mqttPort(),
                access, new TopicPolicy(topics), listener, options.brokerStorage(), false);
        access.onRevoke(name -> dropRevoked(broker, name));
        String deviceUrl = (tls != null ? "ssl://" : "tcp://") + options.advertiseHost() + ":" + broker.port();
        boolean inMemory = options.brokerStorage().mode() == dev.turnout.broker.BrokerStorage.Mode.MEMORY;
        if (tls == null) {
            return new BrokerEndpoint(broker, broker.url(), deviceUrl, null, true, null, inMemory);
        }
        String loopback = URI.create(broker.url()).getHost();
        boolean verifyHost = tls.names(loopback);
        SSLSocketFactory sockets = tls.caPem() != null
                ? PinnedTrust.fromPem(tls.caPem(), "the orchestrator's CA").socketFactory("broker", verifyHost)
                : (SSLSocketFactory) SSLSocketFactory.getDefault();
        return new BrokerEndpoint(broker, broker.url(), deviceUrl, sockets, verifyHost, null, inMemory);
    }

    /**
     * Drops the connection of a revoked name and waits for it (bounded), so that a revocation returns only once the
     * name's connection is gone: the broker checks the topic rules a client got at connect, not its identity on every
     * publish. Revocations run on worker threads.
     */
    private static void dropRevoked(EmbeddedBroker broker, String name) {
        try {
            if (Boolean.TRUE.equals(broker.disconnect(name).get(REVOKE_DISCONNECT_SECONDS, java.util.concurrent.TimeUnit.SECONDS))) {
                LOG.info("dropped the connection of revoked {}", name);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.warn("interrupted while dropping the connection of revoked {}", name);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.warn("could not drop the connection of revoked {}: {}", name, e.toString());
        }
    }

    /**
     * A broker run by someone else: over {@code ssl://} pinning {@code --broker-ca}, else the
     * orchestrator's CA, else the system trust store. Devices pin {@code --broker-ca} too.
     */
    private static BrokerEndpoint external(ServerOptions options, TlsMaterial tls) throws IOException {
        Path brokerCa = options.tls().brokerCaFile();
        SSLSocketFactory sockets = null;
        if (options.brokerUrl().startsWith("ssl://")) {
            PinnedTrust trust = brokerCa != null ? PinnedTrust.fromFile(brokerCa)
                    : tls != null && tls.caPem() != null ? PinnedTrust.fromPem(tls.caPem(), "the orchestrator's CA " + tls.caFile())
                    : PinnedTrust.system();
            sockets = trust.socketFactory("broker", true);
        } else if (brokerCa != null) {
            throw new IllegalArgumentException("--broker-ca is for a TLS broker: give --broker-url as ssl://HOST:8883");
        }
        return new BrokerEndpoint(null, options.brokerUrl(), options.brokerUrl(), sockets, true,
                brokerCa == null ? null : Files.readString(brokerCa), false);
    }

    /**
     * Connects this orchestrator as {@code self}. The default name is {@code turnout-orchestrator-<key id>}:
     * two instances with different keys never take over each other's session. Several instances
     * share the user name; each connects as {@code <name>.<instance>}, reading reports as a shared group.
     */
    MqttFleetTransport connect(OrchestratorIdentity self, Topics topics, ClusterOptions cluster) throws Exception {
        return MqttFleetTransport.connect(localUrl, self.name(),
                cluster.shared() ? self.name() + "." + cluster.instanceId() : self.name(), self.secret(), topics,
                cluster.shared() ? cluster.shareGroup() : null, sockets, verifyHost);
    }

    /** The broker as reached from this host, e.g. {@code tcp://127.0.0.1:1883}. */
    String localUrl() {
        return localUrl;
    }

    /** The broker as devices reach it, e.g. {@code ssl://10.0.0.5:8883}. */
    String deviceUrl() {
        return deviceUrl;
    }

    /** The external broker's CA ({@code --broker-ca}) that devices pin; null when none is given. */
    String caPem() {
        return caPem;
    }

    /**
     * With the embedded broker keeping its queues in memory: from now on it acknowledges a device's status report only
     * once {@code transport} has had it stored (see {@link dev.turnout.broker.ReportReceipts}); a kill -9 then loses no
     * report a device was told had arrived. Call before {@link #admitDevices()}; nothing to do otherwise.
     */
    void holdReportAcks(MqttFleetTransport transport) {
        if (embedded != null && keepsNothingOnDisk) {
            dev.turnout.broker.ReportReceipts receipts = embedded.holdReportAcks();
            transport.onReceiptStored(dev.turnout.broker.ReportReceipts.PROPERTY, receipts::stored);
            LOG.info("the embedded broker acknowledges a device's status report once it is stored");
        }
    }

    /**
     * Lets devices and monitors into the embedded broker, which at start admits only this orchestrator: call it once
     * the orchestrator has subscribed to the devices' reports (a broker that keeps nothing on disk holds no session
     * for it from before a restart, and a report sent before it subscribed would reach no one).
     */
    void admitDevices() {
        if (embedded != null) {
            embedded.admitOthers();
        }
    }

    /**
     * At a graceful stop of the embedded broker: lets only {@code orchestrator} in from now on, disconnects every other
     * client (their wills held back: they are not gone, the server is restarting) and waits until the reports the broker
     * had acknowledged to devices have reached {@code orchestrator} (no message for {@link #DRAIN_QUIET}, at most
     * {@link #DRAIN_LIMIT}). The broker keeps them in memory only: without this they die with it, and with them
     * entries of the audit trail (the devices repeat only their current state when they are back).
     */
    void drainDevices(MqttFleetTransport orchestrator) throws Exception {
        if (embedded == null) {
            return;
        }
        long start = System.nanoTime();
        int disconnected = embedded.refuseOthers(orchestrator.clientId()).get(DRAIN_LIMIT.toSeconds(), TimeUnit.SECONDS);
        java.time.Duration waited = orchestrator.awaitQuiet(DRAIN_QUIET, DRAIN_LIMIT);
        LOG.info("stopping: {} client(s) let go; their acknowledged reports read in {} ms", disconnected,
                (System.nanoTime() - start) / 1_000_000);
        if (waited.compareTo(DRAIN_LIMIT) >= 0) {
            LOG.warn("reports were still arriving after {} s: the last ones may be missing from the audit trail",
                    DRAIN_LIMIT.toSeconds());
        }
    }

    /** Stops the embedded broker; an external one is left alone. */
    @Override
    public void close() throws Exception {
        if (embedded != null) {
            embedded.close();
        }
    }
}
