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
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A device that cannot reach the orchestrator's artifact server: the release comes on a "USB
 * stick" ({@code turnout bundle export} → {@code turnout-edge cache import}) and activates over MQTT
 * alone, with no download. The next release comes as a delta bundle ({@code --against 1.0.0}): only what changed.
 */
class OfflineBundleIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-offline-" + run;
    private final String imageRef = "turnout-e2e/offline-" + run + ":1.0.0";
    private final String imageRef2 = "turnout-e2e/offline-" + run + ":2.0.0";
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private TurnoutServer server;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aBundleImportedFromLocalMediaActivatesWithoutAnyDownload() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);

        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString())).isZero();
        // the device has no route to the orchestrator's HTTP API: only the broker
        String deadUrl = "http://127.0.0.1:" + Ports.free();
        Files.writeString(config, Files.readString(config).replaceAll("(?m)^orchestratorUrl: .*$", "orchestratorUrl: " + deadUrl));

        Path archive = images.build(imageRef, "1.0.0", true, work);
        images.remove(imageRef);
        Path spec = Files.writeString(work.resolve("web.yaml"), TestImages.WEB_SPEC);
        assertThat(cli("release", "create", "web:1.0.0", "--image", images.enginePlatform() + "=" + archive,
                "--spec", spec.toString())).isZero();

        Path bundle = work.resolve("usb/web-1.0.0.tar");
        Files.createDirectories(bundle.getParent());
        assertThat(cli("bundle", "export", "web:1.0.0", "--out", bundle.toString())).isZero();
        assertThat(bundle).isNotEmptyFile();

        Path data = work.resolve("edge");
        // a bundle that was tampered with is refused and leaves the cache alone
        Path tampered = work.resolve("usb/tampered.tar");
        byte[] bytes = Files.readAllBytes(bundle);
        bytes[bytes.length - 2048] ^= 0x5a;
        Files.write(tampered, bytes);
        assertThat(EdgeMain.run("cache", "import", tampered.toString(), "--config", config.toString(), "--data", data.toString()))
                .isEqualTo(1);
        assertThat(EdgeMain.run("cache", "import", bundle.toString(), "--config", config.toString(), "--data", data.toString()))
                .isZero();

        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), data);
        toClose.add(edge::close);
        assertThat(cli("deploy", "web:1.0.0", "--target", "device:" + device, "--device-timeout", "1m", "--wait")).isZero();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            List<Containers.Container> running = containers.running(device);
            assertThat(running).hasSize(1);
            assertThat(running.get(0).version()).isEqualTo("1.0.0");
        });

        // 2.0.0 on the next stick holds only what changed since 1.0.0, which the device holds
        Path archive2 = images.build(imageRef2, "2.0.0", true, work);
        images.remove(imageRef2);
        assertThat(cli("release", "create", "web:2.0.0", "--image", images.enginePlatform() + "=" + archive2,
                "--spec", spec.toString())).isZero();
        Path full = work.resolve("usb/web-2.0.0.tar");
        Path delta = work.resolve("usb/web-2.0.0-from-1.0.0.tar");
        assertThat(cli("bundle", "export", "web:2.0.0", "--out", full.toString())).isZero();
        assertThat(cli("bundle", "export", "web:2.0.0", "--against", "1.0.0", "--out", delta.toString())).isZero();
        System.out.printf("bundle of web 2.0.0: full %,d bytes, against 1.0.0 %,d bytes%n", Files.size(full), Files.size(delta));
        assertThat(Files.size(delta)).as("the changed layer as a delta, config and manifests whole").isLessThan(Files.size(full) / 4);
        // a device that lacks 1.0.0 refuses it and changes nothing
        Path other = work.resolve("edge-without-1.0.0");
        assertThat(EdgeMain.run("cache", "import", delta.toString(), "--config", config.toString(), "--data", other.toString()))
                .isEqualTo(1);
        try (var left = Files.walk(other)) {
            assertThat(left.filter(Files::isRegularFile).map(Path::toString)).noneMatch(f -> f.endsWith(".tar") || f.contains("/blobs/"));
        }
        assertThat(EdgeMain.run("cache", "import", delta.toString(), "--config", config.toString(), "--data", data.toString()))
                .isZero();
        assertThat(cli("deploy", "web:2.0.0", "--target", "device:" + device, "--device-timeout", "1m", "--wait")).isZero();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            List<Containers.Container> running = containers.running(device);
            assertThat(running).hasSize(1);
            assertThat(running.get(0).version()).isEqualTo("2.0.0");
        });
    }

    private int cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args).code();
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        images.remove(imageRef);
        images.remove(imageRef2);
    }
}
