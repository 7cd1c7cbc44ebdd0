package dev.turnout.broker;

import dev.turnout.testsupport.MessageCallback;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.eclipse.paho.mqttv5.common.packet.UserProperty;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The embedded broker's hold on status reports ({@link ReportReceipts}): a device hears that its report arrived only
 * once the orchestrator has stored it, every rule of {@link TopicPolicy} still holds, and monitors still read reports.
 * Real HiveMQ CE in this JVM, real Paho clients.
 */
class ReportHoldTest {

    private static final Map<String, Role> ROLES = Map.of("orchestrator", Role.ORCHESTRATOR, "pi-1", Role.DEVICE,
            "pi-2", Role.DEVICE, "monitor", Role.MONITOR);
    private static final BrokerIdentities IDENTITIES = (user, password) ->
            ("secret-" + user).equals(new String(password, StandardCharsets.UTF_8))
                    ? Optional.ofNullable(ROLES.get(user)) : Optional.empty();
    private static final String STATUS_OF_PI_1 = "turnout/v1/devices/pi-1/status";

    @TempDir
    static Path dir;
    static EmbeddedBroker broker;
    static ReportReceipts receipts;

    private final List<AutoCloseable> clients = new ArrayList<>();
    private final BlockingQueue<MqttMessage> toOrchestrator = new LinkedBlockingQueue<>();
    private final BlockingQueue<MqttMessage> toMonitor = new LinkedBlockingQueue<>();

    @BeforeAll
    static void start() throws Exception {
        broker = EmbeddedBroker.start(dir, "127.0.0.1", 0, IDENTITIES, new TopicPolicy(dev.turnout.proto.Topics.defaults()));
        receipts = broker.holdReportAcks();
    }

    @AfterAll
    static void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    @AfterEach
    void closeClients() throws Exception {
        receipts.hold(ReportReceipts.HOLD_LIMIT);
        for (AutoCloseable c : clients) {
            c.close();
        }
    }

