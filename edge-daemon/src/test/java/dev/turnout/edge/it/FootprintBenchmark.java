package dev.turnout.edge.it;

import com.google.protobuf.Message;
import dev.turnout.edge.cache.ArtifactCache;
import dev.turnout.edge.docker.DockerContainerRuntime;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.image.ArchiveEntries;
import dev.turnout.proto.image.ImageArchive;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.awaitility.core.ConditionTimeoutException;

import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.awaitility.Awaitility.await;

/**
 * Benchmark, not a test: the packaged daemon's resident memory idle and during updates, with the JVM flags of
 * {@code bin/turnout-edge}, and the time from publishing ACTIVATE to the ACTIVE report against {@code docker load}
 * plus {@code docker run} by hand on the same archive, in the same run. Each round times by hand a load + run and a
 * load + stop + run (an update of a running version), then the daemon three ways: cold (ACTIVATE with no STAGE: it
 * downloads), staged (STAGE first, untimed, as rollouts do) and on-device (the archive imported into its cache
 * first, as from an offline bundle). Needs Docker, Mosquitto, busybox-static
 * and {@code target/turnout-edge-device.jar}. Run from {@code edge-daemon/}:
 * <pre>
 * mvn -o -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
 * java -cp target/test-classes:target/classes:../proto/target/classes:$(cat target/cp.txt) dev.turnout.edge.it.FootprintBenchmark [ROUNDS]
 * </pre>
 * {@code -Dbench.flags="..."} replaces the daemon's JVM flags.
 */
public final class FootprintBenchmark {

    /** The launcher's flags: {@code bin/turnout-edge} passes this file to java as an argument file. */
    static final List<String> LAUNCHER_FLAGS = List.of("@jvm.options");

