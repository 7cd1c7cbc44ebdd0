package dev.turnout.broker;

import dev.turnout.proto.Topics;
import dev.turnout.testsupport.DiskUse;
import dev.turnout.testsupport.MessageCallback;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The embedded broker's disk use: what a site pays in its data directory for the broker Turnout
 * embeds. Measured as blocks allocated ({@code du}), which is what a full SD card feels: HiveMQ CE's
 * RocksDB defaults preallocated about 520 MiB (apparent file sizes showed none of it).
 */
class EmbeddedBrokerDiskTest {

    private static final int DEVICES = 100;
    private static final Topics TOPICS = Topics.defaults();
    private static final BrokerIdentities ANYONE = (user, password) ->
            ("secret-" + user).equals(new String(password, StandardCharsets.UTF_8))
                    ? Optional.of(user.startsWith("orchestrator") ? Role.ORCHESTRATOR : Role.DEVICE) : Optional.empty();

    @TempDir
    Path dir;

    @Test
    void aFleetOfAHundredCostsAFewMegabytesAndItsRetainedStatesAndQueuedReportsSurviveARestart() throws Exception {
        Path brokerDir = dir.resolve("broker");
        int port;
        try (EmbeddedBroker broker = start(brokerDir, 0, BrokerStorage.ON_DISK)) {
            port = broker.port();
            assertThat(DiskUse.kib(brokerDir)).as("disk used by an empty broker, KiB (no preallocation)").isLessThan(1024);

            MqttClient orchestrator = connect(broker.port(), "orchestrator", false);
            orchestrator.subscribe(new MqttSubscription[] {new MqttSubscription(TOPICS.allStatus(), 1)});
            for (int i = 0; i < DEVICES; i++) {
                publish(orchestrator, TOPICS.desired("pi-" + i), retained("desired-" + i));
            }
            orchestrator.disconnect(); // its session keeps queuing reports while it is away
            orchestrator.close();

            // devices connect in parallel, as a fleet does (one after the other a connect takes ~0.4 s here)
            ExecutorService fleet = Executors.newFixedThreadPool(25);
            try {
                List<Future<?>> reports = new ArrayList<>();
                for (int i = 0; i < DEVICES; i++) {
                    String id = "pi-" + i;
                    reports.add(fleet.submit(() -> {
                        MqttClient device = connect(port, id, true);
                        publish(device, TOPICS.presence(id), retained("online-" + id));
                        publish(device, TOPICS.status(id), qos1("report-" + id));
                        device.disconnect();
                        device.close();
                        return null;
                    }));
                }
                for (Future<?> report : reports) {
                    report.get(60, TimeUnit.SECONDS);
                }
            } finally {
                fleet.shutdownNow();
            }
            assertThat(DiskUse.kib(brokerDir)).as("disk used with %d devices' retained states and queued reports, KiB", DEVICES)
                    .isLessThan(8 * 1024);
        }

        try (EmbeddedBroker broker = start(brokerDir, port, BrokerStorage.ON_DISK)) {
            Set<String> queued = ConcurrentHashMap.newKeySet();
            MqttClient orchestrator = connect(broker.port(), "orchestrator", false, queued);
            await("reports queued for the orchestrator before the restart").atMost(20, TimeUnit.SECONDS)
                    .until(() -> queued.size() == DEVICES);
            assertThat(queued).contains("report-pi-0", "report-pi-" + (DEVICES - 1));
            orchestrator.disconnect();
            orchestrator.close();

            Set<String> desired = ConcurrentHashMap.newKeySet();
            MqttClient device = connect(broker.port(), "pi-7", true, desired);
            device.subscribe(new MqttSubscription[] {new MqttSubscription(TOPICS.desired("pi-7"), 1)});
            await("the retained desired state kept across the restart").atMost(10, TimeUnit.SECONDS)
                    .until(() -> desired.contains("desired-7"));
            device.disconnect();
            device.close();
        }
    }