    @Test
    void aDeviceHearsItsReportArrivedOnlyOnceTheOrchestratorStoredItAndMonitorsReadItAtOnce() throws Exception {
        subscribe("orchestrator", toOrchestrator);
        subscribe("monitor", toMonitor);
        MqttAsyncClient device = device("pi-1", null);

        MqttMessage report = new MqttMessage("ACTIVE".getBytes(StandardCharsets.UTF_8));
        report.setQos(1);
        MqttProperties forged = new MqttProperties();
        forged.setUserProperties(List.of(new UserProperty(ReportReceipts.PROPERTY, "forged")));
        report.setProperties(forged);
        IMqttToken sent = device.publish(STATUS_OF_PI_1, report);

        MqttMessage taken = toOrchestrator.poll(10, TimeUnit.SECONDS);
        assertThat(taken).as("the orchestrator reads the report").isNotNull();
        List<String> receipt = receiptsOf(taken);
        assertThat(receipt).as("one receipt, the broker's: the device's own is dropped").hasSize(1).doesNotContain("forged");
        assertThat(toMonitor.poll(10, TimeUnit.SECONDS)).as("a monitor reads it before it is stored").isNotNull();
        await("no acknowledgement before the store").during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2))
                .until(() -> !sent.isComplete());
        assertThat(receipts.held()).isEqualTo(1);

        receipts.stored(receipt.get(0));
        sent.waitForCompletion(5_000);
        assertThat(sent.getException()).isNull();
        assertThat(sent.getReasonCodes()).containsOnly(0);
        assertThat(receipts.held()).isZero();
    }

    @Test
    void aReportTheAuthorizerRefusesIsNeitherHeldNorHandedToAnyone() throws Exception {
        subscribe("orchestrator", toOrchestrator);
        CountDownLatch dropped = new CountDownLatch(1);
        MqttAsyncClient device = device("pi-1", dropped);
        MqttMessage posing = new MqttMessage("pi-2 is fine".getBytes(StandardCharsets.UTF_8));
        posing.setQos(1);
        IMqttToken sent = device.publish("turnout/v1/devices/pi-2/status", posing);

        assertThat(dropped.await(10, TimeUnit.SECONDS)).as("HiveMQ disconnects a client after a refused publish").isTrue();
        assertThat(sent.getReasonCodes() == null || sent.getReasonCodes()[0] != 0).as("never acknowledged as a success").isTrue();
        assertThat(receipts.held()).as("no receipt left open").isZero();
        assertThat(toOrchestrator.poll(500, TimeUnit.MILLISECONDS)).as("nothing reaches the orchestrator").isNull();
    }

    @Test
    void presenceIsNotHeld() throws Exception {
        subscribe("orchestrator", toOrchestrator);
        MqttAsyncClient device = device("pi-2", null);
        MqttMessage presence = new MqttMessage("online".getBytes(StandardCharsets.UTF_8));
        presence.setQos(1);
        IMqttToken sent = device.publish("turnout/v1/devices/pi-2/presence", presence);
        sent.waitForCompletion(5_000);
        assertThat(sent.getReasonCodes()).containsOnly(0);
        assertThat(receiptsOf(toOrchestrator.poll(10, TimeUnit.SECONDS))).isEmpty();
        assertThat(receipts.held()).isZero();
    }

    @Test
    void aReportNotStoredInTimeIsNeverAcknowledgedItsDeviceIsDisconnectedInstead() throws Exception {
        receipts.hold(Duration.ofSeconds(1));
        subscribe("orchestrator", toOrchestrator);
        CountDownLatch dropped = new CountDownLatch(1);
        MqttAsyncClient device = device("pi-1", dropped);
        MqttMessage report = new MqttMessage("STAGED".getBytes(StandardCharsets.UTF_8));
        report.setQos(1);
        IMqttToken sent = device.publish(STATUS_OF_PI_1, report);
        String receipt = receiptsOf(toOrchestrator.poll(10, TimeUnit.SECONDS)).get(0);

        assertThat(dropped.await(10, TimeUnit.SECONDS)).as("the device is disconnected when the hold runs out").isTrue();
        receipts.stored(receipt); // stored too late: nothing to acknowledge any more
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
                .until(() -> !sent.isComplete() || sent.getException() != null);
        assertThat(receipts.held()).isZero();
    }

    @Test
    void reportsHeldWhenTheOrchestratorsSessionIsTakenOverAreHandedToItAgainWhenItSubscribes() throws Exception {
        subscribe("orchestrator", toOrchestrator);
        CountDownLatch dropped = new CountDownLatch(1);
        MqttAsyncClient device = device("pi-1", dropped);
        MqttMessage first = new MqttMessage("REJECTED".getBytes(StandardCharsets.UTF_8));
        first.setQos(1);
        IMqttToken sentFirst = device.publish(STATUS_OF_PI_1, first);
        String receipt = receiptsOf(toOrchestrator.poll(10, TimeUnit.SECONDS)).get(0);

        // someone with the orchestrator's login takes its client id with a clean start: the session that had the report is gone
        MqttClient taker = new MqttClient(broker.url(), "orchestrator", new MemoryPersistence());
        clients.add(taker::close);
        taker.connect(options("orchestrator"));
        MqttMessage second = new MqttMessage("REJECTED again".getBytes(StandardCharsets.UTF_8));
        second.setQos(1);
        IMqttToken sentSecond = device.publish(STATUS_OF_PI_1, second); // HiveMQ takes it only after the first's PUBACK
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> !sentFirst.isComplete());
        taker.disconnect();

        long subscribed = System.nanoTime();
        subscribe("orchestrator", toOrchestrator); // the orchestrator's reconnect
        MqttMessage again = toOrchestrator.poll(10, TimeUnit.SECONDS);
        assertThat(again).as("the held report is handed to the orchestrator again").isNotNull();
        assertThat(new String(again.getPayload(), StandardCharsets.UTF_8)).isEqualTo("REJECTED");
        assertThat(receiptsOf(again)).as("with the same receipt").containsExactly(receipt);
        System.out.printf("report hold: a held report handed over again %d ms after the orchestrator subscribed again%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - subscribed));
        receipts.stored(receipt);
        sentFirst.waitForCompletion(5_000);
        assertThat(sentFirst.getReasonCodes()).as("acknowledged once stored").containsOnly(0);

        MqttMessage next = toOrchestrator.poll(10, TimeUnit.SECONDS);
        assertThat(next).as("the report behind it follows").isNotNull();
        assertThat(new String(next.getPayload(), StandardCharsets.UTF_8)).isEqualTo("REJECTED again");
        receiptsOf(next).forEach(receipts::stored);
        sentSecond.waitForCompletion(5_000);
        assertThat(sentSecond.getReasonCodes()).containsOnly(0);
        assertThat(dropped.getCount()).as("the device was never disconnected").isEqualTo(1);
        assertThat(receipts.held()).isZero();
    }

    @Test
    void aDeviceWithItsPresenceWillIsLetInAndItsWillStillGoesOut() throws Exception {
        // with a client initializer set, HiveMQ checks wills against the default permissions at connect
        subscribe("orchestrator", toOrchestrator);
        MqttAsyncClient device = new MqttAsyncClient(broker.url(), "pi-2", new MemoryPersistence());
        MqttConnectionOptions options = options("pi-2");
        options.setWill("turnout/v1/devices/pi-2/presence", new MqttMessage("offline".getBytes(StandardCharsets.UTF_8), 1, false, null));
        device.connect(options).waitForCompletion(10_000);
        assertThat(device.isConnected()).isTrue();

        device.disconnectForcibly(0, 1_000, false); // the connection just ends: the broker publishes the will
        device.close(true);
        MqttMessage will = toOrchestrator.poll(10, TimeUnit.SECONDS);
        assertThat(will).as("the will reaches the orchestrator").isNotNull();
        assertThat(new String(will.getPayload(), StandardCharsets.UTF_8)).isEqualTo("offline");
    }

    private static List<String> receiptsOf(MqttMessage m) {
        List<String> values = new ArrayList<>();
        if (m.getProperties() != null && m.getProperties().getUserProperties() != null) {
            for (UserProperty p : m.getProperties().getUserProperties()) {
                if (p.getKey().equals(ReportReceipts.PROPERTY)) {
                    values.add(p.getValue());
                }
            }
        }
        return values;
    }

    private void subscribe(String user, BlockingQueue<MqttMessage> into) throws MqttException {
        MqttClient client = new MqttClient(broker.url(), user, new MemoryPersistence());
        clients.add(() -> {
            if (client.isConnected()) {
                client.disconnect();
            }
            client.close();
        });
        client.setCallback((MessageCallback) (topic, message) -> into.add(message));
        client.connect(options(user));
        client.subscribe(new MqttSubscription[] {new MqttSubscription("turnout/v1/devices/+/status", 1),
            new MqttSubscription("turnout/v1/devices/+/presence", 1)});
    }

    private MqttAsyncClient device(String id, CountDownLatch dropped) throws MqttException {
        MqttAsyncClient client = new MqttAsyncClient(broker.url(), id, new MemoryPersistence());
        clients.add(() -> {
            if (client.isConnected()) {
                client.disconnect().waitForCompletion(5_000);
            }
            client.close(true);
        });
        client.setCallback(new MessageCallback() {
            @Override
            public void messageArrived(String topic, MqttMessage message) {
                // reads nothing
            }

            @Override
            public void disconnected(MqttDisconnectResponse response) {
                if (dropped != null) {
                    dropped.countDown();
                }
            }
        });
        client.connect(options(id)).waitForCompletion(10_000);
        return client;
    }

    private static MqttConnectionOptions options(String user) {
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setConnectionTimeout(10);
        options.setUserName(user);
        options.setPassword(("secret-" + user).getBytes(StandardCharsets.UTF_8));
        return options;
    }
}
