package dev.turnout.orchestrator.sim;

import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.testsupport.Mosquitto;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A simulated device logs in with the broker credentials of its enrollment config, on a real
 * Mosquitto that refuses anonymous clients.
 */
class SimulatedDeviceCredentialsIT {


    @TempDir
    Path dir;

    private Mosquitto mosquitto;
    private String brokerUrl;
    private final ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(1);
    private final SigningKey key = SigningKey.generate();

    @BeforeEach
    void startMosquitto() throws Exception {
        Path passwords = dir.resolve("passwd");
        mosquitto = Mosquitto.start(dir.resolve("broker"), port -> {
            run("mosquitto_passwd", "-b", "-c", passwords.toString(), "pi-sim", "right-secret");
            run("mosquitto_passwd", "-b", passwords.toString(), "monitor", "monitor-secret");
            // mosquitto started as root reads its files as the user "mosquitto"
            Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(passwords, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            return "listener " + port + " 127.0.0.1\nallow_anonymous false\npassword_file " + passwords + "\npersistence false\n";
        });
        brokerUrl = mosquitto.url();
    }

    @AfterEach
    void stop() {
        scheduler.shutdownNow();
        if (mosquitto != null) {
            mosquitto.close();
        }
    }

    @Test
    void theEnrolledCredentialsLetTheDeviceInAndAWrongPasswordDoesNot() throws Exception {
        BlockingQueue<Presence> presences = new LinkedBlockingQueue<>();
        AsyncMqttSession monitor = AsyncMqttSession.create(new AsyncMqttSession.Settings("monitor", brokerUrl, "monitor",
                "monitor-secret", true, 0, null, null, false), (topic, payload) -> {
                    try {
                        presences.add(Presence.parseFrom(payload));
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
        monitor.connect().get(10, TimeUnit.SECONDS);
        monitor.subscribe(List.of(Topics.defaults().allPresence())).get(10, TimeUnit.SECONDS);

        SimulatedDevice device = device("right-secret");
        device.start().get(10, TimeUnit.SECONDS);
        Presence online = presences.poll(10, TimeUnit.SECONDS);
        assertThat(online.getDeviceId()).isEqualTo("pi-sim");
        assertThat(online.getOnline()).isTrue();
        device.stop().get(10, TimeUnit.SECONDS);

        SimulatedDevice intruder = device("wrong-secret");
        assertThatThrownBy(() -> intruder.start().get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasMessageContaining("the broker refused the connection");
        intruder.stop().get(10, TimeUnit.SECONDS);
        monitor.close();
    }

    @Test
    void aDeviceComesBackWithItsCredentialsAfterTheBrokerRestarts() throws Exception {
        SimulatedDevice device = device("right-secret");
        device.start().get(10, TimeUnit.SECONDS);
        assertThat(device.isConnected()).isTrue();

        mosquitto.restart();

        // the automatic reconnect must log in again: before, it sent no password and was refused for good
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(20)).until(device::isConnected);
        device.stop().get(10, TimeUnit.SECONDS);
    }

    private SimulatedDevice device(String password) {
        DeviceEnrollment enrollment = DeviceEnrollment.parse("""
                deviceId: pi-sim
                brokerUrl: %s
                mqttUsername: pi-sim
                mqttPassword: %s
                trustedKeys:
                - publicKey: %s
                """.formatted(brokerUrl, password, key.publicKey().toBase64()));
        return new SimulatedDevice(enrollment, SimulationOptions.defaults(1), scheduler, 3);
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
        }
    }
}
