package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Presence;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The security matrix on the orchestrator's embedded HiveMQ CE with the Turnout extension. */
class EmbeddedHiveMqSecurityMatrixIT extends SecurityMatrix {

    @Override
    protected TurnoutServer startServer(Path work) throws Exception {
        return TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null, "127.0.0.1",
                topics.prefix()));
    }

    @Override
    protected void stopBroker() {
    }

    @Override
    protected boolean refusesForeignClientIdsAtConnect() {
        return true;
    }

    /** Mosquitto's ACL file cannot tell retained publishes apart; the extension refuses them except presence. */
    @Test
    void aDeviceCannotRetainAnythingButItsPresence() throws Exception {
        JsonEnrolled a = enrollForRetain("ret-a");
        try (MqttProbe device = connectWithRetry(() -> MqttProbe.connect(server.brokerUrl(), a.id(), a.id(), a.password()))) {
            assertThat(device.publish(topics.presence(a.id()), Presence.newBuilder().setDeviceId(a.id()).setOnline(true)
                    .build().toByteArray(), true)).isTrue();
            device.publish(topics.status(a.id()), StatusEvent.newBuilder().setDeviceId(a.id()).setVersion("6.6.6")
                    .setState(UpdateState.ACTIVE).build().toByteArray(), true);
        }
        JsonEnrolled m = new JsonEnrolled("late", json.readTree(cli("user", "add", "late", "--role", "monitor", "--output", "json").out())
                .path("password").asText());
        try (MqttProbe late = connectWithRetry(() -> MqttProbe.connect(server.brokerUrl(), m.id(), m.id(), m.password()))) {
            late.subscribe(topics.presence(a.id()));
            late.subscribe(topics.status(a.id()));
            await().atMost(Duration.ofSeconds(10)).until(() -> late.received.stream().anyMatch(r -> r.topic().endsWith("/presence")));
            await().during(Duration.ofMillis(1000)).atMost(Duration.ofSeconds(5))
                    .until(() -> late.received.stream().noneMatch(r -> r.topic().endsWith("/status")));
        }
    }

    private record JsonEnrolled(String id, String password) {
    }

    private JsonEnrolled enrollForRetain(String id) throws IOException {
        String config = json.readTree(cli("device", "enroll", id, "--output", "json").out()).path("config").asText();
        return new JsonEnrolled(id, dev.turnout.orchestrator.app.ScriptedDevice.passwordOf(config));
    }
}
