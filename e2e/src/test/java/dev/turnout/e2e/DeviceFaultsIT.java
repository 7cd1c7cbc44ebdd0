package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.FaultProxy;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.PrivateEngine;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 20's device faults, made from the outside while a rollout runs: the packaged edge daemon
 * ({@code edge-daemon/target/turnout-edge-device.jar}, its own process) drives a Docker engine of the test's own
 * ({@link PrivateEngine}: the test may restart it and cut its power without touching the machine's shared engine), its
 * data directory on a tmpfs the test mounts (so that the test can fill the disk); a site's Mosquitto and the
 * orchestrator (in the test's JVM, its real HTTP API and MQTT transport) as in FaultMatrixIT. One set-up, then one
 * rollout per row, each a new version, in order. Each row ends with the bar (see {@link #assertTheBar}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DeviceFaultsIT {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path DEVICE_JAR = ROOT.resolve("edge-daemon/target/turnout-edge-device.jar");
    private static final Duration ROLLOUT_END = Duration.ofMinutes(3);
    /** The release spec of the rows: the test image's httpd, restarted by the engine as a device runs its apps. */
    private static final String SPEC = TestImages.WEB_SPEC.replace("  network: none\n", "  network: none\n  restart: unless-stopped\n");

    @TempDir
    static Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String imageRepo = "faults-device/web-" + run;
    private final String deviceId = "faults-" + run + "-pi";
    private final List<String> versions = List.of("1.0.0", "1.1.0", "1.2.0", "1.3.0");
    private final Closer toClose = new Closer();
    private final ObjectMapper json = new ObjectMapper();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Topics topics = Topics.defaults();
    private final List<MqttRecorder<Object>> monitors = new ArrayList<>();
    private Mosquitto mosquitto;
    private TurnoutServer server;
    private PrivateEngine engine;
    private Containers containers;
    private FaultProxy http;
    private Path config;
    private Path data;
    private Process daemon;
    private int launches;
    private final Operator operator = Operator.onServerHost(() -> work.resolve("server"), () -> server == null ? null : server.url());

    @BeforeAll
    void startDevice() throws Exception {
        Requirements.dockerEngine(TestEngines.DEFAULT);
        Requirements.busybox();
        Requirements.mosquitto();
        assertThat(DEVICE_JAR).as("built by `mvn package` (edge-daemon) before the e2e module").isRegularFile();
        long started = System.nanoTime();
        engine = PrivateEngine.start(Path.of("/tmp", "faults-engine-" + run), "faults-" + run);
        toClose.add(engine);
        containers = new Containers(engine.engine());

        Path brokerDir = Files.createDirectories(work.resolve("broker"));
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setPosixFilePermissions(brokerDir, PosixFilePermissions.fromString("rwxrwxrwx"));
        mosquitto = Mosquitto.start(brokerDir, port -> Mosquitto.listener(port) + "allow_anonymous true\npersistence true\n"
                + "persistence_location " + brokerDir + "/\nautosave_interval 1\n");
        toClose.add(mosquitto);
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), Ports.free(), 0, "127.0.0.1", mosquitto.url(),
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(() -> server.close());
        watchBroker();

        Path spec = work.resolve("web.yaml");
        Files.writeString(spec, SPEC, StandardCharsets.UTF_8);
        for (String version : versions) {
            // 1.3.0 carries 6 MB of incompressible bytes: its download lasts long enough to fill the disk during it
            Path archive = images.build(imageRepo + ":" + version, version, true, work, version.equals("1.3.0") ? 6_000_000 : 0);
            images.remove(imageRepo + ":" + version);
            Operator.Result created = operator.run("release", "create", "web:" + version, "--image",
                    images.enginePlatform() + "=" + archive, "--spec", spec.toString());
            assertThat(created.code()).as(created.toString()).isZero();
        }
        http = toClose.add(FaultProxy.to("127.0.0.1", Integer.parseInt(server.url().substring(server.url().lastIndexOf(':') + 1))));
        config = work.resolve("device.yaml");
        Operator.Result enrolled = operator.run("device", "enroll", deviceId, "--out", config.toString());
        assertThat(enrolled.code()).as(enrolled.toString()).isZero();
        Files.writeString(config, Files.readString(config).replace(server.url(), http.url("http"))
                + "dockerHost: " + engine.engine().dockerHost() + "\n", StandardCharsets.UTF_8);
        // the device's disk: its data directory on a tmpfs of its own (a Pi's SD card, small)
        data = Files.createDirectories(work.resolve("edge-data"));
        assertThat(DockerCli.exitCode("mount", "-t", "tmpfs", "-o", "size=48m", "faults-" + run, data.toString()))
                .as("mount a tmpfs (needs root)").isZero();
        toClose.add(() -> DockerCli.exitCode("umount", "-l", data.toString()));
        daemon = launch();
        await().atMost(Duration.ofSeconds(60)).until(() -> device().path("online").asBoolean());
        Operator.Result first = operator.run("deploy", "web:1.0.0", "--target", "all", "--wait");
        assertThat(first.code()).as(first.toString()).isZero();
        assertRunsOnly("1.0.0");
        System.out.printf("device faults: set-up (own engine, broker, orchestrator, %d releases, daemon, 1.0.0 active) took %d s%n",
                versions.size(), TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started));
    }

    /** Row 8: the Docker engine restarts (stopped, its containers with it, and started) while the daemon swaps 1.0.0 for 1.1.0. */
    @Test
    @Order(1)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void engineRestartMidApply() throws Exception {
        long started = System.nanoTime();
        String id = deploy("1.1.0");
        awaitReport("1.1.0", UpdateState.APPLYING);
        engine.restart();
        assertTheBar(id, "1.1.0");
        System.out.printf("device faults: engine restart mid-apply took %d s; reports %s%n",
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started), states("1.1.0"));
    }

    /**
     * Row 9: power loss while the new container runs its check: the daemon killed with SIGKILL and the engine's every
     * process with it, its mounts and runtime directory gone; then both started again. The kernel does not restart
     * (the boot id stays), so the daemon sees a restart on the same boot whose containers have all stopped.
     */
    @Test
    @Order(2)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void powerLossMidCheck() throws Exception {
        long started = System.nanoTime();
        String id = deploy("1.2.0");
        awaitReport("1.2.0", UpdateState.VERIFYING);
        daemon.destroyForcibly(); // SIGKILL, no shutdown hook
        engine.powerOff();
        assertThat(daemon.waitFor(10, TimeUnit.SECONDS)).isTrue();
        engine.start();
        daemon = launch();
        assertTheBar(id, "1.2.0");
        System.out.printf("device faults: power loss mid-check took %d s; reports %s%n",
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started), states("1.2.0"));
    }

    /**
     * Row 10: the device's disk fills while it downloads 1.3.0 (6 MB through a link slowed to 1 MB/s; a file the test
     * writes takes the rest of the tmpfs): the device reports FAILED DISK_FULL, saying so in words, 1.2.0 keeps running
     * and the rollout pauses (its policy: no failure tolerated); once the file is gone the operator deploys 1.3.0 again
     * ({@code --supersede}: the paused rollout ends ABORTED) and the download completes, the update goes through.
     */
    @Test
    @Order(3)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void deviceDiskFullMidDownload() throws Exception {
        long started = System.nanoTime();
        http.throttle(1_000_000);
        String first = deploy("1.3.0");
        // bytes flow (a progress report says so): the disk fills during the download, not before its space check
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20)).until(() -> reports("1.3.0").stream()
                .anyMatch(e -> e.getState() == UpdateState.DOWNLOADING && e.getDownload().getBytesDone() > 0));
        Path filler = data.resolve("filler");
        fill(filler);
        StatusEvent failed = await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
                .until(() -> reports("1.3.0").stream().filter(e -> e.getState() == UpdateState.FAILED).findFirst(), o -> o.isPresent())
                .orElseThrow();
        System.out.printf("device faults: disk full mid-download: reports %s%n", describe("1.3.0"));
        assertThat(failed.getReason()).as(describe("1.3.0")).isEqualTo(dev.turnout.proto.Reason.DISK_FULL);
        assertThat(failed.getMessage()).contains("disk is full");
        assertThat(failed.getRunningVersion()).isEqualTo("1.2.0");
        assertRunsOnly("1.2.0");
        await().atMost(Duration.ofSeconds(30)).until(() -> rollout(first).path("state").asText().equals("PAUSED"));
        assertThat(auditDetails("device.status")).as("the failure is in the device's audit trail")
                .anyMatch(d -> d.startsWith("web:1.3.0 FAILED"));

        Files.delete(filler);
        http.throttle(0);
        Operator.Result again = operator.run("deploy", "web:1.3.0", "--target", "all", "--supersede");
        assertThat(again.code()).as(again.toString()).isZero();
        String second = again.out().lines().findFirst().orElseThrow();
        assertTheBar(second, "1.3.0");
        assertThat(rollout(first).path("state").asText()).isEqualTo("ABORTED");
        StatusEvent staged = reports("1.3.0").stream().filter(e -> e.getState() == UpdateState.STAGED && e.hasDownload())
                .findFirst().orElseThrow();
        System.out.printf("device faults: after the disk was freed the download moved %d of %d bytes%n",
                staged.getDownload().getBytesMoved(), staged.getDownload().getBytesTotal());
        System.out.printf("device faults: disk full mid-download took %d s; reports %s%n",
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started), states("1.3.0"));
    }

    // --- the bar every row ends with

    /**
     * The rollout ended SUCCEEDED; the device runs exactly one container of the app, of the version, and no other is
     * left; {@code turnout devices} says {@code VERSION ACTIVE}; the rollout published one ACTIVATE of the version and the
     * device's reports, in its own order, enter APPLYING once; every report of the version the broker carried is in
     * the device's audit trail and the rollout's trail holds exactly one {@code rollout.state} entry, SUCCEEDED.
     */
    private void assertTheBar(String rolloutId, String version) throws Exception {
        await().atMost(ROLLOUT_END).pollInterval(Duration.ofMillis(500))
                .until(() -> !Set.of("RUNNING", "ROLLING_BACK").contains(rollout(rolloutId).path("state").asText()));
        JsonNode rollout = rollout(rolloutId);
        assertThat(rollout.path("state").asText()).as("rollout %s: %s; reports %s", rolloutId, rollout, describe(version))
                .isEqualTo("SUCCEEDED");
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions().untilAsserted(() -> {
            assertRunsOnly(version);
            assertThat(containers.of(deviceId)).as("containers of the device").hasSize(1);
        });
        await().atMost(Duration.ofSeconds(60)).until(() -> device().path("online").asBoolean());
        assertThat(runningOf()).as("turnout devices").isEqualTo(version + " ACTIVE");
        assertThat(activations(rolloutId, version)).as("ACTIVATE sequences of %s by %s", version, rolloutId).hasSize(1);
        assertThat(switches(version)).as("switches to %s (reports %s)", version, describe(version)).isEqualTo(1);
        Set<String> trail = auditDetails("device.status");
        Set<String> carried = reports(version).stream().map(e -> "web:" + version + " " + e.getState()).collect(Collectors.toSet());
        assertThat(carried).contains("web:" + version + " ACTIVE");
        for (String report : carried) {
            assertThat(trail).as("audit trail of %s", deviceId).anyMatch(d -> d.startsWith(report));
        }
        List<String> states = history("--app", "web").stream().filter(e -> e.path("subject").asText().equals(rolloutId))
                .filter(e -> e.path("action").asText().equals("rollout.state")).map(e -> e.path("detail").asText()).toList();
        assertThat(states).as("rollout.state entries of %s", rolloutId).singleElement().asString().startsWith("SUCCEEDED");
    }

    // --- helpers

    private Process launch() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path log = work.resolve("daemon.log");
        Files.writeString(log, "--- launch " + (++launches) + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        Process process = new ProcessBuilder(java.toString(), "-Xmx96m", "-XX:+UseSerialGC", "-jar", DEVICE_JAR.toString(),
                "--config", config.toString(), "--data", data.toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        toClose.add(process::destroyForcibly);
        return process;
    }

    /** Writes zeros into {@code file} until the disk refuses more. */
    private static void fill(Path file) throws Exception {
        byte[] block = new byte[64 * 1024];
        try (var out = Files.newOutputStream(file)) {
            while (true) {
                out.write(block);
            }
        } catch (java.io.IOException full) {
            assertThat(full.getMessage()).as("the filler stopped on a full disk").containsIgnoringCase("space");
        }
    }

    private String deploy(String version) {
        Operator.Result deployed = operator.run("deploy", "web:" + version, "--target", "all");
        assertThat(deployed.code()).as(deployed.toString()).isZero();
        return deployed.out().lines().findFirst().orElseThrow();
    }

    /** Records every desired state and status report on the broker. */
    private void watchBroker() throws Exception {
        MqttRecorder<Object> monitor = FaultMatrixIT.recordFleetTraffic(mosquitto.url(), topics);
        monitors.add(monitor);
        toClose.add(monitor);
    }

    private List<StatusEvent> reports(String version) {
        return monitors.stream().flatMap(m -> m.messages().stream()).filter(StatusEvent.class::isInstance).map(StatusEvent.class::cast)
                .filter(e -> e.getDeviceId().equals(deviceId) && e.getApp().equals("web") && e.getVersion().equals(version)).toList();
    }

    /** The device's reports of {@code version} in the order it numbered them, each once. */
    private List<StatusEvent> ordered(String version) {
        return reports(version).stream().collect(Collectors.toMap(StatusEvent::getReportSeq, e -> e, (x, y) -> x)).values().stream()
                .sorted(Comparator.comparingLong(StatusEvent::getReportSeq)).toList();
    }

    private List<UpdateState> states(String version) {
        return ordered(version).stream().map(StatusEvent::getState).toList();
    }

    private String describe(String version) {
        return ordered(version).stream().map(e -> e.getState() + (e.getReasonValue() == 0 ? "" : " " + e.getReason())
                + " running " + e.getRunningVersion() + (e.getMessage().isEmpty() ? "" : " \"" + e.getMessage() + "\"")).toList().toString();
    }

    private void awaitReport(String version, UpdateState state) {
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(10))
                .until(() -> reports(version).stream().anyMatch(e -> e.getState() == state));
    }

    /** The distinct sequences of the desired states {@code rolloutId} published to activate {@code version}. */
    private Set<Long> activations(String rolloutId, String version) {
        return monitors.stream().flatMap(m -> m.messages().stream()).filter(DesiredState.class::isInstance).map(DesiredState.class::cast)
                .filter(s -> s.getDeviceId().equals(deviceId) && s.getAppsList().stream().anyMatch(a -> a.getPhase() == Phase.ACTIVATE
                        && a.getRelease().getVersion().equals(version) && a.getRolloutId().equals(rolloutId)))
                .map(DesiredState::getSequence).collect(Collectors.toSet());
    }

    /** How many times the device's reports of {@code version}, in its own order, enter APPLYING. */
    private int switches(String version) {
        int switches = 0;
        UpdateState before = null;
        for (UpdateState state : states(version)) {
            if (state == UpdateState.APPLYING && before != UpdateState.APPLYING) {
                switches++;
            }
            before = state;
        }
        return switches;
    }

    private JsonNode device() throws Exception {
        Operator.Result r = operator.run("devices", "--output", "json");
        assertThat(r.code()).as(r.toString()).isZero();
        JsonNode node = json.readTree(r.out());
        for (JsonNode d : node.has("devices") ? node.get("devices") : node) {
            if (d.path("id").asText().equals(deviceId)) {
                return d;
            }
        }
        throw new AssertionError("no device " + deviceId + " in " + r.out());
    }

    private String runningOf() throws Exception {
        for (JsonNode app : device().path("apps")) {
            if (app.path("app").asText().equals("web")) {
                return app.path("runningVersion").asText() + " " + app.path("state").asText();
            }
        }
        return "nothing";
    }

    private JsonNode rollout(String id) throws Exception {
        Operator.Result r = operator.run("rollout", "status", id, "--output", "json");
        assertThat(r.code()).as("0, 3 when devices did not end active, 4 when paused: %s", r).isIn(0, 3, 4);
        return json.readTree(r.out());
    }

    private List<JsonNode> history(String... filter) throws Exception {
        List<String> args = new ArrayList<>(List.of("history"));
        args.addAll(List.of(filter));
        args.addAll(List.of("--output", "json"));
        Operator.Result r = operator.run(args.toArray(String[]::new));
        assertThat(r.code()).as(r.toString()).isZero();
        List<JsonNode> entries = new ArrayList<>();
        json.readTree(r.out()).path("entries").forEach(entries::add);
        return entries;
    }

    private Set<String> auditDetails(String action) throws Exception {
        return history("--device", deviceId).stream().filter(e -> e.path("action").asText().equals(action))
                .map(e -> e.path("detail").asText()).collect(Collectors.toSet());
    }

    private void assertRunsOnly(String version) {
        List<Containers.Container> running = containers.running(deviceId);
        assertThat(running).as("running containers of %s", deviceId).hasSize(1);
        assertThat(running.get(0).version()).as("version running on %s", deviceId).isEqualTo(version);
    }

    @AfterAll
    void tearDown() throws Exception {
        if (daemon != null) {
            daemon.destroyForcibly();
        }
        Path log = work.resolve("daemon.log");
        if (Files.exists(log)) {
            System.out.println("---- daemon log (last 60 lines)");
            List<String> lines = Files.readAllLines(log);
            lines.subList(Math.max(0, lines.size() - 60), lines.size()).forEach(System.out::println);
        }
        toClose.close();
        versions.forEach(v -> images.remove(imageRepo + ":" + v));
    }
}