    private FootprintBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        String run = "bench-" + UUID.randomUUID().toString().substring(0, 8);
        String device = run + "-dev";
        Path work = Files.createTempDirectory("turnout-bench");
        SigningKey key = SigningKey.generate();
        Topics topics = Topics.defaults();
        List<String> images = new ArrayList<>();
        Process daemon = null;
        try (Mosquitto mosquitto = Mosquitto.anonymous(work.resolve("mosquitto")); ArtifactServer artifacts = new ArtifactServer()) {
            String platform = platform();
            int port = Ports.free();
            Path config = work.resolve("edge.yaml");
            Files.writeString(config, """
                    deviceId: %s
                    brokerUrl: %s
                    orchestratorUrl: %s
                    healthReportInterval: 10s
                    dockerHost: %s
                    trustedKeys:
                      - keyId: %s
                        publicKey: %s
                    """.formatted(device, mosquitto.url(), artifacts.baseUrl(), DOCKER_HOST, key.keyId(), key.publicKey().toBase64()));
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            List<String> flags = System.getProperty("bench.flags") == null ? LAUNCHER_FLAGS
                    : List.of(System.getProperty("bench.flags").trim().split("\\s+"));
            command.addAll(flags);
            command.addAll(List.of("-jar", "target/turnout-edge-device.jar", "--config", config.toString(), "--data", work.resolve("data").toString()));
            ProcessBuilder builder = new ProcessBuilder(command);
            builder.environment().putIfAbsent("MALLOC_ARENA_MAX", "2"); // as bin/turnout-edge
            daemon = builder.redirectErrorStream(true).redirectOutput(work.resolve("daemon.log").toFile()).start();
            MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), topics, device);
            try {
                orchestrator.await(Presence.class, Presence::getOnline, Duration.ofSeconds(30));
            } catch (AssertionError e) {
                throw new IllegalStateException("daemon did not come online; see " + work.resolve("daemon.log"), e);
            }
            Thread.sleep(10_000); // a measurement, not a wait for an event: the idle footprint once start-up garbage settled
            long idleRss = rssKb(daemon.pid());
            long idleAnon = statusKb(daemon.pid(), "RssAnon:");
            long idleFile = statusKb(daemon.pid(), "RssFile:");

            long[] daemonMs = new long[rounds];
            long[] manualMs = new long[rounds];
            long[] manualUpdateMs = new long[rounds];
            long[] stagedMs = new long[rounds];
            long[] cachedMs = new long[rounds];
            long sequence = 0;
            AtomicLong peakRss = new AtomicLong();
            List<String> cmd = List.of("/bin/httpd", "-f", "-p", "127.0.0.1:" + port, "-h", "/www"); // answers /health with its version
            for (int i = 0; i < rounds; i++) {
                // three versions a round, always upwards: cold, staged, on-device
                Built coldImage = build(work, run, "1." + (3 * i) + ".0", images);
                Built stagedImage = build(work, run, "1." + (3 * i + 1) + ".0", images);
                Built onDeviceImage = build(work, run, "1." + (3 * i + 2) + ".0", images);
                List<String> dockerRun = List.of("docker", "run", "-d", "--init", "--network", "none", "--label", "dev.turnout.bench=" + run);

                // by hand: docker load + docker run on the same archive
                long t0 = System.nanoTime();
                DockerCli.output("docker", "load", "-q", "-i", coldImage.archive().toString());
                String manual = DockerCli.output(concat(concat(dockerRun, List.of(coldImage.id())), cmd).toArray(String[]::new));
                manualMs[i] = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                // by hand as an update is done today, with that container running: docker load + docker stop + docker run
                t0 = System.nanoTime();
                DockerCli.output("docker", "load", "-q", "-i", onDeviceImage.archive().toString());
                DockerCli.output("docker", "stop", manual);
                String manualNext = DockerCli.output(concat(concat(dockerRun, List.of(onDeviceImage.id())), cmd).toArray(String[]::new));
                manualUpdateMs[i] = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                DockerCli.output("docker", "rm", "-f", manual, manualNext);
                DockerCli.output("docker", "rmi", "-f", coldImage.id(), onDeviceImage.id());

                // the daemon, cold: ACTIVATE published -> ACTIVE received (download, verify, load, create, stop old, start)
                Release cold = release(artifacts, coldImage, platform, cmd);
                daemonMs[i] = update(orchestrator, topics, key, device, ++sequence, cold, Phase.ACTIVATE, daemon, peakRss);

                // the daemon as a rollout drives it: STAGE first (download, verify, docker load, untimed), then
                // ACTIVATE published -> ACTIVE received (create, stop old, start)
                Release staged = release(artifacts, stagedImage, platform, cmd);
                update(orchestrator, topics, key, device, ++sequence, staged, Phase.STAGE, daemon, peakRss);
                stagedMs[i] = update(orchestrator, topics, key, device, ++sequence, staged, Phase.ACTIVATE, daemon, peakRss);

                // the archive already on the device, as the manual path has it: imported from an offline bundle
                // (untimed, the code of `turnout-edge cache import`), then ACTIVATE published -> ACTIVE received
                // (docker load from the cache, create, stop old, start)
                Release onDevice = release(artifacts, onDeviceImage, platform, cmd);
                try (InputStream in = Files.newInputStream(onDeviceImage.archive())) {
                    new ArtifactCache(work.resolve("data").resolve("cache"), null)
                            .importArchive(onDevice.getImages(0), in, Files.size(onDeviceImage.archive()));
                }
                cachedMs[i] = update(orchestrator, topics, key, device, ++sequence, onDevice, Phase.ACTIVATE, daemon, peakRss);
            }
            Thread.sleep(5_000); // a measurement, not a wait for an event: the footprint once the updates' garbage settled
            long afterRss = rssKb(daemon.pid());

            // Downtime: the app on the host network, where old and new compete for one port as train containers
            // compete for their hardware; a poller asks for /health every millisecond. The downtime is the time
            // from the old version's last answer to the new version's first.
            int downRounds = Math.min(rounds, 5);
            long[] manualDownMs = new long[downRounds];
            long[] daemonDownMs = new long[downRounds];
            List<String> hostRun = List.of("docker", "run", "-d", "--init", "--network", "host", "--label", "dev.turnout.bench=" + run);
            List<Built[]> pairs = new ArrayList<>();
            for (int i = 0; i < downRounds; i++) {
                pairs.add(new Built[] {build(work, run, "2." + (2 * i) + ".0", images), build(work, run, "2." + (2 * i + 1) + ".0", images)});
            }
            for (int i = 0; i < downRounds; i++) { // by hand first: the daemon's app holds the port once it is on the host network
                Built before = pairs.get(i)[0];
                Built after = pairs.get(i)[1];
                // docker load + docker stop + docker run, the old version answering until it stops
                DockerCli.output("docker", "load", "-q", "-i", before.archive().toString());
                String old = DockerCli.output(concat(concat(hostRun, List.of(before.id())), cmd).toArray(String[]::new));
                try (Poller poller = new Poller(port, before.version(), after.version())) {
                    DockerCli.output("docker", "load", "-q", "-i", after.archive().toString());
                    DockerCli.output("docker", "stop", old);
                    String next = DockerCli.output(concat(concat(hostRun, List.of(after.id())), cmd).toArray(String[]::new));
                    manualDownMs[i] = poller.downtimeMs();
                    DockerCli.output("docker", "rm", "-f", old, next);
                }
                DockerCli.output("docker", "rmi", "-f", before.id(), after.id());
            }
            for (int i = 0; i < downRounds; i++) {
                Built before = pairs.get(i)[0];
                Built after = pairs.get(i)[1];
                // the old version on the host network first (untimed), then STAGE + ACTIVATE the new one, as a rollout does
                update(orchestrator, topics, key, device, ++sequence, release(artifacts, before, platform, cmd, "host"), Phase.ACTIVATE,
                        daemon, peakRss);
                Release next = release(artifacts, after, platform, cmd, "host");
                update(orchestrator, topics, key, device, ++sequence, next, Phase.STAGE, daemon, peakRss);
                try (Poller poller = new Poller(port, before.version(), after.version())) {
                    update(orchestrator, topics, key, device, ++sequence, next, Phase.ACTIVATE, daemon, peakRss);
                    daemonDownMs[i] = poller.downtimeMs();
                }
            }
            orchestrator.close();

            System.out.printf("archive size: %d KiB (busybox-static image)%n", Files.size(work.resolve("image-1.0.0.tar")) / 1024);
            System.out.printf("JVM flags: %s%n", flags.equals(LAUNCHER_FLAGS)
                    ? String.join(" ", Files.readAllLines(Path.of("jvm.options"))) + " (jvm.options)" : String.join(" ", flags));
            System.out.printf("RSS idle after start: %.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB); peak during %d rounds: %.1f MiB;"
                    + " idle after them: %.1f MiB%n", idleRss / 1024.0, idleAnon / 1024.0, idleFile / 1024.0, rounds,
                    peakRss.get() / 1024.0, afterRss / 1024.0);
            System.out.printf("docker load + docker run (by hand), ms: %s median %d%n", Arrays.toString(manualMs), median(manualMs));
            System.out.printf("docker load + docker stop OLD + docker run (an update by hand), ms: %s median %d%n",
                    Arrays.toString(manualUpdateMs), median(manualUpdateMs));
            System.out.printf("cold ACTIVATE -> ACTIVE (daemon, download + load + swap), ms: %s median %d, ratio %.2f%n",
                    Arrays.toString(daemonMs), median(daemonMs), (double) median(daemonMs) / median(manualMs));
            System.out.printf("staged ACTIVATE -> ACTIVE (daemon, image loaded at STAGE, swap only), ms: %s median %d, ratio %.2f%n",
                    Arrays.toString(stagedMs), median(stagedMs), (double) median(stagedMs) / median(manualMs));
            System.out.printf("on-device ACTIVATE -> ACTIVE (daemon, archive in its cache from a bundle: load + swap), ms: %s median %d, ratio %.2f"
                    + " (%.2f against the update by hand)%n", Arrays.toString(cachedMs), median(cachedMs), (double) median(cachedMs) / median(manualMs),
                    (double) median(cachedMs) / median(manualUpdateMs));
            System.out.printf("downtime, last answer of the old version -> first of the new (host network), by hand (load + stop + run), ms:"
                    + " %s median %d%n", Arrays.toString(manualDownMs), median(manualDownMs));
            System.out.printf("downtime, the same, the daemon's staged ACTIVATE, ms: %s median %d, ratio %.2f%n",
                    Arrays.toString(daemonDownMs), median(daemonDownMs), (double) median(daemonDownMs) / median(manualDownMs));
        } finally {
            if (daemon != null) {
                daemon.destroy();
                daemon.waitFor(20, TimeUnit.SECONDS);
            }
            String ids = DockerCli.output("docker", "ps", "-aq", "--filter", "label=dev.turnout.device=" + device)
                    + " " + DockerCli.output("docker", "ps", "-aq", "--filter", "label=dev.turnout.bench=" + run);
            for (String id : ids.split("\\s+")) {
                if (!id.isBlank()) {
                    DockerCli.exitCode("docker", "rm", "-f", id);
                }
            }
            for (String id : images) {
                DockerCli.exitCode("docker", "rmi", "-f", id);
            }
        }
    }

    /**
     * Asks {@code http://127.0.0.1:PORT/health} (which answers the version) about every millisecond on its own thread,
     * from construction until the new version has answered, and remembers the old version's last answer and the
     * new version's first.
     */
    private static final class Poller implements AutoCloseable {
        private final Thread thread;
        private final URI uri;
        private final String oldVersion;
        private final String newVersion;
        private volatile long lastOld;
        private volatile long firstNew;

        Poller(int port, String oldVersion, String newVersion) throws Exception {
            this.uri = URI.create("http://127.0.0.1:" + port + "/health");
            this.oldVersion = oldVersion;
            this.newVersion = newVersion;
            thread = new Thread(this::poll, "downtime-poller");
            thread.setDaemon(true);
            thread.start();
            try {
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(5)).until(() -> lastOld != 0);
            } catch (ConditionTimeoutException e) {
                throw new IllegalStateException("version " + oldVersion + " never answered on " + uri, e);
            }
        }

        private void poll() {
            while (firstNew == 0 && !Thread.currentThread().isInterrupted()) {
                String answer = get();
                long now = System.nanoTime();
                if (oldVersion.equals(answer)) {
                    lastOld = now;
                } else if (newVersion.equals(answer)) {
                    firstNew = now;
                }
                try {
                    Thread.sleep(1); // the poll rate (1 ms resolution of the measured downtime), not a wait for an event
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private String get() {
            try {
                java.net.HttpURLConnection connection = (java.net.HttpURLConnection) uri.toURL().openConnection();
                connection.setRequestProperty("Connection", "close");
                connection.setConnectTimeout(100);
                connection.setReadTimeout(200);
                try (InputStream in = connection.getInputStream()) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
                } finally {
                    connection.disconnect();
                }
            } catch (java.io.IOException e) {
                return "";
            }
        }

        /** Waits (up to 30 s) for the new version's first answer. */
        long downtimeMs() throws InterruptedException {
            thread.join(30_000);
            if (firstNew == 0) {
                throw new IllegalStateException("version " + newVersion + " never answered on " + uri);
            }
            return TimeUnit.NANOSECONDS.toMillis(firstNew - lastOld);
        }

        @Override
        public void close() {
            thread.interrupt();
        }
    }

    /**
     * The engine the benchmark runs on: {@code DOCKER_HOST} (as for the docker CLI it also runs), else the default
     * socket. {@code DOCKER_HOST=unix:///run/turnout-engines/sid.sock bin/bench footprint} measures the containerd
     * image store of Docker 28.5 (started by {@code bin/test-engines start}).
     */
    static final String DOCKER_HOST = System.getenv("DOCKER_HOST") == null || System.getenv("DOCKER_HOST").isBlank()
            ? "unix:///var/run/docker.sock" : System.getenv("DOCKER_HOST");

    private static final TestImages IMAGES = new TestImages(new TestEngines.Engine("bench", DOCKER_HOST));

    /**
     * The archive a release ships of a fresh busybox image (made from the engine's {@code docker save} as {@code
     * release create} makes it), and what identifies the image; the image is gone from the engine.
     */
    record Built(Path archive, String ref, String version, String id, String configDigest, String manifestDigest,
                         List<String> diffIds) {
    }

    static Built build(Path work, String run, String version, List<String> images) throws Exception {
        String ref = "turnout-bench/" + run + ":" + version;
        Path saved = IMAGES.build(ref, version, true, work);
        String id = IMAGES.id(ref);
        images.add(id);
        DockerCli.output("docker", "rmi", "-f", ref);
        ArchiveEntries entries = ArchiveEntries.read(saved);
        ImageArchive.Image image = ImageArchive.images(entries).get(0);
        Path archive = work.resolve("shipped-" + version + ".tar");
        try (java.io.OutputStream out = Files.newOutputStream(archive)) {
            ImageArchive.writeSinglePlatform(saved, entries, image, out);
        }
        return new Built(archive, ref, version, id, image.configDigest(), ImageArchive.manifestDigest(entries, image), image.diffIds());
    }

    static Release release(ArtifactServer artifacts, Built image, String platform, List<String> cmd) throws Exception {
        return release(artifacts, image, platform, cmd, "none");
    }

    private static Release release(ArtifactServer artifacts, Built image, String platform, List<String> cmd, String network) throws Exception {
        byte[] bytes = Files.readAllBytes(image.archive());
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        return Release.newBuilder().setApp("web").setVersion(image.version())
                .addImages(ImageArtifact.newBuilder().setPlatform(platform).setImageRef(image.ref()).setArchiveDigest(digest)
                        .setSize(bytes.length).setUrl(artifacts.add(digest, image.archive())).setImageId(image.configDigest())
                        .setManifestDigest(image.manifestDigest()).addAllDiffIds(image.diffIds()))
                .setContainer(ContainerSpec.newBuilder().addAllCommand(cmd).setNetwork(network).setRestart("no"))
                .setHealth(HealthCheck.newBuilder().setSoakMs(0)).build();
    }

    /** Publishes one signed desired state and waits for its outcome (STAGED for a STAGE, else ACTIVE); returns the ms it took. */
    static long update(MqttRecorder<Message> orchestrator, Topics topics, SigningKey key, String device, long seq, Release release,
                               Phase phase, Process daemon, AtomicLong peakRss) throws Exception {
        // the daemon removes the previous version's container and image after reporting ACTIVE; the manual path's
        // clean-up is untimed too, so every timed update starts with the daemon idle (no report says when the clean-up ended)
        Thread.sleep(1_000);
        long now = System.currentTimeMillis();
        DesiredState desired = DesiredState.newBuilder().setDeviceId(device).setSequence(seq).setIssuedAtMs(now)
                .setExpiresAtMs(now + 3_600_000).addApps(AppDesired.newBuilder().setApp("web").setRelease(release).setPhase(phase)).build();
        UpdateState goal = phase == Phase.STAGE ? UpdateState.STAGED : UpdateState.ACTIVE;
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                peakRss.accumulateAndGet(rssKb(daemon.pid()), Math::max);
                try {
                    Thread.sleep(20); // the sampling rate, not a wait for an event
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.start();
        long t1 = System.nanoTime();
        orchestrator.publishRetained(topics.desired(device), key.seal(desired).toByteArray());
        MqttRecorder.Received<Message> outcome;
        try {
            outcome = orchestrator.awaitReceived(m -> m instanceof StatusEvent e && e.getSequence() == seq && (e.getState() == goal
                    || e.getState() == UpdateState.FAILED || e.getState() == UpdateState.ROLLED_BACK), Duration.ofSeconds(60));
        } finally {
            sampler.interrupt();
            sampler.join();
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(outcome.nanoTime() - t1);
        UpdateState result = ((StatusEvent) outcome.message()).getState();
        if (result != goal) {
            throw new IllegalStateException(release.getVersion() + " " + phase + " ended " + result);
        }
        return ms;
    }

    private static long median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** VmRSS of a process in KiB (0 once it is gone). */
    static long rssKb(long pid) {
        return statusKb(pid, "VmRSS:");
    }

    /** A KiB figure from /proc/PID/status ("VmRSS:", "RssAnon:", "RssFile:"). */
    static long statusKb(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith(field)) {
                    return Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
        } catch (Exception e) {
            return 0;
        }
        return 0;
    }

    static String platform() {
        return DockerContainerRuntime.platformOf(DockerCli.output("docker", "info", "--format", "{{.Architecture}}"));
    }
}
