package dev.turnout.edge.it;

import com.google.protobuf.Message;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Release;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code bin/bench edge-footprint [--idle 30] [--rounds 1] [--jvm JAVA_HOME]...}: the edge daemon as the package runs it
 * (the packaged launcher {@code /usr/bin/turnout-edge} in an unpacked tree, with the device jar, {@code jvm.options} and
 * {@code edge-agent.sh} beside it, {@code MALLOC_ARENA_MAX=2} as the unit sets it), against a real Mosquitto, once per
 * JVM and variant:
 * <ul>
 *   <li><b>JVM defaults</b>: no flags, no class archive ({@code TURNOUT_EDGE_JAVA_OPTS}, {@code TURNOUT_EDGE_CDS=off});</li>
 *   <li><b>flags, no archive</b>: {@code jvm.options}, {@code TURNOUT_EDGE_CDS=off} (the package before the archive);</li>
 *   <li><b>first start</b>: the launcher as shipped on a new device: no archive yet, the JVM writes it when it exits;</li>
 *   <li><b>archive</b>: the launcher as shipped, with the archive the first start wrote.</li>
 * </ul>
 * and with {@code --try 'FLAGS'} (repeatable) jvm.options and those flags, no archive. {@code --jar NAME=PATH} (repeatable)
 * also runs the first start and the archive with another device jar (an earlier build: before and after in one run);
 * {@code --try-archive 'FLAGS'} (repeatable): jvm.options and those flags, first start and then with its archive;
 * {@code --quick} leaves out the JVM defaults and the run without archive; {@code --dump DIR} writes, for each run at
 * its idle point, {@code pmap -x}, the class histogram and (with {@code --try '-XX:NativeMemoryTracking=summary'})
 * the native memory summary to DIR.
 * Each run: the time from starting the launcher to the device's retained presence "online" (connected) and the CPU
 * time used until then (launcher, archive check, daemon; robust on a busy machine), one app
 * (a busybox httpd) activated with a signed desired state, then {@code --idle} seconds idle and the RSS of the
 * daemon ({@code VmRSS}, anonymous and file-backed), then SIGTERM and the time to exit (the first start writes its
 * archive then). Figures, not a test: nothing passes or fails.
 */
public final class EdgeJvmBenchmark {

    private EdgeJvmBenchmark() {
    }

    /** {@code archiveOf}: the runs that share one archive (the first start writes it, the next maps it): one per jar and flag set. */
    private record Variant(String name, Map<String, String> env, boolean keepArchive, String jar, String archiveOf) {
        Variant(String name, Map<String, String> env, boolean keepArchive) {
            this(name, env, keepArchive, null, null);
        }
    }

    private record Figures(long connectMs, long cpuMs, long rssKb, long anonKb, long fileKb, long stopMs, long archiveKb, boolean archiveMapped) {
    }

