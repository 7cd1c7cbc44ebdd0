package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Closer;
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
 * The whole loop on real parts, as an operator would drive it with the CLI: an orchestrator, two
 * edge daemons sharing one Docker engine ({@link #engine()}), three releases built from busybox-static
 * on that engine (v1 and v2 healthy, v3 failing its health check), deployed in waves.
 */
abstract class WholeLoopScenario {

    /** The Docker engine the devices run on and the release archives are saved from; default: this machine's own. */
    protected TestEngines.Engine engine() {
        return TestEngines.DEFAULT;
    }

    /** Where the devices' MQTT traffic goes. */
    protected abstract String startBroker(Path dir) throws Exception;

    /** Null: the orchestrator embeds its own broker. */
    protected abstract boolean embedsBroker();

    protected void stopBroker() throws Exception {
    }

    /** How the orchestrator authenticates to the broker; null: its generated identity. */
    protected BrokerAuth brokerAuth() {
        return null;
    }

    /** The orchestrator's data directory (its signing key, broker secret and store). */
    protected Path serverDataDir() {
        return work.resolve("server");
    }

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String deviceA = "e2e-" + run + "-a";
    private final String deviceB = "e2e-" + run + "-b";
    private final String imageRepo = "turnout-e2e/web-" + run;
    private final Closer toClose = new Closer();
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;
    private final Operator operator = Operator.onServerHost(this::serverDataDir, () -> server == null ? null : server.url());
    private TestImages images;
    private Containers containers;

    @BeforeEach
    void bindEngine() {
        images = new TestImages(engine());
        containers = new Containers(engine());
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void threeReleasesCanaryRollsBackByItselfAndTheSecondDeviceIsNeverTouched() throws Exception {
        Requirements.dockerEngine(engine());
        Requirements.busybox();

        startServer();
        String brokerUrl = server.brokerUrl();

        // enroll two devices; the YAML the CLI writes is all a device needs
        assertThat(cli("device", "enroll", deviceA, "--label", "site=attic", "--out", work.resolve("a.yaml").toString()).code()).isZero();
        assertThat(cli("device", "enroll", deviceB, "--label", "site=attic", "--out", work.resolve("b.yaml").toString()).code()).isZero();
        EdgeDaemon edgeA = EdgeDaemon.start(EdgeConfig.load(onEngine(work.resolve("a.yaml"))), work.resolve("edge-a"));
        toClose.add(edgeA::close);
        EdgeDaemon edgeB = EdgeDaemon.start(EdgeConfig.load(onEngine(work.resolve("b.yaml"))), work.resolve("edge-b"));
        toClose.add(edgeB::close);
        // a monitoring subscriber gets its broker identity the way an operator creates one
        Operator.Result monitorUser = cli("user", "add", "e2e-monitor-" + run, "--role", "monitor", "--output", "json");
        assertThat(monitorUser.code()).as(monitorUser.toString()).isZero();
        MqttRecorder<StatusEvent> monitor = monitor(brokerUrl, monitorUser);
        toClose.add(monitor);

        await().atMost(Duration.ofSeconds(30)).until(() -> devicesOnline() == 2);

        // three releases from real image archives
        String platform = images.enginePlatform();
        Path spec = work.resolve("web.yaml");
        Files.writeString(spec, """
                container:
                  command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
                  env: {MODE: production}
                  network: none
                  restart: unless-stopped
                health:
                  exec: ["/bin/wget", "-q", "-O", "-", "http://127.0.0.1:8080/health"]
                  interval: 500ms
                  timeout: 2s
                  retries: 3
                  soak: 2s
                """, StandardCharsets.UTF_8);
        for (String[] release : new String[][] {{"1.0.0", "true"}, {"2.0.0", "true"}, {"3.0.0", "false"}}) {
            String version = release[0];
            Path archive = images.build(imageRepo + ":" + version, version, Boolean.parseBoolean(release[1]), work);
            // the engine must load it from the archive, as a device would: drop the local copy
            images.remove(imageRepo + ":" + version);
            Operator.Result created = cli("release", "create", "web:" + version, "--image", platform + "=" + archive, "--spec", spec.toString());
            assertThat(created.code()).as("on %s: %s", engine(), created).isZero();
        }

        // v1 to everyone
        Operator.Result v1 = cli("deploy", "web:1.0.0", "--target", "all", "--wait");
        assertThat(v1.code()).as("on %s: %s", engine(), v1).isZero();
        assertRunsOnly(deviceA, "1.0.0");
        assertRunsOnly(deviceB, "1.0.0");

        // v2 in waves: one canary, then the rest
        Operator.Result v2 = cli("deploy", "web:2.0.0", "--target", "all", "--waves", "1,100%", "--wait");
        assertThat(v2.code()).as("on %s: %s", engine(), v2).isZero();
        assertRunsOnly(deviceA, "2.0.0");
        assertRunsOnly(deviceB, "2.0.0");
        Containers.Container bBefore = containers.running(deviceB).get(0);

        // v3 fails its health check on the canary: the device rolls back by itself, the rollout stops
        long deployAt = System.nanoTime();
        Operator.Result v3 = cli("deploy", "web:3.0.0", "--target", "all", "--waves", "1,100%", "--on-failure", "rollback", "--wait");
        assertThat(v3.code()).as("on %s: %s", engine(), v3).isNotZero();
        assertThat(v3.code()).as("exit code of a rolled back rollout").isEqualTo(3);
        String rolloutId = v3.out().lines().findFirst().orElseThrow();
        assertThat(rolloutId).matches("r-\\S+");
        assertThat(v3.err()).contains("ROLLED_BACK", "HEALTH_CHECK_FAILED");
        JsonNode last = latestRollout(json.readTree(cli("rollout", "list", "--output", "json").out()));
        assertThat(last.path("id").asText()).isEqualTo(rolloutId);
        assertThat(last.path("version").asText()).isEqualTo("3.0.0");
        assertThat(last.path("state").asText()).isEqualTo("ROLLED_BACK");

        String canary = deviceA.compareTo(deviceB) < 0 ? deviceA : deviceB;
        String other = canary.equals(deviceA) ? deviceB : deviceA;
        assertThat(canary).isEqualTo(deviceA);
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertRunsOnly(canary, "2.0.0"));
        assertThat(reportsOf(monitor, canary)).extracting(StatusEvent::getState, StatusEvent::getVersion)
                .contains(org.assertj.core.groups.Tuple.tuple(UpdateState.ROLLED_BACK, "3.0.0"));
        StatusEvent rolledBack = firstReport(monitor, canary, "3.0.0", UpdateState.ROLLED_BACK).message();
        assertThat(rolledBack.getReason().name()).isEqualTo("HEALTH_CHECK_FAILED");
        assertThat(rolledBack.getRunningVersion()).isEqualTo("2.0.0");

        // the second device was staged but never activated: same container, never restarted
        assertThat(reportsOf(monitor, other)).noneMatch(e -> e.getVersion().equals("3.0.0")
                && (e.getState() == UpdateState.APPLYING || e.getState() == UpdateState.VERIFYING || e.getState() == UpdateState.ACTIVE));
        List<Containers.Container> otherNow = containers.running(other);
        assertThat(otherNow).hasSize(1);
        assertThat(otherNow.get(0).id()).isEqualTo(bBefore.id());
        assertThat(otherNow.get(0).startedAt()).isEqualTo(bBefore.startedAt());

        long activatedAt = firstReport(monitor, canary, "3.0.0", UpdateState.APPLYING).nanoTime();
        long rolledBackAt = firstReport(monitor, canary, "3.0.0", UpdateState.ROLLED_BACK).nanoTime();
        System.out.printf("e2e[%s, %s]: v3 activation -> ROLLED_BACK on the canary: %d ms; deploy -> rollout ended: %d ms%n",
                embedsBroker() ? "embedded HiveMQ CE" : "Mosquitto", engine(),
                TimeUnit.NANOSECONDS.toMillis(rolledBackAt - activatedAt),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - deployAt));

        // the fleet view agrees with the engine
        JsonNode devices = json.readTree(cli("devices", "--output", "json").out());
        assertThat(devices.toString()).contains(deviceA, deviceB);
    }

    /**
     * Defence in depth: whoever holds the orchestrator's own broker credentials can publish a
     * desired state, but a real edge daemon refuses one whose signature is not the orchestrator's
     * and changes nothing.
     */
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aDesiredStateForgedWithTheOrchestratorsOwnBrokerCredentialsIsRefusedByARealDevice() throws Exception {
        Requirements.dockerEngine(engine());
        startServer();
        assertThat(cli("device", "enroll", deviceA, "--out", work.resolve("a.yaml").toString()).code()).isZero();
        EdgeDaemon edgeA = EdgeDaemon.start(EdgeConfig.load(onEngine(work.resolve("a.yaml"))), work.resolve("edge-a"));
        toClose.add(edgeA::close);
        Operator.Result monitorUser = cli("user", "add", "e2e-monitor-" + run, "--role", "monitor", "--output", "json");
        assertThat(monitorUser.code()).as(monitorUser.toString()).isZero();
        MqttRecorder<StatusEvent> monitor = monitor(server.brokerUrl(), monitorUser);
        toClose.add(monitor);
        await().atMost(Duration.ofSeconds(30)).until(() -> devicesOnline() == 1);

        String keyId = json.readTree(new java.net.URL(server.url() + "/api/v1/server")).path("keyId").asText();
        dev.turnout.proto.crypto.SigningKey attacker = dev.turnout.proto.crypto.SigningKey.generate();
        long now = System.currentTimeMillis();
        byte[] payload = dev.turnout.proto.DesiredState.newBuilder().setDeviceId(deviceA).setSequence(1_000_000)
                .setIssuedAtMs(now).setExpiresAtMs(now + 3_600_000)
                .addApps(dev.turnout.proto.AppDesired.newBuilder().setApp("web").setPhase(dev.turnout.proto.Phase.ACTIVATE)
                        .setRelease(dev.turnout.proto.Release.newBuilder().setApp("web").setVersion("6.6.6")))
                .build().toByteArray();
        byte[] claimsTheRealKey = dev.turnout.proto.SignedEnvelope.newBuilder()
                .setPayload(com.google.protobuf.ByteString.copyFrom(payload))
                .setSignature(com.google.protobuf.ByteString.copyFrom(attacker.sign(payload)))
                .setKeyId(keyId).build().toByteArray();
        byte[] ownKey = dev.turnout.proto.SignedEnvelope.newBuilder()
                .setPayload(com.google.protobuf.ByteString.copyFrom(payload))
                .setSignature(com.google.protobuf.ByteString.copyFrom(attacker.sign(payload)))
                .setKeyId(attacker.keyId()).build().toByteArray();

        String name = server.brokerAccess().orchestrator().name();
        org.eclipse.paho.mqttv5.client.MqttClient thief = new org.eclipse.paho.mqttv5.client.MqttClient(server.brokerUrl(), name,
                new org.eclipse.paho.mqttv5.client.persist.MemoryPersistence());
        org.eclipse.paho.mqttv5.client.MqttConnectionOptions options = new org.eclipse.paho.mqttv5.client.MqttConnectionOptions();
        options.setUserName(name);
        options.setPassword(server.brokerAccess().orchestrator().secret().getBytes(StandardCharsets.UTF_8));
        thief.connect(options);
        for (byte[] forged : List.of(claimsTheRealKey, ownKey)) {
            thief.publish(Topics.defaults().desired(deviceA), forged, 1, false);
        }
        thief.disconnect();
        thief.close();

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(reportsOf(monitor, deviceA))
                .filteredOn(e -> e.getState() == UpdateState.REJECTED)
                .extracting(e -> e.getReason().name())
                .contains("BAD_SIGNATURE", "UNKNOWN_KEY"));
        assertThat(reportsOf(monitor, deviceA)).noneMatch(e -> e.getState() != UpdateState.REJECTED);
        assertThat(containers.running(deviceA)).isEmpty();
    }

    private void startServer() throws Exception {
        String externalBroker = startBroker(work.resolve("broker"));
        int mqttPort = Ports.free();
        server = TurnoutServer.start(new ServerOptions(serverDataDir(), 0, mqttPort, "127.0.0.1",
                embedsBroker() ? null : externalBroker, "127.0.0.1", Topics.DEFAULT_PREFIX, brokerAuth()));
        toClose.add(server::close);
    }

    /** A monitoring subscriber on every device's status, logged in as the monitor user the CLI created. */
    private MqttRecorder<StatusEvent> monitor(String brokerUrl, Operator.Result monitorUser) throws Exception {
        return MqttRecorder.connect(brokerUrl, MqttRecorder.Login.as("e2e-monitor-" + run, json.readTree(monitorUser.out()).path("password").asText()),
                (topic, payload) -> StatusEvent.parseFrom(payload), Topics.defaults().allStatus());
    }

    private static List<StatusEvent> reportsOf(MqttRecorder<StatusEvent> monitor, String deviceId) {
        return monitor.messages().stream().filter(e -> e.getDeviceId().equals(deviceId)).toList();
    }

    private static MqttRecorder.Received<StatusEvent> firstReport(MqttRecorder<StatusEvent> monitor, String deviceId, String version,
                                                                  UpdateState state) {
        return monitor.first(e -> e.getDeviceId().equals(deviceId) && e.getVersion().equals(version) && e.getState() == state).orElseThrow();
    }

    private JsonNode latestRollout(JsonNode rollouts) {
        JsonNode list = rollouts.has("rollouts") ? rollouts.get("rollouts") : rollouts;
        JsonNode newest = null;
        for (JsonNode r : list) {
            if (newest == null || r.path("createdAt").asText().compareTo(newest.path("createdAt").asText()) > 0) {
                newest = r;
            }
        }
        return newest;
    }

    private int devicesOnline() throws Exception {
        Operator.Result r = cli("devices", "--output", "json");
        if (r.code() != 0) {
            return -1;
        }
        JsonNode node = json.readTree(r.out());
        JsonNode list = node.has("devices") ? node.get("devices") : node;
        int online = 0;
        for (JsonNode d : list) {
            if (d.path("online").asBoolean() && (d.path("id").asText().equals(deviceA) || d.path("id").asText().equals(deviceB))) {
                online++;
            }
        }
        return online;
    }

    /** The device config {@code file} with {@code dockerHost:} set to {@link #engine()}, as an operator would edit it. */
    private Path onEngine(Path file) throws java.io.IOException {
        String config = Files.readString(file, StandardCharsets.UTF_8).replaceAll("(?m)^dockerHost:.*\\R?", "");
        Files.writeString(file, config + (config.endsWith("\n") ? "" : "\n") + "dockerHost: " + engine().dockerHost() + "\n",
                StandardCharsets.UTF_8);
        return file;
    }

    private void assertRunsOnly(String deviceId, String version) {
        List<Containers.Container> running = containers.running(deviceId);
        assertThat(running).as("running containers of %s", deviceId).hasSize(1);
        assertThat(running.get(0).version()).as("version running on %s", deviceId).isEqualTo(version);
    }

    protected Operator.Result cli(String... args) {
        return operator.run(args);
    }

    @AfterEach
    void tearDown() throws Exception {
        toClose.close();
        stopBroker();
        containers.removeAll(deviceA);
        containers.removeAll(deviceB);
        for (String v : List.of("1.0.0", "2.0.0", "3.0.0")) {
            images.remove(imageRepo + ":" + v);
        }
    }
}
