package dev.turnout.broker;

import com.hivemq.embedded.EmbeddedExtension;
import com.hivemq.embedded.EmbeddedHiveMQ;
import dev.turnout.testsupport.Ports;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The extension as a standalone HiveMQ loads it: identities from a file the orchestrator writes. */
class StandaloneExtensionTest {

    @TempDir
    Path dir;

    @Test
    void identitiesComeFromTheFileAndANameThatLeavesItIsDropped() throws Exception {
        Path identities = dir.resolve("hivemq-identities");
        Files.writeString(identities, "# written by turnout\npi-1 device " + PasswordHash.hash("s1") + "\n"
                + "pi-2 device " + PasswordHash.hash("s2") + "\n", StandardCharsets.UTF_8);
        Path config = dir.resolve("turnout.properties");
        Files.writeString(config, "identities=" + identities + "\ntopicPrefix=turnout/v1\n", StandardCharsets.UTF_8);
        int port = Ports.free();
        Path conf = Files.createDirectories(dir.resolve("conf"));
        Files.writeString(conf.resolve("config.xml"), EmbeddedBroker.configXml("127.0.0.1", port, null, new BrokerStorage(BrokerStorage.Mode.MEMORY, 4)));
        try (EmbeddedHiveMQ hivemq = EmbeddedHiveMQ.builder().withConfigurationFolder(conf)
                .withDataFolder(Files.createDirectories(dir.resolve("data")))
                .withExtensionsFolder(Files.createDirectories(dir.resolve("extensions")))
                .withEmbeddedExtension(EmbeddedExtension.builder().withId("turnout-security").withName("Turnout security")
                        .withVersion("0.1.0").withPriority(1000).withStartPriority(1000)
                        .withExtensionMain(new StandaloneExtensionMain(config)).build())
                .build()) {
            hivemq.start().get(60, TimeUnit.SECONDS);
            String url = "tcp://127.0.0.1:" + port;
            MqttClient one = connect(url, "pi-1", "s1");
            MqttClient two = connect(url, "pi-2", "s2");
            assertThatThrownBy(() -> connect(url, "pi-1", "s2")).isInstanceOf(MqttException.class);

            // the orchestrator rewrote the file without pi-2: its connection goes, its next connect fails
            Path tmp = dir.resolve("hivemq-identities.tmp");
            Files.writeString(tmp, "pi-1 device " + PasswordHash.hash("s1") + "\n", StandardCharsets.UTF_8);
            Files.setLastModifiedTime(tmp, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5_000));
            Files.move(tmp, identities, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            await().atMost(Duration.ofSeconds(15)).until(() -> !two.isConnected());
            assertThatThrownBy(() -> connect(url, "pi-2", "s2")).isInstanceOf(MqttException.class);
            assertThat(one.isConnected()).isTrue();
            one.disconnect();
            one.close();
            two.close();
            hivemq.stop().get(30, TimeUnit.SECONDS);
        }
    }

    private static MqttClient connect(String url, String user, String password) throws MqttException {
        MqttClient client = new MqttClient(url, user, new MemoryPersistence());
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setConnectionTimeout(10);
        options.setUserName(user);
        options.setPassword(password.getBytes(StandardCharsets.UTF_8));
        client.connect(options);
        return client;
    }
}
