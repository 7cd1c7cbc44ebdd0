package dev.turnout.e2e;

import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TlsOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A real edge daemon updated over TLS end to end, set up as docs/security.md says: {@code turnout
 * server --tls}, the CLI over HTTPS pinning the server's CA, enrollment hands the device the CA and
 * {@code ssl://} / {@code https://} URLs, the daemon gets its desired states over MQTT over TLS
 * and downloads the image archive over HTTPS, then runs it on this machine's Docker engine.
 */
class TlsEndToEndIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-tls-" + run;
    private final String imageRepo = "turnout-e2e/tls-web-" + run;
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private TurnoutServer server;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aRealDaemonUpdatesOverMqttOverTlsAndHttps() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null, "127.0.0.1",
                Topics.DEFAULT_PREFIX).withTls(TlsOptions.generated()));
        toClose.add(server::close);

        Path config = work.resolve("device.yaml");
        Operator.Result enrolled = cli("device", "enroll", device, "--out", config.toString());
        assertThat(enrolled.code()).as(enrolled.toString()).isZero();
        assertThat(Files.readString(config)).contains("brokerUrl: ssl://127.0.0.1:", "orchestratorUrl: https://127.0.0.1:", "ca: |");
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), work.resolve("edge"));
        toClose.add(edge::close);
        await().atMost(Duration.ofSeconds(30)).until(() -> cli("devices").out().lines().anyMatch(l -> l.startsWith(device) && l.contains(" yes")));

        Path spec = work.resolve("web.yaml");
        Files.writeString(spec, TestImages.WEB_SPEC, StandardCharsets.UTF_8);
        Path archive = images.build(imageRepo + ":1.0.0", "1.0.0", true, work);
        images.remove(imageRepo + ":1.0.0"); // the daemon must download and load it
        Operator.Result created = cli("release", "create", "web:1.0.0", "--image", images.enginePlatform() + "=" + archive, "--spec", spec.toString());
        assertThat(created.code()).as(created.toString()).isZero();

        Operator.Result deployed = cli("deploy", "web:1.0.0", "--target", "device:" + device, "--wait");

        assertThat(deployed.code()).as(deployed.toString()).isZero();
        List<Containers.Container> running = containers.running(device);
        assertThat(running).hasSize(1);
        assertThat(running.get(0).version()).isEqualTo("1.0.0");
        assertThat(work.resolve("edge/cache")).isDirectoryContaining(p -> p.getFileName().toString().endsWith(".tar"));
    }

    private Operator.Result cli(String... args) {
        return Operator.withEnvironment(() -> Map.of("TURNOUT_SERVER", server.url(), "TURNOUT_CA", server.caFile().toString(),
                "TURNOUT_TOKEN", server.operatorToken(), "TURNOUT_DATA", work.resolve("elsewhere").toString())).run(args);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        images.remove(imageRepo + ":1.0.0");
    }
}
