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
import java.util.Map;
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
    /** How long row 12's releases soak in their check (VERIFYING). */
    private static final Duration LONG_SOAK = Duration.ofSeconds(8);

    @TempDir
    static Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String imageRepo = "faults-device/web-" + run;
    private final String deviceId = "faults-" + run + "-pi";
    private final List<String> versions = List.of("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "1.7.0");
    /** The releases whose check soaks {@link #LONG_SOAK} (row 12 moves the device's clock during it). */
    private final Set<String> longSoak = Set.of("1.6.0", "1.7.0");
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
        Path soakingSpec = work.resolve("web-soaking.yaml");
        Files.writeString(soakingSpec, SPEC.replace("soak: 1s", "soak: " + LONG_SOAK.toSeconds() + "s"), StandardCharsets.UTF_8);
        assertThat(Files.readString(soakingSpec)).contains("soak: " + LONG_SOAK.toSeconds() + "s");
        for (String version : versions) {
            // 1.3.0 carries 6 MB of incompressible bytes: its download lasts long enough to fill the disk during it
            Path archive = images.build(imageRepo + ":" + version, version, true, work, version.equals("1.3.0") ? 6_000_000 : 0);
            images.remove(imageRepo + ":" + version);
            Operator.Result created = operator.run("release", "create", "web:" + version, "--image",
                    images.enginePlatform() + "=" + archive, "--spec", (longSoak.contains(version) ? soakingSpec : spec).toString());
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
     * writes takes the rest of the tmpfs): the device reports FAILED DISK_FULL, saying so in words, 1.2.0 keeps running,
     * and the orchestrator's record says so; a full disk is not the release's fault, so the rollout does not count it
     * as a failure (it stays RUNNING). Once the file is gone the device goes on by itself (no operator action): the
     * download resumes from its partial file and the SAME rollout ends SUCCEEDED.
     */
    @Test
    @Order(3)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void deviceDiskFullMidDownload() throws Exception {
        long started = System.nanoTime();
        http.throttle(1_000_000);
        String id = deploy("1.3.0");
        // bytes flow (a progress report says so): the disk fills during the download, not before its space check
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20)).until(() -> reports("1.3.0").stream()
                .anyMatch(e -> e.getState() == UpdateState.DOWNLOADING && e.getDownload().getBytesDone() > 0));
        Path filler = data.resolve("filler");
        fill(filler);
        StatusEvent failed = awaitDiskFull("1.3.0", "1.2.0", id);
        assertThat(failed.getMessage()).contains("the download of");
        http.throttle(0);
        Files.delete(filler);
        assertTheBar(id, "1.3.0");
        StatusEvent staged = reports("1.3.0").stream().filter(e -> e.getState() == UpdateState.STAGED && e.hasDownload())
                .findFirst().orElseThrow();
        assertThat(staged.getDownload().getBytesMoved()).as("the download resumed from its partial file")
                .isLessThan(staged.getDownload().getBytesTotal());
        System.out.printf("device faults: after the disk was freed the download moved %d of %d bytes%n",
                staged.getDownload().getBytesMoved(), staged.getDownload().getBytesTotal());
        System.out.printf("device faults: disk full mid-download took %d s; reports %s%n",
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started), states("1.3.0"));
    }

    /**
     * Row 10, the other way round: the disk is full already when the desired state of 1.4.0 arrives, so full that the
     * device cannot save even its trust record. It reports FAILED DISK_FULL all the same, changes nothing (1.3.0 runs),
     * and once the file is gone takes the same desired state by itself: the rollout ends SUCCEEDED.
     */
    @Test
    @Order(4)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void stateArrivingOnAFullDisk() throws Exception {
        long started = System.nanoTime();
        Path filler = data.resolve("filler");
        fill(filler);
        String id = deploy("1.4.0");
        StatusEvent failed = awaitDiskFull("1.4.0", "1.3.0", id);
        assertThat(failed.getMessage()).contains("trust record");
        Files.delete(filler);
        assertTheBar(id, "1.4.0");
        System.out.printf("device faults: a state arriving on a full disk took %d s; reports %s%n",
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started), states("1.4.0"));
    }

    /**
     * The device reports FAILED DISK_FULL for {@code version}, in words, {@code running} still running (one container);
     * the orchestrator's record of the device says {@code running FAILED}, the failure is in its audit trail, and rollout
     * {@code id} does not count it: it stays RUNNING.
     */
    private StatusEvent awaitDiskFull(String version, String running, String id) throws Exception {
        StatusEvent failed = await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
                .until(() -> reports(version).stream().filter(e -> e.getState() == UpdateState.FAILED).findFirst(), o -> o.isPresent())
                .orElseThrow();
        System.out.printf("device faults: disk full (%s): reports %s%n", version, describe(version));
        assertThat(failed.getReason()).as(describe(version)).isEqualTo(dev.turnout.proto.Reason.DISK_FULL);
        assertThat(failed.getMessage()).contains("disk is full");
        assertThat(failed.getRunningVersion()).isEqualTo(running);
        assertRunsOnly(running);
        await().atMost(Duration.ofSeconds(30)).until(() -> runningOf().equals(running + " FAILED"));
        assertThat(auditDetails("device.status")).as("the failure is in the device's audit trail")
                .anyMatch(d -> d.startsWith("web:" + version + " FAILED"));
        assertThat(rollout(id).path("state").asText()).as("a full disk is not the release's fault").isEqualTo("RUNNING");
        return failed;
    }

    /**
     * Row 12: the device's wall clock jumps a year on the RUNNING daemon: its JVM runs under libfaketime (preloaded, the
     * offset read from a file the test writes, on every call; the monotonic clock left alone), with {@code clockTrust:
     * never} (a Pi without a real-time clock: its wall clock is never taken as proof). Forward a year, the activation of
     * 1.5.0 is refused CLOCK_UNTRUSTED, 1.4.0 runs, and the orchestrator's record of the device says so; the rollout
     * does not count it (the device's clock, not the release) and stays RUNNING. Once the clock is set right the daemon
     * judges the refused state again by itself (nothing hands it out again: the broker does only on a reconnect): it is
     * applied once and the same rollout ends SUCCEEDED. A year back, 1.6.0 is applied at once. And the check's soak
     * (8 s, on the monotonic clock) is neither cut short by a jump forward during it (1.6.0) nor stretched by a jump
     * back (1.7.0).
     */
    @Test
    @Order(5)
    @Timeout(value = 12, unit = TimeUnit.MINUTES)
    void clockJumpsAYearForwardAndBackOnTheRunningDaemon() throws Exception {
        Requirements.libfaketime();
        long started = System.nanoTime();
        Path clock = work.resolve("faketime-offset");
        setClock(clock, "+0");
        Path clockConfig = work.resolve("device-no-rtc.yaml");
        Files.writeString(clockConfig, Files.readString(config) + "clockTrust: never\n", StandardCharsets.UTF_8);
        daemon.destroy(); // SIGTERM: the daemon stops as systemd stops it, then runs again under libfaketime
        assertThat(daemon.waitFor(60, TimeUnit.SECONDS)).isTrue();
        daemon = launch(clockConfig, Map.of("LD_PRELOAD", Requirements.LIBFAKETIME.toString(), "FAKETIME_TIMESTAMP_FILE", clock.toString(),
                "FAKETIME_NO_CACHE", "1", "FAKETIME_DONT_FAKE_MONOTONIC", "1", "NO_FAKE_STAT", "1"));
        // under libfaketime the JVM starts several times slower (2 s -> 11-35 s for --help at load 28 here)
        long launched = System.nanoTime();
        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(500)).until(() -> daemonLog().contains("--- launch " + launches)
                && daemonLog().substring(daemonLog().lastIndexOf("--- launch ")).contains("subscribed to"));
        System.out.printf("device faults: the daemon under libfaketime connected %d s after its launch%n",
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - launched));
        await().atMost(Duration.ofSeconds(60)).until(() -> device().path("online").asBoolean());

        // a year forward: refused, 1.4.0 runs, the record says so, the rollout waits for the device
        setClock(clock, "+365d");
        String forward = deploy("1.5.0");
        StatusEvent refused = await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
                .until(() -> reports("1.5.0").stream().filter(e -> e.getState() == UpdateState.REJECTED).findFirst(), o -> o.isPresent())
                .orElseThrow();
        System.out.printf("device faults: clock a year ahead: reports %s%n", describe("1.5.0"));
        assertThat(refused.getReason()).isEqualTo(dev.turnout.proto.Reason.CLOCK_UNTRUSTED);
        assertThat(refused.getTimestampMs()).as("the daemon's own clock is a year ahead")
                .isGreaterThan(System.currentTimeMillis() + Duration.ofDays(300).toMillis());
        assertThat(refused.getRunningVersion()).isEqualTo("1.4.0");
        assertRunsOnly("1.4.0");
        await().atMost(Duration.ofSeconds(30)).until(() -> runningOf().equals("1.4.0 REJECTED"));
        JsonNode waiting = rollout(forward);
        assertThat(waiting.path("state").asText()).as("rollout %s", waiting).isEqualTo("RUNNING");
        assertThat(waiting.path("devices").get(0).path("state").asText()).as("rollout %s", waiting).isNotEqualTo("FAILED");

        // set right: judged again by itself, applied once, the same rollout ends SUCCEEDED
        setClock(clock, "+0");
        assertTheBar(forward, "1.5.0");
        assertThat(ordered("1.5.0").stream().filter(e -> e.getState() == UpdateState.REJECTED)).as("refused once").hasSize(1);

        // a year back: taken at once; a year forward (back to now) during the check's soak does not cut it short
        setClock(clock, "-365d");
        String back = deploy("1.6.0");
        awaitReport("1.6.0", UpdateState.VERIFYING);
        long soakStarted = System.nanoTime();
        setClock(clock, "+0");
        awaitReport("1.6.0", UpdateState.ACTIVE);
        Duration soaked = Duration.ofNanos(System.nanoTime() - soakStarted);
        assertTheBar(back, "1.6.0");
        assertThat(reports("1.6.0")).extracting(StatusEvent::getState).doesNotContain(UpdateState.REJECTED);
        assertThat(soaked).as("VERIFYING to ACTIVE, the clock jumping a year forward during it").isBetween(LONG_SOAK.minusMillis(500),
                LONG_SOAK.plusSeconds(30));

        // and a year back during the soak does not stretch it
        String again = deploy("1.7.0");
        awaitReport("1.7.0", UpdateState.VERIFYING);
        soakStarted = System.nanoTime();
        setClock(clock, "-365d");
        awaitReport("1.7.0", UpdateState.ACTIVE);
        Duration soakedBack = Duration.ofNanos(System.nanoTime() - soakStarted);
        setClock(clock, "+0");
        assertTheBar(again, "1.7.0");
        assertThat(soakedBack).as("VERIFYING to ACTIVE, the clock jumping a year back during it").isBetween(LONG_SOAK.minusMillis(500),
                LONG_SOAK.plusSeconds(30));
        System.out.printf("device faults: clock jumps took %d s; soaks %d ms (jump forward) and %d ms (jump back); reports 1.5.0 %s%n",
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started), soaked.toMillis(), soakedBack.toMillis(), states("1.5.0"));
    }

    private String daemonLog() throws Exception {
        return Files.readString(work.resolve("daemon.log"), StandardCharsets.UTF_8);
    }

    /** Moves the daemon's wall clock: libfaketime reads {@code offset} ("+365d", "-365d", "+0") on its next clock call. */
    private static void setClock(Path file, String offset) throws Exception {
        Path next = file.resolveSibling(file.getFileName() + ".next");
        Files.writeString(next, offset + "\n", StandardCharsets.UTF_8);
        Files.move(next, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
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
        Set<String> trail = new java.util.HashSet<>(auditDetails("device.status"));
        trail.addAll(auditDetails("device.status.late")); // a report sent again after a reconnect, behind newer ones
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
        return launch(config, Map.of());
    }

    /** Starts the daemon jar with {@code deviceConfig}, its environment plus {@code env}. */
    private Process launch(Path deviceConfig, Map<String, String> env) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path log = work.resolve("daemon.log");
        Files.writeString(log, "--- launch " + (++launches) + " " + env + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
        ProcessBuilder builder = new ProcessBuilder(java.toString(), "-Xmx96m", "-XX:+UseSerialGC", "-jar", DEVICE_JAR.toString(),
                "--config", deviceConfig.toString(), "--data", data.toString());
        builder.environment().putAll(env);
        Process process = builder.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        toClose.add(process::destroyForcibly);
        return process;
    }

    /** Writes zeros into {@code file} until the disk refuses more, in ever smaller blocks: not a page is left. */
    private static void fill(Path file) throws Exception {
        try (var out = Files.newOutputStream(file)) {
            for (int size : new int[] {64 * 1024, 4096, 1}) {
                byte[] block = new byte[size];
                try {
                    while (true) {
                        out.write(block);
                    }
                } catch (java.io.IOException full) {
                    assertThat(full.getMessage()).as("the filler stopped on a full disk").containsIgnoringCase("space");
                }
            }
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
