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

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.zip.GZIPOutputStream;

/**
 * {@code bin/bench wire [--base-mib 30]}: bytes on the wire and apply times of an image update, measured by a counting
 * TCP proxy between a real edge daemon (real Docker engine) and the orchestrator. The image: busybox, a base layer of
 * incompressible random bytes, a small app layer. Baselines from the same run: the whole archive (what every release
 * moved before blobs), the archive gzipped (the compressed image) and the app layer gzipped. Then a release that edits
 * 1 % of a 10 MiB layer, moved as a binary delta, against the same kind of release to a device that does not hold the
 * layer before it (the whole layer moves): bytes and apply times from the same run. A program, not a test:
 * it prints figures and passes or fails nothing.
 */
public final class WireBenchmark {

    private WireBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int baseMib = 30;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--base-mib") && i + 1 < args.length) {
                baseMib = Integer.parseInt(args[++i]);
            } else {
                System.err.println("usage: bin/bench wire [--base-mib 30]");
                System.exit(2);
            }
        }
        Requirements.dockerEngine(TestEngines.DEFAULT);
        Requirements.busybox();
        Path work = Files.createTempDirectory(Path.of("target"), "bench-wire-");
        String run = UUID.randomUUID().toString().substring(0, 8);
        String device = "layers-bench-" + run;
        String repo = "layers-bench/web-" + run;
        TestImages images = new TestImages(TestEngines.DEFAULT);
        Containers containers = new Containers(TestEngines.DEFAULT);
        try (Closer toClose = new Closer()) {
            TurnoutServer server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                    "127.0.0.1", Topics.DEFAULT_PREFIX));
            toClose.add(server::close);
            Operator cli = Operator.onServerHost(() -> work.resolve("server"), server::url);
            CountingProxy wire = toClose.add(CountingProxy.to("127.0.0.1", java.net.URI.create(server.url()).getPort()));
            Path config = work.resolve("device.yaml");
            check(cli.run("device", "enroll", device, "--out", config.toString()));
            Files.writeString(config, Files.readString(config).replaceAll("(?m)^orchestratorUrl: .*$", "orchestratorUrl: " + wire.url()));
            EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), work.resolve("edge"));
            toClose.add(edge::close);
            toClose.add(() -> {
                containers.removeAll(device);
                images.remove(repo + ":1.0.0");
                images.remove(repo + ":2.0.0");
                for (String version : List.of("3.0.0", "4.0.0", "5.0.0", "6.0.0")) {
                    images.remove(repo + ":" + version);
                }
            });

            String platform = images.enginePlatform();
            byte[] base = baseLayer(work, baseMib << 20);
            Path spec = Files.writeString(work.resolve("web.yaml"), TestImages.WEB_SPEC);
            Map<String, byte[]> appLayers = new LinkedHashMap<>();
            for (String version : List.of("1.0.0", "2.0.0", "3.0.0")) {
                byte[] app = appLayer(version);
                appLayers.put(version, app);
                TestImageArchives.Built image = TestImageArchives.layered(platform, List.of(base, app), List.of("/bin/sh"));
                Path archive = TestImageArchives.write(TestImageArchives.ociLayout(repo + ":" + version, image), work.resolve("web-" + version + ".tar"));
                check(cli.run("release", "create", "web:" + version, "--image", platform + "=" + archive, "--spec", spec.toString()));
            }
            long archiveBytes = Files.size(work.resolve("web-1.0.0.tar"));
            long gzipArchive = gzipSize(Files.newInputStream(work.resolve("web-1.0.0.tar")));
            long gzipApp = gzipSize(new java.io.ByteArrayInputStream(appLayers.get("2.0.0")));

            wire.reset();
            long start = System.nanoTime();
            check(cli.run("deploy", "web:1.0.0", "--target", "device:" + device, "--device-timeout", "5m", "--wait"));
            double firstSeconds = (System.nanoTime() - start) / 1e9;
            long first = wire.bytesToClient();
            long firstUp = wire.bytesToServer();

            wire.reset();
            start = System.nanoTime();
            check(cli.run("deploy", "web:2.0.0", "--target", "device:" + device, "--device-timeout", "5m", "--wait"));
            double secondSeconds = (System.nanoTime() - start) / 1e9;
            long second = wire.bytesToClient();
            long secondUp = wire.bytesToServer();

            // the same kind of release to a device that holds no blob (as every device was before blobs: all of it moves)
            deleteTree(work.resolve("edge/cache/blobs"));
            wire.reset();
            start = System.nanoTime();
            check(cli.run("deploy", "web:3.0.0", "--target", "device:" + device, "--device-timeout", "5m", "--wait"));
            double thirdSeconds = (System.nanoTime() - start) / 1e9;
            long third = wire.bytesToClient();

            // a release that edits 1 % of a 10 MiB layer: 4.0.0 brings the layer, 5.0.0 edits it (a delta against 4.0.0's),
            // 6.0.0 edits it again for a device that no longer holds 5.0.0's layer (the whole layer moves: the baseline)
            Map<String, Long> edited = new LinkedHashMap<>();
            Map<String, Double> editedSeconds = new LinkedHashMap<>();
            long bigLayer = 0;
            for (String version : List.of("4.0.0", "5.0.0", "6.0.0")) {
                byte[] app = bigAppLayer(version);
                bigLayer = app.length;
                appLayers.put(version, app);
                TestImageArchives.Built image = TestImageArchives.layered(platform, List.of(base, app), List.of("/bin/sh"));
                Path archive = TestImageArchives.write(TestImageArchives.ociLayout(repo + ":" + version, image), work.resolve("web-" + version + ".tar"));
                check(cli.run("release", "create", "web:" + version, "--image", platform + "=" + archive, "--spec", spec.toString()));
                if (version.equals("6.0.0")) {
                    Files.delete(work.resolve("edge/cache/blobs").resolve(TestImageArchives.sha256(appLayers.get("5.0.0")).substring(7)));
                }
                wire.reset();
                start = System.nanoTime();
                check(cli.run("deploy", "web:" + version, "--target", "device:" + device, "--device-timeout", "5m", "--wait"));
                editedSeconds.put(version, (System.nanoTime() - start) / 1e9);
                edited.put(version, wire.bytesToClient());
            }
            long gzipBig = gzipSize(new java.io.ByteArrayInputStream(appLayers.get("5.0.0")));

            System.out.printf(Locale.ROOT, "%nwire benchmark: base layer %d MiB of random bytes + busybox, app layer %,d bytes, on %s%n",
                    baseMib, appLayers.get("2.0.0").length, DockerCli.docker(TestEngines.DEFAULT, "version", "--format", "{{.Server.Version}}"));
            System.out.printf(Locale.ROOT, "  baseline: whole archive %,d bytes (what each release moved before), gzipped %,d; app layer gzipped %,d%n",
                    archiveBytes, gzipArchive, gzipApp);
            System.out.printf(Locale.ROOT, "  first install      %,12d bytes down (%,d up)  %.3f x the gzipped image (target <= 1.05)   apply %.1f s%n",
                    first, firstUp, (double) first / gzipArchive, firstSeconds);
            System.out.printf(Locale.ROOT, "  app-layer release  %,12d bytes down (%,d up)  %.3f x the gzipped app layer, %+.1f KiB over 1.05 x; %.4f x the whole archive   apply %.1f s%n",
                    second, secondUp, (double) second / gzipApp, (second - 1.05 * gzipApp) / 1024.0, (double) second / archiveBytes, secondSeconds);
            System.out.printf(Locale.ROOT, "  same release, nothing held %,10d bytes down  (baseline for the apply time: everything moves)   apply %.1f s%n",
                    third, thirdSeconds);
            System.out.printf(Locale.ROOT, "  a release that edits 1 %% of a %,d-byte layer (gzipped %,d):%n", bigLayer, gzipBig);
            System.out.printf(Locale.ROOT, "    with a binary delta  %,12d bytes down  %.4f x the layer (target <= 0.10), %.4f x the gzipped layer   apply %.1f s"
                    + " (the first device also waits for the delta to be made)%n", edited.get("5.0.0"), (double) edited.get("5.0.0") / bigLayer,
                    (double) edited.get("5.0.0") / gzipBig, editedSeconds.get("5.0.0"));
            System.out.printf(Locale.ROOT, "    whole layer (base not held) %,7d bytes down  %.4f x the layer   apply %.1f s   delta/whole: bytes %.4f, apply time %.2f%n",
                    edited.get("6.0.0"), (double) edited.get("6.0.0") / bigLayer, editedSeconds.get("6.0.0"),
                    (double) edited.get("5.0.0") / edited.get("6.0.0"), editedSeconds.get("5.0.0") / editedSeconds.get("6.0.0"));
        } finally {
            deleteTree(work);
        }
    }

    private static void check(Operator.Result result) {
        if (result.code() != 0) {
            throw new IllegalStateException("turnout failed: " + result);
        }
    }

    private static byte[] baseLayer(Path work, int randomBytes) throws IOException {
        Path root = Files.createDirectories(work.resolve("rootfs"));
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "httpd", "wget", "cat", "true")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        for (String dir : List.of("tmp", "etc", "proc", "sys", "dev", "www")) {
            Files.createDirectories(root.resolve(dir));
        }
        byte[] random = new byte[randomBytes];
        new Random(16).nextBytes(random);
        Files.write(root.resolve("base.bin"), random);
        Path tar = work.resolve("base.tar");
        DockerCli.output("tar", "-C", root.toString(), "-cf", tar.toString(), ".");
        return Files.readAllBytes(tar);
    }

    /** A few KiB of an app: its document root, with some text that compresses as source and config do. */
    private static byte[] appLayer(String version) {
        byte[] v = (version + "\n").getBytes(StandardCharsets.UTF_8);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("www/version", v);
        files.put("www/health", v);
        files.put("www/index.html", ("<html><body><h1>trains " + version + "</h1>\n"
                + "<p>points, signals and the timetable of the layout</p>\n".repeat(60) + "</body></html>\n").getBytes(StandardCharsets.UTF_8));
        return TestImageArchives.layerTar(files);
    }

    /**
     * The app's document root and 10 MiB of text (letters at random: it compresses about as well as binaries do) in
     * which each version from 5.0.0 on rewrites its own 1 %.
     */
    private static byte[] bigAppLayer(String version) {
        int size = 10 << 20;
        Random random = new Random(10);
        byte[] data = new byte[size];
        for (int i = 0; i < size; i++) {
            data[i] = (byte) ('a' + random.nextInt(26));
        }
        int major = version.charAt(0) - '0';
        if (major >= 5) {
            Random edits = new Random(major);
            for (int i = (major - 4) * size / 4, end = i + size / 100; i < end; i++) {
                data[i] = (byte) ('A' + edits.nextInt(26));
            }
        }
        byte[] v = (version + "\n").getBytes(StandardCharsets.UTF_8);
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("www/version", v);
        files.put("www/health", v);
        files.put("www/data.txt", data);
        return TestImageArchives.layerTar(files);
    }

    private static long gzipSize(InputStream in) throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (in; OutputStream gz = new GZIPOutputStream(sink, 64 * 1024)) {
            in.transferTo(gz);
        }
        return sink.size();
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
