package dev.turnout.broker;

import dev.turnout.testsupport.MessageCallback;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EmbeddedBrokerTest {

    private static final java.util.Map<String, Role> ROLES = java.util.Map.of(
            "orchestrator", Role.ORCHESTRATOR, "pi-1", Role.DEVICE, "pi+1", Role.DEVICE, "pi-gone", Role.DEVICE);
    /** pi-gone passes the credential check but is revoked by the time its connection is registered. */
    private static final BrokerIdentities IDENTITIES = new BrokerIdentities() {
        @Override
        public java.util.Optional<Role> authenticate(String user, byte[] password) {
            return ("secret-" + user).equals(new String(password, StandardCharsets.UTF_8))
                    ? java.util.Optional.ofNullable(ROLES.get(user)) : java.util.Optional.empty();
        }

        @Override
        public boolean isActive(String user) {
            return !"pi-gone".equals(user);
        }
    };

    @TempDir
    static Path dir;
    static EmbeddedBroker broker;

    @BeforeAll
    static void start() throws Exception {
        broker = EmbeddedBroker.start(dir, "127.0.0.1", 0, IDENTITIES, new TopicPolicy(dev.turnout.proto.Topics.defaults()));
    }

    @AfterAll
    static void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void retainedMessageReachesALateSubscriber() throws Exception {
        MqttClient publisher = connect("orchestrator");
        MqttMessage message = new MqttMessage("desired".getBytes(StandardCharsets.UTF_8));
        message.setQos(1);
        message.setRetained(true);
        publisher.publish("turnout/v1/devices/pi-1/desired", message);
        publisher.disconnect();
        publisher.close();

        MqttClient device = connect("pi-1");
        BlockingQueue<String> received = new ArrayBlockingQueue<>(4);
        device.setCallback(new CollectingCallback(received));
        device.subscribe(new org.eclipse.paho.mqttv5.common.MqttSubscription[] {
                new org.eclipse.paho.mqttv5.common.MqttSubscription("turnout/v1/devices/pi-1/desired", 1)});
        assertThat(received.poll(10, TimeUnit.SECONDS)).isEqualTo("desired");
        device.disconnect();
        device.close();
    }

    @Test
    void theOrchestratorMayHaveAThousandMessagesInFlightNotHiveMqsTen() throws Exception {
        MqttClient orchestrator = new MqttClient(broker.url(), "orchestrator", new MemoryPersistence());
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setUserName("orchestrator");
        options.setPassword("secret-orchestrator".getBytes(StandardCharsets.UTF_8));
        org.eclipse.paho.mqttv5.client.IMqttToken connected = orchestrator.connectWithResult(options);
        assertThat(connected.getResponseProperties().getReceiveMaximum()).as("receive maximum in the CONNACK")
                .isEqualTo(EmbeddedBroker.RECEIVE_MAXIMUM).isEqualTo(1000);
        orchestrator.disconnect();
        orchestrator.close();
    }

    @Test
    void clientIdWithWildcardIsRefused() {
        assertThatThrownBy(() -> connect("pi+1")).isInstanceOf(MqttException.class);
    }

    @Test
    void wrongSecretMissingCredentialsAndAForeignClientIdAreRefused() throws Exception {
        assertThatThrownBy(() -> connect("pi-1", "pi-1", "wrong")).isInstanceOf(MqttException.class);
        assertThatThrownBy(() -> connect("pi-1", null, null)).isInstanceOf(MqttException.class);
        assertThatThrownBy(() -> connect("orchestrator", "pi-1", "secret-pi-1")).isInstanceOf(MqttException.class);
        MqttClient ok = connect("pi-1", "pi-1", "secret-pi-1");
        assertThat(ok.isConnected()).isTrue();
        ok.disconnect();
        ok.close();
    }

    @Test
    void severalOrchestratorInstancesShareTheDeviceReportsButADeviceCannotPoseAsAnInstance() throws Exception {
        MqttClient a = connect("orchestrator.a", "orchestrator", "secret-orchestrator");
        MqttClient b = connect("orchestrator.b", "orchestrator", "secret-orchestrator");
        BlockingQueue<String> toA = new ArrayBlockingQueue<>(64);
        BlockingQueue<String> toB = new ArrayBlockingQueue<>(64);
        a.setCallback(new CollectingCallback(toA));
        b.setCallback(new CollectingCallback(toB));
        for (MqttClient instance : java.util.List.of(a, b)) {
            instance.subscribe(new org.eclipse.paho.mqttv5.common.MqttSubscription[] {
                    new org.eclipse.paho.mqttv5.common.MqttSubscription("$share/turnout/turnout/v1/devices/+/status", 1)});
        }
        MqttClient device = connect("pi-1");
        for (int i = 0; i < 20; i++) {
            device.publish("turnout/v1/devices/pi-1/status", new MqttMessage(("s" + i).getBytes(StandardCharsets.UTF_8)));
        }
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> toA.size() + toB.size() >= 20);
        // and no report arrives twice: the count stays at 20 for a while after the last one
        org.awaitility.Awaitility.await("each report reaches one instance of the group").during(java.time.Duration.ofMillis(200))
                .atMost(java.time.Duration.ofSeconds(2)).until(() -> toA.size() + toB.size() == 20);
        BlockingQueue<String> toDevice = new ArrayBlockingQueue<>(4);
        device.setCallback(new CollectingCallback(toDevice));
        device.subscribe(new org.eclipse.paho.mqttv5.common.MqttSubscription[] {
                new org.eclipse.paho.mqttv5.common.MqttSubscription("turnout/v1/devices/pi-1/desired", 1)});
        MqttMessage desired = new MqttMessage("d".getBytes(StandardCharsets.UTF_8));
        desired.setQos(1);
        b.publish("turnout/v1/devices/pi-1/desired", desired); // the second instance may publish as the orchestrator
        String got = toDevice.poll(10, TimeUnit.SECONDS);
        if ("desired".equals(got)) {
            got = toDevice.poll(10, TimeUnit.SECONDS); // retained by another test
        }
        assertThat(got).isEqualTo("d");
        assertThatThrownBy(() -> connect("pi-1.a", "pi-1", "secret-pi-1")).as("only an orchestrator runs as instances")
                .isInstanceOf(MqttException.class);
        for (MqttClient c : java.util.List.of(a, b, device)) {
            c.disconnect();
            c.close();
        }
    }

    @Test
    void aDeviceIsRefusedItsOwnReportTopicsWithATrailingSlashAndOthersDevicesTopics() throws Exception {
        BlockingQueue<String> reports = new ArrayBlockingQueue<>(16);
        MqttClient orchestrator = orchestratorReading("turnout/v1/#", reports);
        // HiveMQ strips a topic's trailing '/' before comparing it with a permission that has no wildcard
        for (String topic : java.util.List.of("turnout/v1/devices/pi-1/status/", "turnout/v1/devices/pi-1/status//",
                "turnout/v1/devices/pi-1/logs/response/", "turnout/v1/devices/orchestrator/status")) {
            MqttClient device = connect("pi-1");
            try {
                device.publish(topic, new MqttMessage("forged".getBytes(StandardCharsets.UTF_8), 1, false, null));
            } catch (MqttException refused) {
                // PUBACK 135 (not authorized); HiveMQ then drops the client
            }
            device.disconnectForcibly(0, 1000, false);
            device.close(true);
        }
        assertOnlyAPositiveControlArrives(reports);
        orchestrator.disconnect();
        orchestrator.close();
    }

    @Test
    void aConnectionWhoseIdentityWasRevokedWhileItConnectedIsDroppedAndSendsNothing() throws Exception {
        BlockingQueue<String> reports = new ArrayBlockingQueue<>(16);
        MqttClient orchestrator = orchestratorReading("turnout/v1/devices/+/status", reports);
        try {
            MqttClient gone = connect("pi-gone");
            try {
                gone.publish("turnout/v1/devices/pi-gone/status", new MqttMessage("slipped in".getBytes(StandardCharsets.UTF_8), 1, false, null));
            } catch (MqttException refused) {
                // dropped before or while publishing
            }
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> !gone.isConnected());
            gone.close(true);
        } catch (MqttException refused) {
            // dropped before its CONNACK
        }
        assertOnlyAPositiveControlArrives(reports);
        orchestrator.disconnect();
        orchestrator.close();
    }

    @Test
    void disconnectDropsAConnectedClient() throws Exception {
        MqttClient device = connect("pi-1", "pi-1", "secret-pi-1");
        assertThat(broker.disconnect("pi-1").get(10, TimeUnit.SECONDS)).isTrue();
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> !device.isConnected());
        device.close();
    }

    @Test
    void secondBrokerOnTheSamePortFailsWithAClearMessage(@TempDir Path other) {
        assertThatThrownBy(() -> EmbeddedBroker.start(other, "127.0.0.1", broker.port(), IDENTITIES,
                new TopicPolicy(dev.turnout.proto.Topics.defaults())))
                .hasMessageContaining("already in use");
    }

    @Test
    void atAGracefulStopDevicesAreLetGoWithoutTheirWillAndRefusedWhileTheOrchestratorStays() throws Exception {
        MqttClient orchestrator = connect("orchestrator");
        BlockingQueue<String> presence = new ArrayBlockingQueue<>(4);
        orchestrator.setCallback(new CollectingCallback(presence));
        orchestrator.subscribe(new org.eclipse.paho.mqttv5.common.MqttSubscription[] {
                new org.eclipse.paho.mqttv5.common.MqttSubscription("turnout/v1/devices/+/presence", 1)});
        MqttClient device = new MqttClient(broker.url(), "pi-1", new MemoryPersistence());
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setUserName("pi-1");
        options.setPassword("secret-pi-1".getBytes(StandardCharsets.UTF_8));
        options.setWill("turnout/v1/devices/pi-1/presence", new MqttMessage("offline".getBytes(StandardCharsets.UTF_8), 1, false, null));
        device.connect(options);
        try {
            assertThat(broker.refuseOthers("orchestrator").get(10, TimeUnit.SECONDS)).as("clients let go").isEqualTo(1);

            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> !device.isConnected());
            assertThat(presence.poll(1, TimeUnit.SECONDS)).as("a will: the device is not gone, the server is stopping").isNull();
            assertThatThrownBy(() -> connect("pi-1")).as("let in again only after a start").isInstanceOf(MqttException.class);
            assertThat(orchestrator.isConnected()).isTrue();
        } finally {
            broker.admitOthers(); // the broker is shared by this class's tests
            orchestrator.disconnect();
            orchestrator.close();
            device.close(true);
        }
    }

    /** The orchestrator subscribed to {@code filter}, each message's payload into {@code reports} (nothing retained). */
    private static MqttClient orchestratorReading(String filter, BlockingQueue<String> reports) throws MqttException {
        MqttClient orchestrator = connect("orchestrator");
        orchestrator.setCallback(new CollectingCallback(reports));
        org.eclipse.paho.mqttv5.common.MqttSubscription subscription = new org.eclipse.paho.mqttv5.common.MqttSubscription(filter, 1);
        subscription.setRetainHandling(2); // not the states other tests retained
        orchestrator.subscribe(new org.eclipse.paho.mqttv5.common.MqttSubscription[] {subscription});
        return orchestrator;
    }

    /** pi-1 reports "ok" last: it must be the one and only report that reached {@code reports}. */
    private static void assertOnlyAPositiveControlArrives(BlockingQueue<String> reports) throws Exception {
        MqttClient device = connect("pi-1");
        device.publish("turnout/v1/devices/pi-1/status", new MqttMessage("ok".getBytes(StandardCharsets.UTF_8), 1, false, null));
        assertThat(reports.poll(10, TimeUnit.SECONDS)).as("positive control, sent last").isEqualTo("ok");
        assertThat(reports).isEmpty();
        device.disconnect();
        device.close();
    }

    private static MqttClient connect(String clientId) throws MqttException {
        return connect(clientId, clientId, "secret-" + clientId);
    }

    private static MqttClient connect(String clientId, String user, String password) throws MqttException {
        MqttClient client = new MqttClient(broker.url(), clientId, new MemoryPersistence());
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setConnectionTimeout(10);
        if (user != null) {
            options.setUserName(user);
            options.setPassword(password.getBytes(StandardCharsets.UTF_8));
        }
        client.connect(options);
        return client;
    }

    private record CollectingCallback(BlockingQueue<String> received) implements MessageCallback {
        @Override
        public void messageArrived(String topic, MqttMessage message) {
            received.add(new String(message.getPayload(), StandardCharsets.UTF_8));
        }
    }
}