    @Test
    void aStoreWrittenWithAnotherLayoutIsSetAsideAndTheBrokerStartsEmpty() throws Exception {
        Path brokerDir = dir.resolve("broker");
        // what an older Turnout left: HiveMQ's RocksDB store, no layout file
        Path old = Files.createDirectories(brokerDir.resolve("data/persistence/retained_messages_rocks/retained_messages_rocks_bucket_0"));
        Files.writeString(old.resolve("MANIFEST-000001"), "x".repeat(4096));
        int port;
        try (EmbeddedBroker broker = start(brokerDir, 0, new BrokerStorage(BrokerStorage.Mode.FILE, 2))) {
            port = broker.port();
            assertThat(old).doesNotExist();
            assertThat(brokerDir.resolve("store.properties")).content().contains("buckets=2");
            MqttClient orchestrator = connect(port, "orchestrator", true);
            publish(orchestrator, TOPICS.desired("pi-1"), retained("kept"));
            orchestrator.disconnect();
            orchestrator.close();
        }
        // another bucket count cannot read that store: it is set aside too, never misread
        try (EmbeddedBroker broker = start(brokerDir, port, new BrokerStorage(BrokerStorage.Mode.FILE, 4))) {
            assertThat(brokerDir.resolve("store.properties")).content().contains("buckets=4");
            Set<String> desired = ConcurrentHashMap.newKeySet();
            MqttClient device = connect(broker.port(), "pi-1", true, desired);
            device.subscribe(new MqttSubscription[] {new MqttSubscription(TOPICS.desired("pi-1"), 1)});
            // a fresh retained message proves the subscription is live, and that nothing older came first
            MqttClient orchestrator = connect(broker.port(), "orchestrator", true);
            publish(orchestrator, TOPICS.desired("pi-1"), retained("new"));
            await().atMost(10, TimeUnit.SECONDS).until(() -> desired.contains("new"));
            assertThat(desired).containsExactly("new");
            for (MqttClient c : List.of(device, orchestrator)) {
                c.disconnect();
                c.close();
            }
        }
    }

    @Test
    void memoryPersistenceWritesNoStore() throws Exception {
        Path brokerDir = dir.resolve("broker");
        try (EmbeddedBroker broker = start(brokerDir, 0, new BrokerStorage(BrokerStorage.Mode.MEMORY, 4))) {
            MqttClient orchestrator = connect(broker.port(), "orchestrator", true);
            for (int i = 0; i < DEVICES; i++) {
                publish(orchestrator, TOPICS.desired("pi-" + i), retained("desired-" + i));
            }
            orchestrator.disconnect();
            orchestrator.close();
            assertThat(brokerDir.resolve("data/persistence")).doesNotExist();
            assertThat(brokerDir.resolve("store.properties")).doesNotExist();
        }
    }

    @Test
    void bucketsOutsideOneToSixtyFourAreRefused() {
        assertThatThrownBy(() -> new BrokerStorage(BrokerStorage.Mode.FILE, 0)).hasMessageContaining("between 1 and 64");
        assertThatThrownBy(() -> new BrokerStorage(BrokerStorage.Mode.FILE, 65)).hasMessageContaining("between 1 and 64");
    }

    @Test
    void xodusCachesAQuarterOfTheHeapAndNeverMoreThan64MiB() {
        assertThat(BrokerStorage.cacheBytes(128L << 20)).isEqualTo(32L << 20);
        assertThat(BrokerStorage.cacheBytes(6L << 30)).isEqualTo(64L << 20);
    }

    private static EmbeddedBroker start(Path brokerDir, int port, BrokerStorage storage) throws Exception {
        return EmbeddedBroker.start(brokerDir, "127.0.0.1", port, ANYONE, new TopicPolicy(TOPICS), null, storage);
    }

    private static MqttClient connect(int port, String id, boolean clean) throws MqttException {
        return connect(port, id, clean, null);
    }

    private static MqttClient connect(int port, String id, boolean clean, Set<String> received) throws MqttException {
        MqttClient client = new MqttClient("tcp://127.0.0.1:" + port, id, new MemoryPersistence());
        if (received != null) {
            client.setCallback((MessageCallback) (topic, message) ->
                    received.add(new String(message.getPayload(), StandardCharsets.UTF_8)));
        }
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setUserName(id);
        options.setPassword(("secret-" + id).getBytes(StandardCharsets.UTF_8));
        options.setCleanStart(clean);
        options.setSessionExpiryInterval(clean ? 0L : 3600L);
        client.connect(options);
        return client;
    }

    /**
     * Publishes and waits for the broker's ack. Paho's synchronous publish can still be refused with
     * "too many publishes in progress" when the previous ack is counted a moment late: that is retried.
     */
    private static void publish(MqttClient client, String topic, MqttMessage message) {
        await().atMost(10, TimeUnit.SECONDS)
                .ignoreExceptionsMatching(e -> e instanceof MqttException m && m.getReasonCode() == 32202)
                .until(() -> {
                    client.publish(topic, message);
                    return true;
                });
    }

    private static MqttMessage retained(String payload) {
        MqttMessage message = qos1(payload);
        message.setRetained(true);
        return message;
    }

    private static MqttMessage qos1(String payload) {
        MqttMessage message = new MqttMessage(payload.getBytes(StandardCharsets.UTF_8));
        message.setQos(1);
        return message;
    }
}
