package dev.turnout.e2e;

import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.edge.app.EdgeMain;
import dev.turnout.orchestrator.app.ServerOptions;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Signing-key rotation with a real edge daemon and Docker engine (issue 21): {@code turnout key rotate --activate}
 * waits until the daemon trusts the new key, the daemon keeps trusting it across a restart, a bundle signed before
 * the rotation still imports until its key is retired, and then it is refused.
 */
class KeyRotationEndToEndIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-keys-" + run;
    private final String imageRef = "turnout-e2e/keys-" + run + ":1.0.0";
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private TurnoutServer server;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void theDaemonMovesToTheNewKeyAndOldBundlesImportUntilTheOldKeyIsRetired() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();
        Path archive = images.build(imageRef, "1.0.0", true, work);
        images.remove(imageRef);
        Path spec = Files.writeString(work.resolve("web.yaml"), TestImages.WEB_SPEC);
        assertThat(cli("release", "create", "web:1.0.0", "--image", images.enginePlatform() + "=" + archive,
                "--spec", spec.toString()).code()).isZero();
        Path bundle = work.resolve("usb/web-1.0.0.tar");
        Files.createDirectories(bundle.getParent());
        assertThat(cli("bundle", "export", "web:1.0.0", "--out", bundle.toString()).code()).isZero();
        String oldKey = cli("key", "list").out().lines().filter(l -> l.contains(" active ")).findFirst().orElseThrow().split("\\s+")[0];

        Path data = work.resolve("edge");
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), data);
        Operator.Result rotated = cli("key", "rotate", "--activate", "--timeout", "60s");
        assertThat(rotated.code()).as(rotated.toString()).isZero();
        assertThat(rotated.out()).contains("every enrolled device trusts it").contains("1/1");
        String newKey = rotated.out().lines().findFirst().orElseThrow().replaceAll("signing key (\\S+) is active.*", "$1");
        assertThat(newKey).isNotEqualTo(oldKey);
        edge.close();

        // the daemon's config still names only the old key: what it trusts now came signed, and stays
        assertThat(EdgeMain.run("cache", "import", bundle.toString(), "--config", config.toString(), "--data", data.toString()))
                .as("a bundle signed before the rotation imports while its key is a previous one").isZero();
        EdgeDaemon restarted = EdgeDaemon.start(EdgeConfig.load(config), data);
        toClose.add(restarted::close);
        Operator.Result deploy = cli("deploy", "web:1.0.0", "--target", "device:" + device, "--device-timeout", "1m", "--wait");
        assertThat(deploy.code()).as("signed by the new key, accepted after a restart: " + deploy).isZero();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            List<Containers.Container> running = containers.running(device);
            assertThat(running).hasSize(1);
            assertThat(running.get(0).version()).isEqualTo("1.0.0");
        });

        assertThat(cli("key", "retire", oldKey).code()).isZero();
        await("once retired, the old key's bundles are refused").atMost(Duration.ofSeconds(20)).until(() ->
                EdgeMain.run("cache", "import", bundle.toString(), "--config", config.toString(), "--data", data.toString()) == 1);
        assertThat(cli("devices").out()).contains(device);
    }

    private Operator.Result cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        images.remove(imageRef);
    }
}