    public static void main(String[] args) throws Exception {
        int idleSeconds = 30;
        int rounds = 1;
        List<Path> jvms = new ArrayList<>();
        List<String> tries = new ArrayList<>();
        List<String> archiveTries = new ArrayList<>();
        Map<String, Path> jars = new LinkedHashMap<>();
        boolean quick = false;
        Path dump = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--idle" -> idleSeconds = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--jvm" -> jvms.add(Path.of(args[++i]));
                case "--try" -> tries.add(args[++i]);
                case "--try-archive" -> archiveTries.add(args[++i]);
                case "--jar" -> {
                    String[] nameAndPath = args[++i].split("=", 2);
                    jars.put(nameAndPath[0], Path.of(nameAndPath[1]).toAbsolutePath());
                }
                case "--quick" -> quick = true;
                case "--dump" -> dump = Files.createDirectories(Path.of(args[++i]).toAbsolutePath());
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; usage: bin/bench edge-footprint [--idle SECONDS] [--rounds N] [--jvm JAVA_HOME]... [--try 'FLAGS']..."
                        + " [--try-archive 'FLAGS']... [--jar NAME=PATH]... [--quick] [--dump DIR]");
            }
        }
        if (jvms.isEmpty()) {
            jvms.add(Path.of(System.getProperty("java.home")));
            Path temurin25 = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");
            if (Files.isExecutable(temurin25.resolve("bin/java"))) {
                jvms.add(temurin25);
            }
        }
        List<Variant> variants = List.of(
                new Variant("JVM defaults, no archive", Map.of("TURNOUT_EDGE_JAVA_OPTS", "-XX:+IgnoreUnrecognizedVMOptions", "TURNOUT_EDGE_CDS", "off"), false),
                new Variant("jvm.options, no archive", Map.of("TURNOUT_EDGE_CDS", "off"), false),
                new Variant("jvm.options, first start", Map.of(), true),
                new Variant("jvm.options, archive", Map.of(), true));
        List<Variant> all = new ArrayList<>(quick ? variants.subList(2, 4) : variants);
        for (Map.Entry<String, Path> jar : jars.entrySet()) { // another build of the device jar: its first start, then its archive
            all.add(new Variant(jar.getKey() + ": first start", Map.of(), true, jar.getKey(), jar.getKey()));
            all.add(new Variant(jar.getKey() + ": archive", Map.of(), true, jar.getKey(), jar.getKey()));
        }
        for (String flags : archiveTries) { // jvm.options and these flags, with the archive (first start, then archive)
            Map<String, String> env = Map.of("TURNOUT_EDGE_JAVA_OPTS", "@" + Path.of("jvm.options").toAbsolutePath() + " " + flags);
            all.add(new Variant("+ " + flags + ", first start", env, true, null, flags));
            all.add(new Variant("+ " + flags + ", archive", env, true, null, flags));
        }
        for (String flags : tries) { // a flag to measure: jvm.options and it, no archive (compare with "jvm.options, no archive")
            all.add(new Variant("+ " + flags, Map.of("TURNOUT_EDGE_JAVA_OPTS", "@" + Path.of("jvm.options").toAbsolutePath() + " " + flags,
                    "TURNOUT_EDGE_CDS", "off"), false));
        }

        String run = "bench-" + UUID.randomUUID().toString().substring(0, 8);
        Path work = Files.createTempDirectory("turnout-bench");
        Map<String, Path> trees = new LinkedHashMap<>();
        trees.put(null, unpackedTree(work.resolve("tree"), Path.of("target/turnout-edge-device.jar")));
        int t = 0;
        for (Map.Entry<String, Path> jar : jars.entrySet()) {
            trees.put(jar.getKey(), unpackedTree(work.resolve("tree-" + (++t)), jar.getValue()));
        }
        SigningKey key = SigningKey.generate();
        Topics topics = Topics.defaults();
        List<String> images = new ArrayList<>();
        Map<String, List<Figures>> results = new LinkedHashMap<>();
        Map<Path, String> versions = new LinkedHashMap<>();
        int device = 0;
        try (Mosquitto mosquitto = Mosquitto.anonymous(work.resolve("mosquitto")); ArtifactServer artifacts = new ArtifactServer()) {
            int port = Ports.free();
            FootprintBenchmark.Built image = FootprintBenchmark.build(work, run, "1.0.0", images);
            Release release = FootprintBenchmark.release(artifacts, image, FootprintBenchmark.platform(),
                    List.of("/bin/httpd", "-f", "-p", "127.0.0.1:" + port, "-h", "/www"));
            for (int round = 0; round < rounds; round++) {
                for (Path jvm : jvms) {
                    versions.put(jvm, DockerCli.output(jvm.resolve("bin/java").toString(), "-XshowSettings:properties", "-version")
                            .lines().filter(l -> l.contains("java.runtime.version")).findFirst().orElse("?").replaceAll(".*= ", ""));
                    Map<String, Path> archives = new LinkedHashMap<>(); // per jar: the archive its first start wrote
                    for (Variant variant : all) {
                        String id = run + "-" + (++device);
                        Path data = Files.createDirectories(work.resolve(id));
                        Path archive = archives.get(variant.archiveOf());
                        if (variant.keepArchive() && archive != null) {
                            Files.createDirectories(data.resolve("cds"));
                            Files.copy(archive, data.resolve("cds/turnout-edge.jsa"), StandardCopyOption.COPY_ATTRIBUTES);
                        }
                        Path dumpTo = dump == null ? null : dump.resolve(jvm.getFileName() + "-" + variant.name().replaceAll("[^A-Za-z0-9.=-]+", "_"));
                        Figures f = runOnce(trees.get(variant.jar()), jvm, variant, mosquitto, artifacts, topics, key, id, data, release, idleSeconds, dumpTo);
                        results.computeIfAbsent(jvm + "\t" + variant.name(), k -> new ArrayList<>()).add(f);
                        if (variant.keepArchive() && Files.exists(data.resolve("cds/turnout-edge.jsa"))) {
                            archives.put(variant.archiveOf(), data.resolve("cds/turnout-edge.jsa"));
                        }
                        System.err.printf("  %s %s: connected %d ms, CPU %d ms, RSS %.1f MiB%n", versions.get(jvm), variant.name(), f.connectMs(), f.cpuMs(),
                                f.rssKb() / 1024.0);
                    }
                }
            }
        } finally {
            for (String id : images) {
                DockerCli.exitCode("docker", "rmi", "-f", id);
            }
        }

        System.out.printf("edge daemon as packaged (launcher + jvm.options + MALLOC_ARENA_MAX=2), Mosquitto, one app running, %d s idle, %d round(s)%n",
                idleSeconds, rounds);
        System.out.printf("%-22s %-40s %12s %8s %10s %18s %9s %12s%n", "JVM", "variant", "connected ms", "CPU ms", "RSS MiB", "anon / file MiB",
                "stop ms", "archive MiB");
        for (Map.Entry<String, List<Figures>> e : results.entrySet()) {
            String[] key2 = e.getKey().split("\t");
            for (Figures f : e.getValue()) {
                System.out.printf("%-22s %-40s %12d %8d %10.1f %18s %9d %12s%n", versions.get(Path.of(key2[0])), key2[1], f.connectMs(), f.cpuMs(),
                        f.rssKb() / 1024.0, String.format("%.1f / %.1f", f.anonKb() / 1024.0, f.fileKb() / 1024.0), f.stopMs(),
                        f.archiveKb() == 0 ? "-" : String.format("%.1f%s", f.archiveKb() / 1024.0, f.archiveMapped() ? " mapped" : ""));
            }
        }
        for (Path jvm : jvms) {
            Figures after = median(results.get(jvm + "\tjvm.options, archive"));
            for (String jar : jars.keySet()) {
                Figures other = median(results.get(jvm + "\t" + jar + ": archive"));
                System.out.printf("%s: this build / %s, both with their archive: RSS %.2f (%+.1f MiB), CPU to connected %.2f%n", versions.get(jvm), jar,
                        (double) after.rssKb() / other.rssKb(), (after.rssKb() - other.rssKb()) / 1024.0, (double) after.cpuMs() / other.cpuMs());
            }
            if (quick) {
                continue;
            }
            Figures before = median(results.get(jvm + "\tjvm.options, no archive"));
            Figures defaults = median(results.get(jvm + "\tJVM defaults, no archive"));
            System.out.printf("%s: archive / no archive: connected %.2f, CPU to connected %.2f, RSS %.2f (%+.1f MiB); jvm.options / defaults: RSS %.2f%n",
                    versions.get(jvm), (double) after.connectMs() / before.connectMs(), (double) after.cpuMs() / before.cpuMs(), (double) after.rssKb() / before.rssKb(),
                    (after.rssKb() - before.rssKb()) / 1024.0, (double) before.rssKb() / defaults.rssKb());
        }
        DockerCli.exitCode("rm", "-rf", work.toString());
    }

    private static Figures runOnce(Path tree, Path jvm, Variant variant, Mosquitto mosquitto, ArtifactServer artifacts, Topics topics,
                                   SigningKey key, String device, Path data, Release release, int idleSeconds, Path dump) throws Exception {
        Path config = data.resolve("edge.yaml");
        Files.writeString(config, """
                deviceId: %s
                brokerUrl: %s
                orchestratorUrl: %s
                healthReportInterval: 10s
                dockerHost: %s
                trustedKeys:
                  - keyId: %s
                    publicKey: %s
                """.formatted(device, mosquitto.url(), artifacts.baseUrl(), FootprintBenchmark.DOCKER_HOST, key.keyId(),
                key.publicKey().toBase64()));
        ProcessBuilder builder = new ProcessBuilder("sh", tree.resolve("usr/bin/turnout-edge").toString(), "--config", config.toString(),
                "--data", data.toString());
        builder.environment().put("JAVA_HOME", jvm.toString());
        builder.environment().put("MALLOC_ARENA_MAX", "2"); // as turnout-edge.service
        builder.environment().remove("TURNOUT_EDGE_JAVA_OPTS");
        builder.environment().remove("TURNOUT_EDGE_CDS");
        builder.environment().putAll(variant.env());
        builder.redirectErrorStream(true).redirectOutput(data.resolve("daemon.log").toFile());
        try (MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), topics, device)) {
            long t0 = System.nanoTime();
            Process daemon = builder.start();
            try {
                MqttRecorder.Received<Message> online = orchestrator.awaitReceived(m -> m instanceof Presence p && p.getOnline(), Duration.ofSeconds(90));
                long connectMs = TimeUnit.NANOSECONDS.toMillis(online.nanoTime() - t0);
                long cpuMs = cpuMs(daemon.pid());
                FootprintBenchmark.update(orchestrator, topics, key, device, 1, release, Phase.ACTIVATE, daemon, new AtomicLong());
                Thread.sleep(idleSeconds * 1000L); // a measurement, not a wait for an event: the idle footprint with one app running
                long pid = daemon.pid();
                long rss = FootprintBenchmark.rssKb(pid);
                long anon = FootprintBenchmark.statusKb(pid, "RssAnon:");
                long file = FootprintBenchmark.statusKb(pid, "RssFile:");
                boolean mapped = Files.readString(Path.of("/proc/" + pid + "/maps")).contains("turnout-edge.jsa");
                if (dump != null) { // after the figures: what is resident, for a reader to see where it goes
                    String jcmd = jvm.resolve("bin/jcmd").toString();
                    Files.writeString(Path.of(dump + ".pmap"), DockerCli.output("pmap", "-x", Long.toString(pid)));
                    Files.writeString(Path.of(dump + ".histogram"), DockerCli.output(jcmd, Long.toString(pid), "GC.class_histogram"));
                    Files.writeString(Path.of(dump + ".nmt"), DockerCli.output(jcmd, Long.toString(pid), "VM.native_memory", "summary"));
                }
                long t1 = System.nanoTime();
                daemon.destroy();
                if (!daemon.waitFor(60, TimeUnit.SECONDS)) {
                    daemon.destroyForcibly();
                }
                long stopMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1);
                Path archive = data.resolve("cds/turnout-edge.jsa");
                long archiveKb = Files.exists(archive) ? Files.size(archive) / 1024 : 0;
                return new Figures(connectMs, cpuMs, rss, anon, file, stopMs, archiveKb, mapped);
            } catch (RuntimeException | AssertionError e) {
                throw new IllegalStateException("the daemon (" + variant.name() + ", " + jvm + ") failed; its log: "
                        + Files.readString(data.resolve("daemon.log")), e);
            } finally {
                daemon.destroyForcibly();
                String ids = DockerCli.output("docker", "ps", "-aq", "--filter", "label=dev.turnout.device=" + device);
                for (String id : ids.split("\\s+")) {
                    if (!id.isBlank()) {
                        DockerCli.exitCode("docker", "rm", "-f", id);
                    }
                }
            }
        }
    }

    /**
     * CPU time of the launcher's process so far, in ms: its own (the daemon's JVM, which the launcher exec'd) and that of
     * the children it waited for (the archive check JVM). Unlike wall time it hardly moves when the machine is busy.
     */
    private static long cpuMs(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]); // utime stime cutime cstime
        return ticks * 10; // USER_HZ is 100 on Linux
    }

    /** The edge package's files as dpkg installs them: usr/bin/turnout-edge and usr/share/turnout-edge/. */
    private static Path unpackedTree(Path tree, Path jar) throws Exception {
        Path repo = Path.of("..").toAbsolutePath().normalize();
        Path bin = Files.createDirectories(tree.resolve("usr/bin"));
        Path share = Files.createDirectories(tree.resolve("usr/share/turnout-edge"));
        Files.copy(repo.resolve("packaging/src/deb/turnout-edge/turnout-edge"), bin.resolve("turnout-edge"));
        Files.setPosixFilePermissions(bin.resolve("turnout-edge"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.copy(jar, share.resolve("turnout-edge.jar"));
        Files.copy(Path.of("jvm.options"), share.resolve("jvm.options"));
        Files.copy(repo.resolve("bin/lib/edge-agent.sh"), share.resolve("edge-agent.sh"));
        return tree;
    }

    private static Figures median(List<Figures> runs) {
        List<Figures> byRss = new ArrayList<>(runs);
        byRss.sort((a, b) -> Long.compare(a.rssKb(), b.rssKb()));
        List<Figures> byConnect = new ArrayList<>(runs);
        byConnect.sort((a, b) -> Long.compare(a.connectMs(), b.connectMs()));
        Figures r = byRss.get(runs.size() / 2); // RSS: the middle run
        List<Figures> byCpu = new ArrayList<>(runs);
        byCpu.sort((a, b) -> Long.compare(a.cpuMs(), b.cpuMs()));
        return new Figures(byConnect.get(runs.size() / 2).connectMs(), byCpu.get(runs.size() / 2).cpuMs(), r.rssKb(), r.anonKb(), r.fileKb(), 0, 0, false);
    }
}
