package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Ports;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.zip.GZIPOutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The edge daemon updated through Turnout itself, on real processes: the orchestrator with its embedded broker, and
 * the daemon started through {@code bin/turnout-edge} under a supervisor that starts it again whenever it ends (as
 * systemd's {@code Restart=always} does). Three agent releases go out through the rollout engine: the same build
 * re-versioned (the device ends on it, its presence says so), one whose jar exits at start (the launcher goes back,
 * the old version reports AGENT_START_FAILED) and one that starts but never connects (the launcher's watchdog stops
 * it at the deadline, the old version reports AGENT_NOT_CONNECTED). No Docker engine is needed for the daemon itself.
 */
class AgentSelfUpdateIT {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path DEVICE_JAR = ROOT.resolve("edge-daemon/target/turnout-edge-device.jar");

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-agent-" + run;
    private final Closer toClose = new Closer();
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;
    private final Operator operator = Operator.onServerHost(() -> work.resolve("server"), () -> server == null ? null : server.url());

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void aGoodReleaseIsKeptAndOnesThatExitOrNeverConnectAreUndoneByTheLauncher() throws Exception {
        assertThat(DEVICE_JAR).as("built by `mvn package` (edge-daemon) before the e2e module").isRegularFile();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();
        Files.writeString(config, "agentStartTimeout: 10s\n", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.APPEND);
        Path data = work.resolve("edge-data");

        Supervised edge = new Supervised(config, data, work.resolve("edge.log"));
        toClose.add(edge::close);
        await().atMost(Duration.ofMinutes(2)).until(() -> "0.1.0".equals(deviceView().path("agentVersion").asText(null))
                && deviceView().path("online").asBoolean());

        // 1. the same build, re-versioned: the device switches, the new version confirms its trial, presence says 0.2.0
        Path good = distribution("good", Files.readAllBytes(DEVICE_JAR), Files.readString(ROOT.resolve("edge-daemon/jvm.options")));
        assertThat(cli("agent", "release", "0.2.0", good.toString()).code()).isZero();
        Operator.Result deployed = cli("agent", "deploy", "0.2.0", "--target", "all", "--device-timeout", "2m", "--wait");
        assertThat(deployed.code()).as(deployed.toString()).isZero();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            JsonNode d = deviceView();
            assertThat(d.path("agentVersion").asText()).isEqualTo("0.2.0");
            assertThat(agentApp(d).path("state").asText()).isEqualTo("ACTIVE");
            assertThat(agentApp(d).path("runningVersion").asText()).isEqualTo("0.2.0");
        });
        assertThat(data.resolve("agent/current")).hasContent("0.2.0");
        assertThat(data.resolve("agent/trial")).as("confirmed").doesNotExist();
        assertThat(data.resolve("agent/0.2.0/turnout-edge.jar")).isRegularFile();
        assertThat(cli("devices").out()).contains("0.2.0");
        int startsOnGood = edge.starts();

        // 2. a release whose jar exits at start: the launcher goes back to 0.2.0, which reports AGENT_START_FAILED
        Path exits = distribution("exits", jar("Exits", "public class Exits { public static void main(String[] a) {"
                + " System.err.println(\"this build is broken\"); System.exit(1); } }"), "-Xmx32m\n");
        assertThat(cli("agent", "release", "0.3.0", exits.toString()).code()).isZero();
        Operator.Result failed = cli("agent", "deploy", "0.3.0", "--target", "all", "--on-failure", "rollback",
                "--device-timeout", "2m", "--wait");
        assertThat(failed.code()).as(failed.toString()).isEqualTo(3); // rolled back
        assertThat(failed.err()).contains("AGENT_START_FAILED");
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            JsonNode d = deviceView();
            assertThat(d.path("online").asBoolean()).isTrue();
            assertThat(d.path("agentVersion").asText()).isEqualTo("0.2.0");
        });
        assertThat(reports()).as("the device's own word on 0.3.0").contains("turnout-edge:0.3.0 ROLLED_BACK AGENT_START_FAILED");
        assertThat(data.resolve("agent/current")).hasContent("0.2.0");
        assertThat(data.resolve("agent/failed")).content().contains("version=0.3.0", "reason=exited");
        assertThat(edge.starts()).as("switch, failing start, back").isGreaterThanOrEqualTo(startsOnGood + 2);

        // 3. a release that starts but never connects: the watchdog stops it at the deadline, 0.2.0 says AGENT_NOT_CONNECTED
        Path hangs = distribution("hangs", jar("Hangs", "public class Hangs { public static void main(String[] a) throws Exception {"
                + " Thread.sleep(Long.MAX_VALUE); } }"), "-Xmx32m\n");
        assertThat(cli("agent", "release", "0.4.0", hangs.toString()).code()).isZero();
        long before = System.nanoTime();
        Operator.Result silent = cli("agent", "deploy", "0.4.0", "--target", "all", "--on-failure", "rollback",
                "--device-timeout", "2m", "--wait");
        assertThat(silent.code()).as(silent.toString()).isEqualTo(3);
        assertThat(silent.err()).contains("AGENT_NOT_CONNECTED");
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - before)).as("waited for the deadline").isGreaterThanOrEqualTo(10);
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                assertThat(deviceView().path("agentVersion").asText()).isEqualTo("0.2.0"));
        assertThat(reports()).contains("turnout-edge:0.4.0 ROLLED_BACK AGENT_NOT_CONNECTED");
        assertThat(data.resolve("agent/failed")).content().contains("version=0.4.0", "reason=not-connected");
        assertThat(data.resolve("agent/current")).hasContent("0.2.0");
        assertThat(cli("history", "--app", "turnout-edge").code()).isZero();
    }

    @AfterEach
    void tearDown() throws Exception {
        toClose.close();
    }

    private Operator.Result cli(String... args) {
        return operator.run(args);
    }

    private JsonNode deviceView() throws IOException {
        return json.readTree(cli("device", "show", device, "--output", "json").out());
    }

    private static JsonNode agentApp(JsonNode device) {
        for (JsonNode a : device.path("apps")) {
            if (a.path("app").asText().equals("turnout-edge")) {
                return a;
            }
        }
        return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }

    /** The audit trail's entries of the device's reports about the daemon. */
    private String reports() {
        return cli("history", "--app", "turnout-edge", "--device", device).out();
    }

    /** A distribution as `turnout agent release` takes it: turnout-edge.jar and jvm.options in a tar.gz. */
    private Path distribution(String name, byte[] jar, String jvmOptions) throws IOException {
        Path file = work.resolve(name + ".tar.gz");
        try (OutputStream out = Files.newOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(out))) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            put(tar, "turnout-edge.jar", jar);
            put(tar, "jvm.options", jvmOptions.getBytes(StandardCharsets.UTF_8));
        }
        return file;
    }

    private static void put(TarArchiveOutputStream tar, String name, byte[] content) throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setSize(content.length);
        entry.setMode(0644);
        tar.putArchiveEntry(entry);
        tar.write(content);
        tar.closeArchiveEntry();
    }

    /** A runnable jar of one class compiled here from {@code source}. */
    private byte[] jar(String className, String source) throws IOException {
        Path src = Files.createDirectories(work.resolve("src-" + className));
        Files.writeString(src.resolve(className + ".java"), source);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertThat(javac).as("a JDK").isNotNull();
        assertThat(javac.run(null, null, null, "--release", "17", "-d", src.toString(), src.resolve(className + ".java").toString()))
                .isZero();
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, className);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (JarOutputStream jar = new JarOutputStream(bytes, manifest)) {
            jar.putNextEntry(new JarEntry(className + ".class"));
            jar.write(Files.readAllBytes(src.resolve(className + ".class")));
            jar.closeEntry();
        }
        return bytes.toByteArray();
    }

    /**
     * {@code bin/turnout-edge --config FILE --data DIR}, started again a second after every end, as a service manager
     * with {@code Restart=always} would; its output goes to a log file (printed when the test ends).
     */
    static final class Supervised implements AutoCloseable {
        private final Path log;
        private final AtomicInteger starts = new AtomicInteger();
        private final Thread loop;
        private volatile boolean stopping;
        private volatile Process process;

        Supervised(Path config, Path data, Path log) {
            this.log = log;
            this.loop = new Thread(() -> {
                while (!stopping) {
                    try {
                        ProcessBuilder builder = new ProcessBuilder(ROOT.resolve("bin/turnout-edge").toString(), "--config",
                                config.toString(), "--data", data.toString())
                                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
                        Map<String, String> env = builder.environment();
                        env.remove("TURNOUT_EDGE_AGENT_HOME");
                        env.remove("TURNOUT_EDGE_AGENT_VERSION");
                        synchronized (this) {
                            if (stopping) {
                                return;
                            }
                            process = builder.start();
                        }
                        starts.incrementAndGet();
                        int code = process.waitFor();
                        Files.writeString(log, "--- supervisor: turnout-edge ended with " + code + "\n",
                                java.nio.file.StandardOpenOption.APPEND);
                        Thread.sleep(1000);
                    } catch (InterruptedException e) {
                        return;
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }, "edge-supervisor");
            loop.setDaemon(true);
            loop.start();
        }

        int starts() {
            return starts.get();
        }

        @Override
        public void close() throws Exception {
            synchronized (this) {
                stopping = true;
            }
            Process p = process;
            if (p != null) {
                p.destroy();
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
            loop.interrupt();
            loop.join(5000);
            if (Files.exists(log)) {
                System.out.println("--- edge daemon log:\n" + Files.readString(log));
            }
        }
    }
}
