package dev.turnout.e2e;

import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.CountingProxy;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImageArchives;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Only what changed moves, on a real engine (each engine {@code TURNOUT_TEST_ENGINES} names, so both image stores):
 * three releases share a base layer of 2 MiB of random bytes; the device downloads it once, through a counting proxy
 * between it and the orchestrator. The second release edits 1 % of the 1 MiB app layer and moves it as a binary delta
 * against the first's; the third finds its delta damaged on the orchestrator's disk, refuses it and fetches the whole
 * layer. A rollback with the orchestrator unreachable rebuilds the previous release's archive from the blobs the device
 * kept.
 */
@ParameterizedClass(name = "{0}")
@MethodSource("engines")
class LayeredUpdateIT {

    private static final int BASE_BYTES = 2 << 20;
    private static final int APP_DATA_BYTES = 1 << 20;

    @Parameter
    TestEngines.Engine engine;

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "layers-e2e-" + run;
    private final String repo = "layers-e2e/web-" + run;
    private final Closer toClose = new Closer();
    private TurnoutServer server;

    /**
     * The default engine and the newest one (containerd image store): the archive a device writes from its blobs is
     * byte for byte the archive it would have downloaded, which every engine's end-to-end test loads already; the
     * engines in between add minutes to CI and no case.
     */
    static Stream<TestEngines.Engine> engines() {
        java.util.List<TestEngines.Engine> all = TestEngines.all();
        return (all.size() <= 2 ? all : java.util.List.of(all.get(0), all.get(all.size() - 1))).stream();
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void theSecondReleaseMovesOnlyItsAppLayerAndRollbackNeedsNoNetwork() throws Exception {
        Requirements.dockerEngine(engine);
        Requirements.busybox();
        TestImages images = new TestImages(engine);
        Containers containers = new Containers(engine);
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        CountingProxy wire = CountingProxy.to("127.0.0.1", java.net.URI.create(server.url()).getPort());
        toClose.add(wire);

        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString())).isZero();
        String yaml = Files.readString(config).replaceAll("(?m)^orchestratorUrl: .*$", "orchestratorUrl: " + wire.url())
                .replaceAll("(?m)^dockerHost:.*\\R?", "");
        Files.writeString(config, yaml + (yaml.endsWith("\n") ? "" : "\n") + "dockerHost: " + engine.dockerHost() + "\n");
        Path data = work.resolve("edge");
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), data);
        toClose.add(edge::close);

        String platform = images.enginePlatform();
        byte[] base = baseLayer();
        Path spec = Files.writeString(work.resolve("web.yaml"), TestImages.WEB_SPEC);
        for (String version : List.of("1.0.0", "2.0.0", "3.0.0")) {
            Path archive = archive(platform, base, version);
            assertThat(cli("release", "create", "web:" + version, "--image", platform + "=" + archive, "--spec", spec.toString())).isZero();
        }

        assertThat(cli("deploy", "web:1.0.0", "--target", "device:" + device, "--device-timeout", "1m", "--wait")).isZero();
        assertRuns(containers, "1.0.0");
        long first = wire.bytesToClient();
        long archiveBytes = Files.size(work.resolve("web-1.0.0.tar"));
        assertThat(first).as("the first install moves the whole image once, compressed where it compresses")
                .isBetween((long) BASE_BYTES, archiveBytes);

        wire.reset();
        assertThat(cli("deploy", "web:2.0.0", "--target", "device:" + device, "--device-timeout", "1m", "--wait")).isZero();
        assertRuns(containers, "2.0.0");
        long second = wire.bytesToClient();
        long appLayer = appLayer("2.0.0").length;
        System.out.printf("on %s: first install moved %,d bytes, the release that edits 1 %% of the %,d-byte app layer %,d bytes"
                + " (base layer %,d)%n", engine, first, appLayer, second, BASE_BYTES);
        assertThat(second).as("the base layer stays; the app layer moves as a delta against 1.0.0's, with a few KiB of metadata")
                .isLessThan(appLayer / 10);
        assertThat(work.resolve("server/artifacts/deltas/" + hex(appLayer("1.0.0")) + "-" + hex(appLayer("2.0.0")) + ".zst"))
                .as("made once, kept for the next device").exists();

        // a damaged delta on the orchestrator's disk: the device refuses what it makes and fetches the whole layer instead
        Path planted = work.resolve("server/artifacts/deltas/" + hex(appLayer("2.0.0")) + "-" + hex(appLayer("3.0.0")) + ".zst");
        Path held = Files.write(work.resolve("app-2.tar"), appLayer("2.0.0"));
        Path target = Files.write(work.resolve("app-3.tar"), appLayer("3.0.0"));
        dev.turnout.proto.image.LayerDelta.write(held, target, planted);
        byte[] delta = Files.readAllBytes(planted);
        delta[delta.length / 2] ^= 0x20;
        Files.write(planted, delta);
        wire.reset();
        assertThat(cli("deploy", "web:3.0.0", "--target", "device:" + device, "--device-timeout", "1m", "--wait")).isZero();
        assertRuns(containers, "3.0.0");
        long third = wire.bytesToClient();
        System.out.printf("on %s: with a damaged delta the release moved %,d bytes%n", engine, third);
        assertThat(third).as("the damaged delta, then the whole app layer (compressed)").isGreaterThan(appLayer / 3 + delta.length);

        // the orchestrator's HTTP goes away (the broker stays); the previous release's archive is lost too
        wire.close();
        try (Stream<Path> cached = Files.list(data.resolve("cache"))) {
            for (Path archive : cached.filter(p -> p.getFileName().toString().endsWith(".tar")).toList()) {
                Files.delete(archive);
            }
        }
        images.remove(repo + ":2.0.0");
        assertThat(cli("rollback", "web", "--to", "2.0.0", "--target", "device:" + device, "--wait")).isZero();
        assertRuns(containers, "2.0.0");
    }

    private static String hex(byte[] layer) {
        return TestImageArchives.sha256(layer).substring("sha256:".length());
    }

    /** busybox, an httpd document root, and {@link #BASE_BYTES} of random bytes: the same layer for every release. */
    private byte[] baseLayer() throws Exception {
        Path root = Files.createDirectories(work.resolve("rootfs"));
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "httpd", "wget", "cat", "true")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        for (String dir : List.of("tmp", "etc", "proc", "sys", "dev", "www")) {
            Files.createDirectories(root.resolve(dir));
        }
        byte[] random = new byte[BASE_BYTES];
        new Random(16).nextBytes(random);
        Files.write(root.resolve("base.bin"), random);
        Path tar = work.resolve("base.tar");
        DockerCli.output("tar", "-C", root.toString(), "-cf", tar.toString(), ".");
        return Files.readAllBytes(tar);
    }

    /** The release's image: the shared base and an app layer with the version's document root, in an OCI archive. */
    private Path archive(String platform, byte[] base, String version) {
        byte[] app = appLayer(version);
        TestImageArchives.Built image = TestImageArchives.layered(platform, List.of(base, app), List.of("/bin/sh"));
        return TestImageArchives.write(TestImageArchives.ociLayout(repo + ":" + version, image), work.resolve("web-" + version + ".tar"));
    }

    /**
     * The version's document root: its version, and {@link #APP_DATA_BYTES} of text in which each version rewrites its
     * own 1 % (so each release's app layer is an edit of the one before).
     */
    private static byte[] appLayer(String version) {
        byte[] versionFile = (version + "\n").getBytes(StandardCharsets.UTF_8);
        Random random = new Random(16);
        byte[] data = new byte[APP_DATA_BYTES];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) ('a' + random.nextInt(26));
        }
        int major = version.charAt(0) - '0';
        Random edits = new Random(major);
        for (int i = major * APP_DATA_BYTES / 5, end = i + APP_DATA_BYTES / 100; i < end; i++) {
            data[i] = (byte) ('A' + edits.nextInt(26));
        }
        Map<String, byte[]> files = new java.util.LinkedHashMap<>();
        files.put("www/version", versionFile);
        files.put("www/health", versionFile);
        files.put("www/index.html", ("version " + version + "\n").getBytes(StandardCharsets.UTF_8));
        files.put("www/data.txt", data);
        return TestImageArchives.layerTar(files);
    }

    private void assertRuns(Containers containers, String version) {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            List<Containers.Container> running = containers.running(device);
            assertThat(running).hasSize(1);
            assertThat(running.get(0).version()).isEqualTo(version);
        });
    }

    private int cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args).code();
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        new Containers(engine).removeAll(device);
        TestImages images = new TestImages(engine);
        images.remove(repo + ":1.0.0");
        images.remove(repo + ":2.0.0");
        images.remove(repo + ":3.0.0");
    }
}
