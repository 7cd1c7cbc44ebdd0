package dev.turnout.broker;

import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The broker's stop with the short Netty quiet period ({@code QuickNettyShutdown} in place of HiveMQ's own step): it is
 * in place on this HiveMQ version (a new version that moves its internals would silently bring back the 2 s wait), and
 * a stop still does what HiveMQ's did — connected clients are let go and the port is free again.
 */
class EmbeddedBrokerStopTest {

    @TempDir
    Path dir;

    @Test
    void aStopLetsConnectedClientsGoAndFreesThePortWithoutTheFixedQuietPeriod() throws Exception {
        BrokerIdentities identities = (user, password) -> ("secret-" + user).equals(new String(password, StandardCharsets.UTF_8))
                ? Optional.of(Role.ORCHESTRATOR) : Optional.empty();
        EmbeddedBroker broker = EmbeddedBroker.start(dir, "127.0.0.1", 0, identities, new TopicPolicy(dev.turnout.proto.Topics.defaults()));
        assertThat(broker.stopsQuickly()).as("HiveMQ's Netty shutdown step replaced (internals as this version has them)").isTrue();
        MqttClient client = new MqttClient(broker.url(), "orchestrator", new MemoryPersistence());
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setUserName("orchestrator");
        options.setPassword("secret-orchestrator".getBytes(StandardCharsets.UTF_8));
        client.connect(options);

        broker.close();

        await().atMost(Duration.ofSeconds(10)).until(() -> !client.isConnected());
        try (ServerSocket again = new ServerSocket()) {
            again.bind(new InetSocketAddress("127.0.0.1", broker.port()));
            assertThat(again.isBound()).as("the port is free after the stop").isTrue();
        }
        client.close(true);
    }
}
