package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.FaultProxy;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;
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
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 20's network and broker faults, made from the outside while a rollout runs: a site's Mosquitto (with
 * persistence, as RecordTruthIT), the orchestrator (its own process, so that rows 3 and 4 can kill it with SIGKILL),
 * and two real edge daemons on this machine's Docker, each
 * reaching the broker and the orchestrator's HTTP through its own {@link FaultProxy}s on loopback. One set-up
 * (one broker, one orchestrator, every release built once), then one rollout per row, each a new version, in
 * order. Each row ends with the bar: every device runs exactly one container of the app, of the
 * rollout's version (one container of that version ever created); {@code turnout devices} says so; the rollout
 * ended as its policy says; each device got one ACTIVATE of the version and applied it once; the audit trail holds
 * every report the broker carried and the rollout's one final state.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultMatrixIT {

    /** The devices' archive downloads while a row needs staging to last a few seconds (the archive is about 2 MB). */
    private static final long SLOW_DOWNLOAD = 300_000;
    /** 64 kbit/s. */
    private static final long SLOW_LINK = 8_000;
    private static final Duration ROLLOUT_END = Duration.ofMinutes(3);

    /** Static: one directory for the whole class's set-up (JUnit does not give a per-class instance field one before @BeforeAll). */
    @TempDir
    static Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String imageRepo = "faults-e2e/web-" + run;
    private final List<String> deviceIds = List.of("faults-" + run + "-a", "faults-" + run + "-b");
    private final Map<String, Device> devices = new LinkedHashMap<>();
    /** Each device's configuration as enrolled (through its proxies). */
    private final Map<String, EdgeConfig> configs = new LinkedHashMap<>();
    /** The retry settings the daemons run with. */
    private EdgeConfig.RetryTimes retryTimes = EdgeConfig.RetryTimes.DEFAULTS;
    private final List<String> versions = List.of("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "1.7.0", "1.8.0",
            "1.9.0", "1.10.0", "1.11.0");
    /**
     * How much the long-partition rows compress time: every timer that acts while a device is cut off (the daemon's
     * reconnect and download back-offs, its download retry window, the orchestrator's device timeout, the wave's soak)
     * is divided by it, through the settings a user has, so that 30 minutes cut off take one minute of CI.
     */
    private static final long COMPRESSED = 30;
    private final Closer toClose = new Closer();
    private final ObjectMapper json = new ObjectMapper();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private final Topics topics = Topics.defaults();
    private final List<MqttRecorder<Object>> monitors = new CopyOnWriteArrayList<>();
    private Mosquitto mosquitto;
    /** The orchestrator, its own process: rows 3 and 4 kill it with SIGKILL. */
    private CentralOrchestrator server;
    private final Operator operator = Operator.onServerHost(() -> work.resolve("server"), () -> server == null ? null : server.url());

    /** A device: its daemon, and the links its MQTT and HTTP traffic take. */
    private record Device(String id, EdgeDaemon daemon, FaultProxy mqtt, FaultProxy http) {
        void partition() {
            mqtt.partition();
            http.partition();
        }

        void heal() {
            mqtt.pass();
            http.pass();
        }
    }

    @BeforeAll
    void startFleet() throws Exception {
        Requirements.dockerEngine(TestEngines.DEFAULT);
        Requirements.busybox();
        long started = System.nanoTime();
        Path brokerDir = work.resolve("broker");
        Files.createDirectories(brokerDir);
        // Mosquitto started as root drops to its own user: it must be able to write its persistence file
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setPosixFilePermissions(brokerDir, PosixFilePermissions.fromString("rwxrwxrwx"));
        mosquitto = Mosquitto.start(brokerDir, port -> Mosquitto.listener(port) + "allow_anonymous true\npersistence true\n"
                + "persistence_location " + brokerDir + "/\nautosave_interval 1\n");
        server = CentralOrchestrator.start(work.resolve("server"), Ports.free(), List.of("--broker-url", mosquitto.url()));
        toClose.add(server::close);
        watchBroker();

        Path spec = work.resolve("web.yaml");
        Files.writeString(spec, TestImages.WEB_SPEC, StandardCharsets.UTF_8);
        for (String version : versions) {
            Path archive = images.build(imageRepo + ":" + version, version, true, work);
            images.remove(imageRepo + ":" + version);
            Operator.Result created = operator.run("release", "create", "web:" + version, "--image",
                    images.enginePlatform() + "=" + archive, "--spec", spec.toString());
            assertThat(created.code()).as(created.toString()).isZero();
        }
        int httpPort = Integer.parseInt(server.url().substring(server.url().lastIndexOf(':') + 1));
        for (String id : deviceIds) {
            FaultProxy mqtt = FaultProxy.to("127.0.0.1", mosquitto.port());
            FaultProxy http = FaultProxy.to("127.0.0.1", httpPort);
            toClose.add(mqtt);
            toClose.add(http);
            Path config = work.resolve(id + ".yaml");
            Operator.Result enrolled = operator.run("device", "enroll", id, "--out", config.toString());
            assertThat(enrolled.code()).as(enrolled.toString()).isZero();
            String yaml = Files.readString(config);
            assertThat(yaml).as("the enrolled config names the broker and the orchestrator").contains(mosquitto.url(), server.url());
            Files.writeString(config, yaml.replace(mosquitto.url(), mqtt.url("tcp")).replace(server.url(), http.url("http")));
            configs.put(id, EdgeConfig.load(config));
            EdgeDaemon daemon = EdgeDaemon.start(configs.get(id), work.resolve("edge-" + id));
            toClose.add(daemon::close);
            devices.put(id, new Device(id, daemon, mqtt, http));
        }
        for (String id : deviceIds) {
            await().atMost(Duration.ofSeconds(30)).until(() -> device(id).path("online").asBoolean());
        }
        Operator.Result first = operator.run("deploy", "web:1.0.0", "--target", "all", "--wait");
        assertThat(first.code()).as(first.toString()).isZero();
        for (String id : deviceIds) {
            assertRunsOnly(id, "1.0.0");
        }
        System.out.printf("fault matrix: set-up (broker, orchestrator, %d releases, 2 daemons, 1.0.0 everywhere) took %d s%n",
                versions.size(), TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started));
    }

    /** Row 1: Mosquitto restarts while the rollout stages (the downloads are slowed so that it lands during them). */
    @Test
    @Order(1)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void brokerRestartMidStaging() throws Exception {
        devices.values().forEach(d -> d.http().throttle(SLOW_DOWNLOAD));
        String id = deploy("1.1.0", "--waves", "1,100%");
        awaitReport("1.1.0", UpdateState.DOWNLOADING);
        assertThat(reports("1.1.0")).as("no device staged yet").noneMatch(e -> e.getState() == UpdateState.STAGED);
        mosquitto.restart();
        watchBroker();
        devices.values().forEach(d -> d.http().throttle(0));
        assertTheBar(id, "1.1.0");
    }

    /** Row 2: Mosquitto restarts as soon as the canary's ACTIVATE is on the broker, before it reported the outcome. */
    @Test
    @Order(2)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void brokerRestartMidActivation() throws Exception {
        String id = deploy("1.2.0", "--waves", "1,100%");
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(20)).until(() -> !activations("1.2.0").isEmpty());
        assertThat(reports("1.2.0")).as("nobody is active yet").noneMatch(e -> e.getState() == UpdateState.ACTIVE);
        mosquitto.restart();
        watchBroker();
        assertTheBar(id, "1.2.0");
    }

    /** Row 3a: one device loses its network (broker and orchestrator) for 5 s in the middle of its download. */
    @Test
    @Order(3)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void deviceShortlyPartitionedDuringStaging() throws Exception {
        Device b = devices.get(deviceIds.get(1));
        b.http().throttle(SLOW_DOWNLOAD);
        String id = deploy("1.3.0", "--waves", "1,100%");
        awaitReport(b.id(), "1.3.0", UpdateState.DOWNLOADING);
        b.partition();
        await().atMost(Duration.ofSeconds(30)).until(() -> !device(b.id()).path("online").asBoolean());
        Thread.sleep(5_000); // the fault's length, not a wait for behaviour
        b.http().throttle(0);
        b.heal();
        assertTheBar(id, "1.3.0");
        assertThat(b.mqtt().resets()).as("the partition cut the device's MQTT connection").isPositive();
    }

    /**
     * Row 3b: the canary, active, loses its network for 10 s while its wave soaks (16 s). The minute-long and the
     * compressed 5- and 30-minute partitions are the rows from order 7 on.
     */
    @Test
    @Order(4)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void canaryPartitionedLongerDuringTheSoak() throws Exception {
        Device a = devices.get(deviceIds.get(0));
        String id = deploy("1.4.0", "--waves", "1,100%", "--soak", "16s");
        awaitReport(a.id(), "1.4.0", UpdateState.ACTIVE);
        a.partition();
        await().atMost(Duration.ofSeconds(30)).until(() -> !device(a.id()).path("online").asBoolean());
        Thread.sleep(10_000); // the fault's length
        a.heal();
        assertTheBar(id, "1.4.0");
        long activeAt = received(m -> m instanceof StatusEvent e && e.getDeviceId().equals(a.id()) && e.getVersion().equals("1.4.0")
                && e.getState() == UpdateState.ACTIVE);
        long secondWaveAt = received(m -> m instanceof DesiredState s && s.getDeviceId().equals(deviceIds.get(1))
                && s.getAppsList().stream().anyMatch(app -> isActivationOf(app, "1.4.0")));
        assertThat(TimeUnit.NANOSECONDS.toMillis(secondWaveAt - activeAt)).as("ms from the canary's ACTIVE to the second wave")
                .isGreaterThanOrEqualTo(15_000);
    }

    /**
     * Row 4: asymmetric loss for 8 s from the start of the rollout: device A hears nothing but can send, device B can
     * send nothing but hears. 8 s is under the 30 s MQTT keep-alive, so the connections stay up and TCP would
     * deliver the held bytes late, as the proxy does when it heals.
     */
    @Test
    @Order(5)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void asymmetricLossEachWay() throws Exception {
        Device a = devices.get(deviceIds.get(0));
        Device b = devices.get(deviceIds.get(1));
        long resetsBefore = a.mqtt().resets() + b.mqtt().resets();
        a.mqtt().onlyClientToServer();
        b.mqtt().onlyServerToClient();
        String id = deploy("1.5.0", "--waves", "1,100%");
        Thread.sleep(8_000); // the fault's length
        assertThat(reports(a.id(), "1.5.0")).as("A heard nothing of 1.5.0").isEmpty();
        assertThat(reports(b.id(), "1.5.0")).as("nothing B said reached the broker").isEmpty();
        assertThat(rollout(id).path("state").asText()).isEqualTo("RUNNING");
        a.heal();
        b.heal();
        assertTheBar(id, "1.5.0");
        assertThat(a.mqtt().resets() + b.mqtt().resets()).as("no connection was cut").isEqualTo(resetsBefore);
    }

    /** Row 5: the whole rollout over a 64 kbit/s MQTT link per device. */
    @Test
    @Order(6)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void slowMqttLink() throws Exception {
        long before = devices.values().stream().mapToLong(d -> d.mqtt().bytesToClient()).sum();
        devices.values().forEach(d -> d.mqtt().throttle(SLOW_LINK));
        long started = System.nanoTime();
        String id = deploy("1.6.0", "--waves", "1,100%");
        assertTheBar(id, "1.6.0");
        System.out.printf("fault matrix: rollout of 1.6.0 over 64 kbit/s took %d ms, %d bytes to the devices%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started),
                devices.values().stream().mapToLong(d -> d.mqtt().bytesToClient()).sum() - before);
        devices.values().forEach(d -> d.mqtt().throttle(0));
    }

    /**
     * Row 5, a minute, real time and default settings: the second device is cut off (broker and orchestrator) for a
     * minute in the middle of its slowed download, and the canary for a minute from the start of its switch, so that
     * its whole health check and soak run while the orchestrator cannot hear it.
     */
    @Test
    @Order(7)
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void partitionedAMinuteDuringStagingAndTheCanarysWholeSoak() throws Exception {
        partitionedDuringStagingAndTheCanarysSoak("1.7.0", Duration.ofMinutes(1), Duration.ofSeconds(6));
    }

    /**
     * Row 5, five minutes compressed {@value #COMPRESSED} times (10 s): the daemons run with every retry setting divided
     * by {@value #COMPRESSED} (reconnect back-off at most 1 s, download back-off at most 0.5 s, download retry window 4 s)
     * and the rollout with a device timeout of 10 minutes divided likewise (20 s): shorter than the partition, so only
     * the rule that an offline device's time does not run keeps the canary from failing.
     */
    @Test
    @Order(8)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void partitionedFiveMinutesCompressedDuringStagingAndTheCanarysWholeSoak() throws Exception {
        partitionedCompressed("1.8.0", Duration.ofMinutes(5));
    }

    /** Row 5, thirty minutes compressed as the five (one minute): the download waits 15 times its retry window. */
    @Test
    @Order(9)
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void partitionedThirtyMinutesCompressedDuringStagingAndTheCanarysWholeSoak() throws Exception {
        partitionedCompressed("1.9.0", Duration.ofMinutes(30));
    }

    /** {@code partition} compressed {@value #COMPRESSED} times: the daemons' retry times and the device timeout (10 min) too. */
    private void partitionedCompressed(String version, Duration partition) throws Exception {
        restartDaemonsWith(EdgeConfig.RetryTimes.DEFAULTS.compressedBy(COMPRESSED));
        partitionedDuringStagingAndTheCanarysSoak(version, partition.dividedBy(COMPRESSED), Duration.ofSeconds(6),
                "--device-timeout", Duration.ofMinutes(10).dividedBy(COMPRESSED).toSeconds() + "s");
    }

    /**
     * One rollout of {@code version} (a canary, then the other device; {@code soak} between the waves): device B is cut
     * off as soon as it reports DOWNLOADING (its download slowed), the canary A as soon as it reports APPLYING, each for
     * {@code partition}. Then, beyond the bar: neither device reported a failure (B did not give its download up), the
     * canary's ACTIVE reached the broker only after its heal, and the second wave started no sooner than the soak after
     * it: the orchestrator did not advance on a canary it could not hear.
     */
    private void partitionedDuringStagingAndTheCanarysSoak(String version, Duration partition, Duration soak, String... strategy)
            throws Exception {
        Device a = devices.get(deviceIds.get(0));
        Device b = devices.get(deviceIds.get(1));
        long resetsBefore = a.mqtt().resets() + b.mqtt().resets();
        b.http().throttle(SLOW_DOWNLOAD);
        List<String> args = new ArrayList<>(List.of("--waves", "1,100%", "--soak", soak.toSeconds() + "s"));
        args.addAll(List.of(strategy));
        long started = System.nanoTime();
        String id = deploy(version, args.toArray(String[]::new));
        Map<Device, UpdateState> cutWhen = Map.of(b, UpdateState.DOWNLOADING, a, UpdateState.APPLYING);
        Map<Device, Long> cutAt = new java.util.concurrent.ConcurrentHashMap<>();
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(20)).until(() -> {
            cutWhen.forEach((device, state) -> {
                if (!cutAt.containsKey(device) && reports(device.id(), version).stream().anyMatch(e -> e.getState() == state)) {
                    device.partition();
                    cutAt.put(device, System.nanoTime());
                }
            });
            return cutAt.size() == cutWhen.size();
        });
        assertThat(reports(a.id(), version)).as("the canary was cut off before it could say ACTIVE")
                .noneMatch(e -> e.getState() == UpdateState.ACTIVE);
        await().atMost(Duration.ofSeconds(30)).until(() -> !device(a.id()).path("online").asBoolean()
                && !device(b.id()).path("online").asBoolean());
        Map<Device, Long> healedAt = new LinkedHashMap<>();
        for (Device d : cutAt.keySet().stream().sorted(java.util.Comparator.comparing(cutAt::get)).toList()) {
            long left = cutAt.get(d) + partition.toNanos() - System.nanoTime();
            if (left > 0) {
                Thread.sleep(TimeUnit.NANOSECONDS.toMillis(left)); // the fault's length, not a wait for behaviour
            }
            assertThat(rollout(id).path("state").asText()).as("rollout %s while %s is cut off", id, d.id()).isEqualTo("RUNNING");
            d.http().throttle(0);
            d.heal();
            healedAt.put(d, System.nanoTime());
        }
        assertTheBar(id, version);
        assertThat(reports(version)).as("reports of %s: nobody failed, B did not give its download up", version)
                .noneMatch(e -> e.getState() == UpdateState.FAILED || e.getState() == UpdateState.ROLLED_BACK);
        long activeAt = received(m -> m instanceof StatusEvent e && e.getDeviceId().equals(a.id()) && e.getVersion().equals(version)
                && e.getState() == UpdateState.ACTIVE);
        long secondWaveAt = received(m -> m instanceof DesiredState s && s.getDeviceId().equals(b.id())
                && s.getAppsList().stream().anyMatch(app -> isActivationOf(app, version)));
        assertThat(activeAt).as("the canary's ACTIVE reached the broker after its heal").isGreaterThan(healedAt.get(a));
        assertThat(TimeUnit.NANOSECONDS.toMillis(secondWaveAt - activeAt)).as("ms from the canary's ACTIVE to the second wave")
                .isGreaterThanOrEqualTo(soak.toMillis() - 1_000);
        assertThat(a.mqtt().resets() + b.mqtt().resets()).as("the partitions cut the MQTT connections").isGreaterThan(resetsBefore);
        System.out.printf("fault matrix: %s cut off for %d s (B at DOWNLOADING, the canary at APPLYING): rollout done in %d s;"
                        + " back on the broker %d ms (A) and %d ms (B) after the heal%n", version, partition.toSeconds(),
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started),
                TimeUnit.NANOSECONDS.toMillis(activeAt - healedAt.get(a)), TimeUnit.NANOSECONDS.toMillis(firstReportAfter(b, version,
                        healedAt.get(b)) - healedAt.get(b)));
    }

    /** When the broker first carried a report of {@code version} from {@code d} after {@code since} (System.nanoTime). */
    private long firstReportAfter(Device d, String version, long since) {
        return monitors.stream().flatMap(m -> m.received().stream())
                .filter(r -> r.nanoTime() > since && r.message() instanceof StatusEvent e && e.getDeviceId().equals(d.id())
                        && e.getVersion().equals(version))
                .mapToLong(MqttRecorder.Received::nanoTime).min().orElse(since);
    }

    /**
     * Starts each device's daemon again, on its data directory, with {@code times} (unless they run with them already);
     * waits until both are online.
     */
    /**
     * Row 3: the orchestrator is killed with SIGKILL while the canary switches, and started again. The daemons go on
     * without it: the canary finishes its switch and reports into the orchestrator's session, which the broker keeps.
     */
    @Test
    @Order(10)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void orchestratorKilledMidWave() throws Exception {
        restartDaemonsWith(EdgeConfig.RetryTimes.DEFAULTS);
        String id = deploy("1.10.0", "--waves", "1,100%");
        awaitReport("1.10.0", UpdateState.APPLYING);
        server.kill();
        assertThat(deviceIds).as("devices that had not reported 1.10.0 ACTIVE when the orchestrator died")
                .anyMatch(d -> reports(d, "1.10.0").stream().noneMatch(e -> e.getState() == UpdateState.ACTIVE));
        server.startAgain();
        assertTheBar(id, "1.10.0");
    }

    /**
     * Row 4 with real daemons: the central host loses power while the canary switches. The orchestrator and Mosquitto are
     * killed with SIGKILL at once, then both start again (Mosquitto with what its persistence file held).
     */
    @Test
    @Order(11)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void orchestratorAndBrokerKilledAtOnceMidWave() throws Exception {
        restartDaemonsWith(EdgeConfig.RetryTimes.DEFAULTS);
        String id = deploy("1.11.0", "--waves", "1,100%");
        awaitReport("1.11.0", UpdateState.APPLYING);
        ProcessHandle broker = ProcessHandle.of(mosquitto.pid()).orElseThrow();
        broker.destroyForcibly();
        server.kill();
        broker.onExit().get(10, TimeUnit.SECONDS);
        mosquitto.restart();
        watchBroker();
        server.startAgain();
        assertTheBar(id, "1.11.0");
    }

    private void restartDaemonsWith(EdgeConfig.RetryTimes times) throws Exception {
        if (times.equals(retryTimes)) {
            return;
        }
        retryTimes = times;
        for (String id : deviceIds) {
            Device d = devices.get(id);
            d.daemon().close();
            EdgeDaemon daemon = EdgeDaemon.start(configs.get(id).withRetryTimes(times), work.resolve("edge-" + id));
            toClose.add(daemon::close);
            devices.put(id, new Device(id, daemon, d.mqtt(), d.http()));
        }
        for (String id : deviceIds) {
            await().atMost(Duration.ofSeconds(30)).until(() -> device(id).path("online").asBoolean());
        }
    }

    // --- the bar every row ends with

    private void assertTheBar(String rolloutId, String version) throws Exception {
        await().atMost(ROLLOUT_END).pollInterval(Duration.ofMillis(500))
                .until(() -> !Set.of("RUNNING", "ROLLING_BACK").contains(rollout(rolloutId).path("state").asText()));
        JsonNode rollout = rollout(rolloutId);
        assertThat(rollout.path("state").asText()).as("rollout %s: %s", rolloutId, rollout).isEqualTo("SUCCEEDED");
        for (String id : deviceIds) {
            // the daemon removes the replaced container after its ACTIVE report: docker ps may list one that is gone
            await().atMost(Duration.ofSeconds(30)).ignoreExceptions().untilAsserted(() -> {
                assertRunsOnly(id, version);
                assertThat(containers.of(id)).as("containers on %s", id).hasSize(1);
            });
            await().atMost(Duration.ofSeconds(60)).until(() -> device(id).path("online").asBoolean());
            assertThat(runningOf(id)).as("turnout devices on %s", id).isEqualTo(version + " ACTIVE");
            // nothing applied twice: one ACTIVATE of the version published for the device, applied once
            assertThat(activations(id, version)).as("ACTIVATE sequences of %s for %s", version, id).hasSize(1);
            // (a daemon reports its current state again when it reconnects: a repeated APPLYING is not a second switch)
            assertThat(switches(id, version)).as("switches to %s on %s (reports %s)", version, id, reports(id, version))
                    .isLessThanOrEqualTo(1);
            // no audit record lost: every report of the version the broker carried is in the device's trail (one a daemon sent
            // again after a reconnect, behind newer ones, is there as device.status.late: recorded, not applied)
            Set<String> trail = new java.util.HashSet<>(auditDetails(id, "device.status"));
            trail.addAll(auditDetails(id, "device.status.late"));
            Set<String> carried = reports(id, version).stream()
                    .map(e -> "web:" + version + " " + e.getState()).collect(Collectors.toSet());
            assertThat(carried).as("reports of %s carried for %s", version, id).contains("web:" + version + " ACTIVE");
            for (String report : carried) {
                assertThat(trail).as("audit trail of %s", id).anyMatch(d -> d.startsWith(report));
            }
        }
        List<String> states = auditOf(rolloutId).stream().filter(e -> e.path("action").asText().equals("rollout.state"))
                .map(e -> e.path("detail").asText()).toList();
        assertThat(states).as("rollout.state entries of %s", rolloutId).singleElement().asString().startsWith("SUCCEEDED");
    }

    // --- helpers

    private String deploy(String version, String... strategy) {
        List<String> args = new ArrayList<>(List.of("deploy", "web:" + version, "--target", "all"));
        args.addAll(List.of(strategy));
        Operator.Result deployed = operator.run(args.toArray(String[]::new));
        assertThat(deployed.code()).as(deployed.toString()).isZero();
        return deployed.out().lines().findFirst().orElseThrow();
    }

    /** Records every desired state and status report on the broker (again after each restart: a new subscriber). */
    private void watchBroker() throws Exception {
        MqttRecorder<Object> monitor = recordFleetTraffic(mosquitto.url(), topics);
        monitors.add(monitor);
        toClose.add(monitor);
    }

    /** A recorder of every desired state (its signed payload) and status report the broker at {@code url} carries. */
    static MqttRecorder<Object> recordFleetTraffic(String url, Topics topics) throws Exception {
        return MqttRecorder.connect(url, MqttRecorder.Login.anonymous(), (topic, payload) ->
                        topic.endsWith("/status") ? StatusEvent.parseFrom(payload)
                                : topic.endsWith("/desired") ? DesiredState.parseFrom(SignedEnvelope.parseFrom(payload).getPayload()) : topic,
                topics.prefix() + "/devices/+/desired", topics.prefix() + "/devices/+/status");
    }

    /** When the broker first carried a message matching {@code condition} (System.nanoTime). */
    private long received(java.util.function.Predicate<Object> condition) {
        return monitors.stream().flatMap(m -> m.received().stream()).filter(r -> condition.test(r.message()))
                .mapToLong(MqttRecorder.Received::nanoTime).min().orElseThrow();
    }

    private List<StatusEvent> reports(String version) {
        return monitors.stream().flatMap(m -> m.messages().stream()).filter(StatusEvent.class::isInstance).map(StatusEvent.class::cast)
                .filter(e -> e.getApp().equals("web") && e.getVersion().equals(version)).toList();
    }

    private List<StatusEvent> reports(String deviceId, String version) {
        return reports(version).stream().filter(e -> e.getDeviceId().equals(deviceId)).toList();
    }

    private void awaitReport(String version, UpdateState state) {
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(20))
                .until(() -> reports(version).stream().anyMatch(e -> e.getState() == state));
    }

    private void awaitReport(String deviceId, String version, UpdateState state) {
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(20))
                .until(() -> reports(deviceId, version).stream().anyMatch(e -> e.getState() == state));
    }

    /** The distinct sequences of desired states activating {@code version}, for any device. */
    private Set<Long> activations(String version) {
        return deviceIds.stream().flatMap(id -> activations(id, version).stream()).collect(Collectors.toSet());
    }

    private Set<Long> activations(String deviceId, String version) {
        return monitors.stream().flatMap(m -> m.messages().stream()).filter(DesiredState.class::isInstance).map(DesiredState.class::cast)
                .filter(s -> s.getDeviceId().equals(deviceId) && s.getAppsList().stream().anyMatch(a -> isActivationOf(a, version)))
                .map(DesiredState::getSequence).collect(Collectors.toSet());
    }

    /** How many times the device's reports of {@code version}, in the order it numbered them, enter APPLYING. */
    private int switches(String deviceId, String version) {
        List<StatusEvent> ordered = reports(deviceId, version).stream()
                .collect(Collectors.toMap(StatusEvent::getReportSeq, e -> e, (x, y) -> x)).values().stream()
                .sorted(java.util.Comparator.comparingLong(StatusEvent::getReportSeq)).toList();
        int switches = 0;
        UpdateState before = null;
        for (StatusEvent e : ordered) {
            if (e.getState() == UpdateState.APPLYING && before != UpdateState.APPLYING) {
                switches++;
            }
            before = e.getState();
        }
        return switches;
    }

    private static boolean isActivationOf(AppDesired app, String version) {
        return app.getPhase() == Phase.ACTIVATE && app.getRelease().getVersion().equals(version);
    }

    private JsonNode device(String id) throws Exception {
        Operator.Result r = operator.run("devices", "--output", "json");
        assertThat(r.code()).as(r.toString()).isZero();
        JsonNode node = json.readTree(r.out());
        for (JsonNode d : node.has("devices") ? node.get("devices") : node) {
            if (d.path("id").asText().equals(id)) {
                return d;
            }
        }
        throw new AssertionError("no device " + id + " in " + r.out());
    }

    /** What {@code turnout devices} says device {@code id} runs: "VERSION STATE" of its app web. */
    private String runningOf(String id) throws Exception {
        for (JsonNode app : device(id).path("apps")) {
            if (app.path("app").asText().equals("web")) {
                return app.path("runningVersion").asText() + " " + app.path("state").asText();
            }
        }
        return "nothing";
    }

    private JsonNode rollout(String id) throws Exception {
        Operator.Result r = operator.run("rollout", "status", id, "--output", "json");
        assertThat(r.code()).as("0, or 3 while devices did not end active: %s", r).isIn(0, 3);
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

    private Set<String> auditDetails(String deviceId, String action) throws Exception {
        return history("--device", deviceId).stream().filter(e -> e.path("action").asText().equals(action))
                .map(e -> e.path("detail").asText()).collect(Collectors.toSet());
    }

    private List<JsonNode> auditOf(String rolloutId) throws Exception {
        return history("--app", "web").stream().filter(e -> e.path("subject").asText().equals(rolloutId)).toList();
    }

    private void assertRunsOnly(String deviceId, String version) {
        List<Containers.Container> running = containers.running(deviceId);
        assertThat(running).as("running containers of %s", deviceId).hasSize(1);
        assertThat(running.get(0).version()).as("version running on %s", deviceId).isEqualTo(version);
    }

    @AfterAll
    void tearDown() {
        toClose.close();
        if (mosquitto != null) {
            mosquitto.close();
        }
        deviceIds.forEach(containers::removeAll);
        versions.forEach(v -> images.remove(imageRepo + ":" + v));
    }
}
