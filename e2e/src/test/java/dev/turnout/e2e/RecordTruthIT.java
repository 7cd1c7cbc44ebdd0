package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
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
 * Issue 23 against real processes: what {@code turnout devices} and {@code turnout rollout status}
 * say after faults is what the devices run. A site's Mosquitto with persistence (it keeps retained
 * messages across its restarts), the orchestrator, and real edge daemons on this machine's Docker.
 */
class RecordTruthIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String deviceA = "truth-" + run + "-a";
    private final String deviceB = "truth-" + run + "-b";
    private final String imageRepo = "turnout-e2e/truth-" + run;
    private final Closer toClose = new Closer();
    private final List<String> versions = new ArrayList<>();
    private final ObjectMapper json = new ObjectMapper();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private Mosquitto mosquitto;
    private TurnoutServer server;
    private int httpPort;
    private final Operator operator = Operator.onServerHost(() -> work.resolve("server"), () -> server == null ? null : server.url());

    @BeforeEach
    void startBrokerAndServer() throws Exception {
        Requirements.dockerEngine(TestEngines.DEFAULT);
        Requirements.busybox();
        Path brokerDir = work.resolve("broker");
        Files.createDirectories(brokerDir);
        // Mosquitto started as root drops to its own user: it must be able to write its persistence file
        Files.setPosixFilePermissions(work, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setPosixFilePermissions(brokerDir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        mosquitto = Mosquitto.start(brokerDir, port -> Mosquitto.listener(port) + "allow_anonymous true\npersistence true\n"
                + "persistence_location " + brokerDir + "/\nautosave_interval 1\n");
        httpPort = Ports.free();
        startServer();
        toClose.add(() -> server.close()); // the one running then
    }

    /**
     * Scenario 2: the broker restarted once (the devices published their presence again, retained),
     * then the orchestrator restarted after a newer release went out. The presence the broker replays
     * to the restarted orchestrator is older than the reports it has stored and must not replace them.
     */
    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void aPresenceTheBrokerReplaysAfterRestartsNeverOverwritesNewerReports() throws Exception {
        EdgeDaemon a = startDevice(deviceA);
        awaitOnline(deviceA);
        releases("1.0.0", "1.1.0", "1.2.0");
        deploy("1.0.0", "all");
        deploy("1.1.0", "all");

        mosquitto.restart();
        // the device is back: it published its presence (1.1.0 ACTIVE) again, retained
        await().atMost(Duration.ofSeconds(60)).until(() -> auditCount(deviceA, "device.online") >= 2);
        deploy("1.2.0", "all");
        assertThat(runningOf(deviceA)).isEqualTo("1.2.0 ACTIVE");

        long onlineBefore = auditCount(deviceA, "device.online");
        server.close();
        startServer();
        // the restarted orchestrator got the retained presence (the audit trail records it), and ignored its app summary
        await().atMost(Duration.ofSeconds(30)).until(() -> auditCount(deviceA, "device.online") > onlineBefore);
        assertThat(runningOf(deviceA)).isEqualTo("1.2.0 ACTIVE");
        assertRunsOnly(deviceA, "1.2.0");
        a.close();
    }

    /**
     * Scenario 5: a device stopped through three releases comes back and applies only the newest;
     * the two rollouts it missed record it SKIPPED, the newest one records it ACTIVE, finished late.
     */
    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void aDeviceStoppedThroughThreeReleasesAppliesOnlyTheNewestAndTheRecordSaysSo() throws Exception {
        startDevice(deviceA);
        EdgeDaemon b = startDevice(deviceB);
        awaitOnline(deviceA);
        awaitOnline(deviceB);
        releases("1.0.0", "1.1.0", "1.2.0", "1.3.0");
        deploy("1.0.0", "all");
        assertRunsOnly(deviceB, "1.0.0");

        b.close();
        await().atMost(Duration.ofSeconds(30)).until(() -> !device(deviceB).path("online").asBoolean());
        String r11 = deploy("1.1.0", "all", 3);
        String r12 = deploy("1.2.0", "all", 3);
        String r13 = deploy("1.3.0", "all", 3);
        assertThat(rolloutDevice(r13, deviceB).path("state").asText()).isEqualTo("ACTIVATING");
        assertThat(rollout(r11).path("reason").asText()).contains("skipped", deviceB);
        assertRunsOnly(deviceB, "1.0.0");

        MqttRecorder<StatusEvent> monitor = MqttRecorder.connect(server.brokerUrl(), MqttRecorder.Login.anonymous(),
                (topic, payload) -> StatusEvent.parseFrom(payload), Topics.defaults().status(deviceB));
        toClose.add(monitor);
        startDevice(deviceB);
        await().atMost(Duration.ofSeconds(90)).until(() -> rolloutDevice(r13, deviceB).path("state").asText().equals("ACTIVE"));
        assertRunsOnly(deviceB, "1.3.0");
        assertThat(monitor.messages()).as("the superseded releases are neither downloaded nor applied")
                .noneMatch(e -> e.getVersion().equals("1.1.0") || e.getVersion().equals("1.2.0"));
        for (String older : List.of(r11, r12)) {
            assertThat(rolloutDevice(older, deviceB).path("state").asText()).isEqualTo("SKIPPED");
            assertThat(rollout(older).path("state").asText()).isEqualTo("SUCCEEDED");
        }
        assertThat(rolloutDevice(r12, deviceB).path("message").asText()).contains(r13, "1.3.0");
        assertThat(rolloutDevice(r13, deviceB).path("message").asText()).contains("finished late");
        assertThat(runningOf(deviceB)).isEqualTo("1.3.0 ACTIVE");
        Operator.Result status = operator.run("rollout", "status", r12);
        assertThat(status.out()).contains("SKIPPED");
    }

    private void startServer() throws Exception {
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), httpPort, 0, "127.0.0.1", mosquitto.url(),
                "127.0.0.1", Topics.DEFAULT_PREFIX));
    }

    private EdgeDaemon startDevice(String id) throws Exception {
        Path config = work.resolve(id + ".yaml");
        if (!Files.exists(config)) {
            assertThat(operator.run("device", "enroll", id, "--out", config.toString()).code()).isZero();
        }
        EdgeDaemon daemon = EdgeDaemon.start(EdgeConfig.load(config), work.resolve("edge-" + id));
        toClose.add(daemon::close);
        return daemon;
    }

    private void releases(String... wanted) throws Exception {
        Path spec = work.resolve("web.yaml");
        Files.writeString(spec, TestImages.WEB_SPEC, StandardCharsets.UTF_8);
        for (String version : wanted) {
            Path archive = images.build(imageRepo + ":" + version, version, true, work);
            images.remove(imageRepo + ":" + version);
            versions.add(version);
            Operator.Result created = operator.run("release", "create", "web:" + version, "--image",
                    images.enginePlatform() + "=" + archive, "--spec", spec.toString());
            assertThat(created.code()).as(created.toString()).isZero();
        }
    }

    /** {@code turnout deploy web:VERSION --target TARGET --wait}, which must succeed; the rollout's id. */
    private String deploy(String version, String target) {
        return deploy(version, target, 0);
    }

    /** As {@link #deploy(String, String)}, ending with {@code exitCode} (3: succeeded with devices offline). */
    private String deploy(String version, String target, int exitCode) {
        Operator.Result deployed = operator.run("deploy", "web:" + version, "--target", target, "--wait");
        assertThat(deployed.code()).as(deployed.toString()).isEqualTo(exitCode);
        return deployed.out().lines().findFirst().orElseThrow();
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

    private void awaitOnline(String id) {
        await().atMost(Duration.ofSeconds(30)).until(() -> device(id).path("online").asBoolean());
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

    private JsonNode rolloutDevice(String rolloutId, String deviceId) throws Exception {
        for (JsonNode d : rollout(rolloutId).path("devices")) {
            if (d.path("id").asText().equals(deviceId)) {
                return d;
            }
        }
        throw new AssertionError("rollout " + rolloutId + " has no device " + deviceId);
    }

    private long auditCount(String deviceId, String action) throws Exception {
        Operator.Result r = operator.run("history", "--device", deviceId, "--output", "json");
        long n = 0;
        for (JsonNode e : json.readTree(r.out()).path("entries")) {
            n += e.path("action").asText().equals(action) ? 1 : 0;
        }
        return n;
    }

    private void assertRunsOnly(String deviceId, String version) {
        List<Containers.Container> running = containers.running(deviceId);
        assertThat(running).as("running containers of %s", deviceId).hasSize(1);
        assertThat(running.get(0).version()).as("version running on %s", deviceId).isEqualTo(version);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        if (mosquitto != null) {
            mosquitto.close();
        }
        containers.removeAll(deviceA);
        containers.removeAll(deviceB);
        versions.forEach(v -> images.remove(imageRepo + ":" + v));
    }
}
