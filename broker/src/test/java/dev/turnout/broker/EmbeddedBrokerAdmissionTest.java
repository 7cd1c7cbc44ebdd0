package dev.turnout.broker;

import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A broker started to admit only the orchestrator (as {@code turnout server} starts it, until it has subscribed to
 * the devices' reports) tells a device with good credentials "server unavailable", so that it retries, and a wrong
 * secret still "bad user name or password"; once it admits others, the device connects.
 */
class EmbeddedBrokerAdmissionTest {

    private static final int SERVER_UNAVAILABLE = 0x88;
    private static final int BAD_USER_NAME_OR_PASSWORD = 0x86;
    private static final Map<String, Role> ROLES = Map.of("orchestrator", Role.ORCHESTRATOR, "pi-1", Role.DEVICE, "watcher", Role.MONITOR);
    private static final BrokerIdentities IDENTITIES = (user, password) ->
            ("secret-" + user).equals(new String(password, StandardCharsets.UTF_8)) ? Optional.ofNullable(ROLES.get(user)) : Optional.empty();

    @TempDir
    Path dir;

    @Test
    void onlyTheOrchestratorConnectsUntilTheBrokerAdmitsOthers() throws Exception {
        try (EmbeddedBroker broker = EmbeddedBroker.start(dir, "127.0.0.1", 0, IDENTITIES,
                new TopicPolicy(dev.turnout.proto.Topics.defaults()), null, BrokerStorage.DEFAULT, false)) {
            assertThatThrownBy(() -> connect(broker, "pi-1", "secret-pi-1")).isInstanceOfSatisfying(MqttException.class,
                    e -> assertThat(e.getReasonCode()).as("a device told to come back").isEqualTo(SERVER_UNAVAILABLE));
            assertThatThrownBy(() -> connect(broker, "watcher", "secret-watcher")).isInstanceOfSatisfying(MqttException.class,
                    e -> assertThat(e.getReasonCode()).as("a monitor told to come back").isEqualTo(SERVER_UNAVAILABLE));
            assertThatThrownBy(() -> connect(broker, "pi-1", "wrong")).isInstanceOfSatisfying(MqttException.class,
                    e -> assertThat(e.getReasonCode()).as("a wrong secret is still refused as such").isEqualTo(BAD_USER_NAME_OR_PASSWORD));
            MqttClient orchestrator = connect(broker, "orchestrator", "secret-orchestrator");
            assertThat(orchestrator.isConnected()).isTrue();

            broker.admitOthers();
            MqttClient device = connect(broker, "pi-1", "secret-pi-1");
            assertThat(device.isConnected()).isTrue();
            assertThatThrownBy(() -> connect(broker, "pi-1", "wrong")).isInstanceOf(MqttException.class);
            for (MqttClient c : new MqttClient[] {orchestrator, device}) {
                c.disconnect();
                c.close();
            }
        }
    }

    private static MqttClient connect(EmbeddedBroker broker, String id, String secret) throws MqttException {
        MqttClient client = new MqttClient(broker.url(), id, new MemoryPersistence());
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setUserName(id);
        options.setPassword(secret.getBytes(StandardCharsets.UTF_8));
        try {
            client.connect(options);
        } catch (MqttException e) {
            client.close();
            throw e;
        }
        return client;
    }
}
