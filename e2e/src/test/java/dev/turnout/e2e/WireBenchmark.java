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
 * moved before blobs), the archive gzipped (the compressed image) and the app layer gzipped. A program, not a test:
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
                images.remove(repo + ":3.0.0");
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
