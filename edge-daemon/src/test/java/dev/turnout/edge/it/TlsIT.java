package dev.turnout.edge.it;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.cache.ArtifactCache;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.mqtt.MqttLink;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The daemon's two TLS clients against real servers: MQTT to a Mosquitto with a TLS listener, and
 * artifact downloads from an HTTPS server. Each trusts exactly the CA of the device's config and
 * verifies the host name; a certificate problem fails with a sentence that says which one.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class TlsIT {

    @TempDir
    Path dir;

    private TestPki pki;
    private Mosquitto mosquitto;
    private HttpsServer https;
    private final byte[] archive = "an image archive".repeat(1000).getBytes(StandardCharsets.UTF_8);

    @BeforeEach
    void start() throws Exception {
        Requirements.mosquitto();
        // Mosquitto started as root drops to its own user: it must be able to enter the directory and read the test key
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        pki = new TestPki("device test CA");
        TestPki.Server server = pki.server("127.0.0.1");
        Files.writeString(dir.resolve("ca.pem"), pki.caPem());
        server.writeTo(dir.resolve("server.pem"), dir.resolve("server.key"));
        Files.setPosixFilePermissions(dir.resolve("server.key"), PosixFilePermissions.fromString("rw-r--r--"));
        mosquitto = Mosquitto.anonymousTls(dir.resolve("mosquitto"), dir.resolve("ca.pem"), dir.resolve("server.pem"), dir.resolve("server.key"));

        https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        https.setHttpsConfigurator(new HttpsConfigurator(server.sslContext()));
        https.createContext("/api/v1/artifacts/", exchange -> {
            exchange.sendResponseHeaders(200, archive.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(archive);
            }
        });
        https.start();
    }

    @AfterEach
    void stop() {
        if (https != null) {
            https.stop(0);
        }
        if (mosquitto != null) {
            mosquitto.close();
        }
    }

    @Test
    void aDeviceConnectsAndDownloadsPinningTheCaOfItsConfig() throws Exception {
        EdgeConfig config = EdgeConfig.load(config("ssl://127.0.0.1:" + mosquitto.port(), pki.caPem()));
        assertThat(config.toString()).contains("ca=pinned");

        try (MqttLink link = link(config)) {
            link.connect(Duration.ofSeconds(20));
            assertThat(link.isConnected()).isTrue();
        }
        ArtifactCache cache = new ArtifactCache(dir.resolve("cache"), config.orchestratorUrl(), config.pinnedTrust());
        assertThat(Files.readAllBytes(cache.fetch(artifact()))).isEqualTo(archive);
    }

    @Test
    void certificatesFromAnotherCaAreRefusedWithASentenceThatSaysSo() throws Exception {
        EdgeConfig config = EdgeConfig.load(config("ssl://127.0.0.1:" + mosquitto.port(), new TestPki("someone else's CA").caPem()));

        try (MqttLink link = link(config)) {
            assertThatThrownBy(() -> link.connect(Duration.ofSeconds(3)))
                    .hasMessageContaining("cannot connect to the broker ssl://127.0.0.1:" + mosquitto.port())
                    .hasMessageContaining("the broker certificate (CN=test server) is not signed by the CA in your config (ca)");
        }
        ArtifactCache cache = new ArtifactCache(dir.resolve("cache"), config.orchestratorUrl(), config.pinnedTrust());
        assertThatThrownBy(() -> cache.fetch(artifact())).isInstanceOf(UpdateFailure.class)
                .hasMessageContaining("the orchestrator certificate (CN=test server) is not signed by the CA in your config (ca)");
        assertThat(dir.resolve("cache")).isEmptyDirectory();
    }

    @Test
    void aCertificateThatDoesNotNameTheHostIsRefused() throws Exception {
        EdgeConfig config = EdgeConfig.load(config("ssl://localhost:" + mosquitto.port(), pki.caPem()));

        try (MqttLink link = link(config)) {
            assertThatThrownBy(() -> link.connect(Duration.ofSeconds(3)))
                    .hasMessageContaining("does not name localhost").hasMessageContaining("it names 127.0.0.1");
        }
    }

    @Test
    void aConfigWhoseCaIsNotACertificateIsRefusedAtLoad() throws Exception {
        Path bad = config("ssl://127.0.0.1:" + mosquitto.port(), "not a certificate");
        assertThatThrownBy(() -> EdgeConfig.load(bad)).hasMessageContaining(bad.toString()).hasMessageContaining("ca holds no PEM certificate");
    }

    private Path config(String brokerUrl, String caPem) throws Exception {
        SigningKey key = SigningKey.generate();
        String https = "https://127.0.0.1:" + this.https.getAddress().getPort();
        StringBuilder yaml = new StringBuilder()
                .append("deviceId: tls-device\n")
                .append("brokerUrl: ").append(brokerUrl).append('\n')
                .append("orchestratorUrl: ").append(https).append('\n')
                .append("trustedKeys:\n  - keyId: ").append(key.keyId()).append("\n    publicKey: ").append(key.publicKey().toBase64()).append('\n')
                .append("ca: |\n");
        caPem.lines().forEach(l -> yaml.append("  ").append(l).append('\n'));
        Path file = dir.resolve("edge-" + System.nanoTime() + ".yaml");
        Files.writeString(file, yaml);
        return file;
    }

    private MqttLink link(EdgeConfig config) throws Exception {
        return new MqttLink(config.brokerUrl(), config.deviceId(), Topics.defaults(), null, null, payload -> { },
                () -> Presence.newBuilder().setDeviceId(config.deviceId()).setOnline(true).build(), List::of, config.pinnedTrust());
    }

    private ImageArtifact artifact() throws Exception {
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(archive));
        return ImageArtifact.newBuilder().setPlatform("linux/arm64").setArchiveDigest(digest).setSize(archive.length)
                .setUrl("/api/v1/artifacts/" + digest).setImageId("sha256:x").build();
    }
}
