package dev.turnout.edge.it;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.edge.cache.TestBundles;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The daemon against a real Docker engine and a real Mosquitto: install, update, automatic rollback, refusals, restart. */
class EdgeDaemonIT {


    @TempDir
    Path work;

    private final String deviceId = "it-edge-" + UUID.randomUUID().toString().substring(0, 8);
    private final String imageRepo = "turnout-edge-it/web-" + deviceId;
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final SigningKey key = SigningKey.generate();
    private final Topics topics = Topics.defaults();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private String platform;
    private int httpPort;
    private ArtifactServer artifacts;
    private final Map<String, Release> releases = new java.util.HashMap<>();

    @AfterEach
    void cleanUp() {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            try {
                toClose.get(i).close();
            } catch (Exception ignored) {
                // best effort
            }
        }
        String ids = "";
        try {
            ids = DockerCli.output("docker", "ps", "-aq", "--filter", "label=dev.turnout.device=" + deviceId);
        } catch (IllegalStateException ignored) {
            // engine gone
        }
        for (String id : ids.split("\\s+")) {
            if (!id.isBlank()) {
                DockerCli.exitCode("docker", "rm", "-f", id);
            }
        }
        for (String v : List.of("1.0.0", "2.0.0", "3.0.0")) {
            DockerCli.exitCode("docker", "rmi", "-f", imageRepo + ":" + v);
            Release r = releases.get(v);
            if (r != null) {
                DockerCli.exitCode("docker", "rmi", "-f", r.getImages(0).getImageId());
            }
        }
    }

    /** What every test here needs: Docker, a real Mosquitto, and an artifact server for the releases. */
    private Mosquitto startBrokerAndArtifacts() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        Mosquitto mosquitto = Mosquitto.anonymous(work.resolve("mosquitto"));
        toClose.add(mosquitto);
        artifacts = new ArtifactServer();
        toClose.add(artifacts);
        platform = platformOfEngine();
        httpPort = Ports.free();
        return mosquitto;
    }

    @Test
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void installsUpdatesRollsBackByItselfAndRefusesUntrustedOrReplayedStates() throws Exception {
        Mosquitto mosquitto = startBrokerAndArtifacts();
        releases.put("1.0.0", release("1.0.0", true, artifacts));
        releases.put("2.0.0", release("2.0.0", true, artifacts));
        releases.put("3.0.0", release("3.0.0", false, artifacts));

        // downloads carry the device's own credentials (its MQTT user and password), as the orchestrator requires
        artifacts.requireBasic(deviceId, "it-secret");
        EdgeConfig config = new EdgeConfig(deviceId, Map.of("site", "it"), mosquitto.url(), artifacts.baseUrl(), null,
                List.of(new EdgeConfig.TrustedKeyConfig(key.keyId(), key.publicKey().toBase64())), null, null, null, deviceId, "it-secret",
                Duration.ofSeconds(2));
        EdgeDaemon daemon = EdgeDaemon.start(config, work.resolve("edge"));
        toClose.add(daemon::close);
        MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), topics, deviceId);
        toClose.add(orchestrator);

        // v1 installs
        publish(orchestrator, signed(desired(1, "1.0.0", false)));
        awaitState(orchestrator, 1, "1.0.0", UpdateState.ACTIVE);
        assertThat(runningVersions()).containsExactly("1.0.0");

        // v2 replaces it
        publish(orchestrator, signed(desired(2, "2.0.0", false)));
        awaitState(orchestrator, 2, "2.0.0", UpdateState.ACTIVE);
        assertThat(runningVersions()).containsExactly("2.0.0");
        assertThat(orchestrator.messages(StatusEvent.class)).filteredOn(e -> e.getSequence() == 2).extracting(StatusEvent::getState)
                .containsExactly(UpdateState.DOWNLOADING, UpdateState.STAGED, UpdateState.APPLYING, UpdateState.VERIFYING, UpdateState.ACTIVE);

        // v3 fails its health check: the daemon rolls back to v2 by itself
        publish(orchestrator, signed(desired(3, "3.0.0", false)));
        StatusEvent rolledBack = awaitState(orchestrator, 3, "3.0.0", UpdateState.ROLLED_BACK);
        assertThat(rolledBack.getReason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        assertThat(rolledBack.getRunningVersion()).isEqualTo("2.0.0");
        assertThat(runningVersions()).containsExactly("2.0.0");
        assertThat(allVersions()).containsExactly("2.0.0");
        long applying = orchestrator.received(StatusEvent.class).stream()
                .filter(s -> s.message().getSequence() == 3 && s.message().getState() == UpdateState.APPLYING).findFirst().orElseThrow().nanoTime();
        long done = orchestrator.received(StatusEvent.class).stream()
                .filter(s -> s.message().getSequence() == 3 && s.message().getState() == UpdateState.ROLLED_BACK).findFirst().orElseThrow().nanoTime();
        System.out.printf("edge IT: v3 APPLYING -> ROLLED_BACK took %d ms%n", TimeUnit.NANOSECONDS.toMillis(done - applying));
        String v2Container = containerIds().get(0);

        // a bad signature is refused and changes nothing
        SignedEnvelope good = signed(desired(4, "1.0.0", true));
        byte[] sig = good.getSignature().toByteArray();
        sig[0] ^= 1;
        publish(orchestrator, good.toBuilder().setSignature(ByteString.copyFrom(sig)).build());
        orchestrator.await(StatusEvent.class, e -> e.getState() == UpdateState.REJECTED && e.getReason() == Reason.BAD_SIGNATURE,
                Duration.ofSeconds(10));

        // a replayed (older) sequence is refused
        publish(orchestrator, signed(desired(2, "2.0.0", false)));
        orchestrator.await(StatusEvent.class, e -> e.getState() == UpdateState.REJECTED && e.getReason() == Reason.REPLAY && e.getSequence() == 2,
                Duration.ofSeconds(10));
        assertThat(containerIds()).containsExactly(v2Container);

        // after a restart the rolled-back (sequence 3, version 3.0.0) is not tried again
        publish(orchestrator, signed(desired(3, "3.0.0", false))); // the retained state the broker hands out again
        daemon.close();
        toClose.remove(toClose.size() - 2);
        int before = orchestrator.messages(StatusEvent.class).size();
        EdgeDaemon restarted = EdgeDaemon.start(config, work.resolve("edge"));
        toClose.add(restarted::close);
        // a fleet rollback acknowledgement (rollback=true to the running version) proves the worker drained the redelivery
        publish(orchestrator, signed(desired(5, "2.0.0", true)));
        awaitState(orchestrator, 5, "2.0.0", UpdateState.ACTIVE);
        List<StatusEvent> all = orchestrator.messages(StatusEvent.class);
        List<StatusEvent> after = all.subList(before, all.size());
        assertThat(after).noneMatch(e -> e.getVersion().equals("3.0.0") && e.getState() == UpdateState.APPLYING);
        assertThat(containerIds()).containsExactly(v2Container);

        // a signed fleet rollback to an older version switches to it
        publish(orchestrator, signed(desired(6, "1.0.0", true)));
        awaitState(orchestrator, 6, "1.0.0", UpdateState.ACTIVE);
        assertThat(runningVersions()).containsExactly("1.0.0");

        // the orchestrator refuses an archive (403): the status report says so, and nothing changes
        Release refused = releases.get("2.0.0").toBuilder().setVersion("4.0.0").setImages(0, releases.get("2.0.0").getImages(0)
                .toBuilder().setArchiveDigest("sha256:" + "f".repeat(64)).setUrl(artifacts.refuse("denied"))).build();
        releases.put("4.0.0", refused);
        publish(orchestrator, signed(desired(7, "4.0.0", false)));
        StatusEvent why = orchestrator.await(StatusEvent.class, e -> e.getSequence() == 7 && e.getReason() == Reason.DOWNLOAD_FAILED,
                Duration.ofSeconds(30));
        assertThat(why.getMessage()).contains("403", "not part of a release in the desired state");
        assertThat(runningVersions()).containsExactly("1.0.0");
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aDaemonStoppedDuringTheSoakResumesTheCheckAtTheNextStartOnTheSameBoot() throws Exception {
        Mosquitto mosquitto = startBrokerAndArtifacts();
        releases.put("1.0.0", release("1.0.0", true, artifacts));
        releases.put("2.0.0", release("2.0.0", true, artifacts, 8_000));
        EdgeConfig config = EdgeConfig.of(deviceId, mosquitto.url(), artifacts.baseUrl(),
                List.of(new EdgeConfig.TrustedKeyConfig(key.keyId(), key.publicKey().toBase64())));
        MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), topics, deviceId);
        toClose.add(orchestrator);
        EdgeDaemon daemon = EdgeDaemon.start(config, work.resolve("edge"));
        Presence online = orchestrator.await(Presence.class, Presence::getOnline, Duration.ofSeconds(10));
        assertThat(online.getPlatform()).isEqualTo(platform);

        publish(orchestrator, signed(desired(1, "1.0.0", false)));
        awaitState(orchestrator, 1, "1.0.0", UpdateState.ACTIVE);
        publish(orchestrator, signed(desired(2, "2.0.0", false)));
        orchestrator.await(StatusEvent.class, e -> e.getSequence() == 2 && e.getState() == UpdateState.VERIFYING, Duration.ofSeconds(30));
        daemon.close(); // in the middle of the 8 s soak
        await().atMost(Duration.ofSeconds(10)).until(() -> !orchestrator.latest(Presence.class).orElseThrow().getOnline());
        assertThat(runningVersions()).containsExactly("2.0.0"); // closing does not stop app containers
        String container = DockerCli.output("docker", "ps", "-q", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId);

        EdgeDaemon restarted = EdgeDaemon.start(config, work.resolve("edge"));
        toClose.add(restarted::close);
        // the same boot: not a reboot, so the check goes on where it was, with only the rest of the soak
        StatusEvent active = awaitState(orchestrator, 2, "2.0.0", UpdateState.ACTIVE);
        assertThat(active.getRunningVersion()).isEqualTo("2.0.0");
        assertThat(orchestrator.messages(StatusEvent.class)).anyMatch(e -> e.getSequence() == 2 && e.getState() == UpdateState.VERIFYING
                && e.getMessage().contains("daemon restarted during VERIFYING"));
        assertThat(runningVersions()).containsExactly("2.0.0");
        assertThat(DockerCli.output("docker", "ps", "-q", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId)).as("the same container").isEqualTo(container);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> orchestrator.latest(Presence.class).map(p -> p.getOnline() && p.getLastSequence() == 2).orElse(false));
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void aBundleImportedFromLocalMediaActivatesWithNoArtifactServerAtAll() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        Mosquitto mosquitto = Mosquitto.anonymous(work.resolve("mosquitto"));
        toClose.add(mosquitto);
        platform = platformOfEngine();
        httpPort = Ports.free();
        // the release points at an artifact server that does not exist
        ArtifactServer nowhere = new ArtifactServer();
        Release v1 = release("1.0.0", true, nowhere);
        nowhere.close();
        releases.put("1.0.0", v1);
        byte[] archive = Files.readAllBytes(work.resolve("image-1.0.0.tar"));
        Path bundle = TestBundles.write(work.resolve("web-1.0.0.bundle.tar"), TestBundles.manifest(key, v1, System.currentTimeMillis()),
                Map.of(v1.getImages(0).getArchiveDigest(), archive));
        Path configFile = work.resolve("edge.yaml");
        Files.writeString(configFile, """
                deviceId: %s
                brokerUrl: %s
                orchestratorUrl: %s
                trustedKeys:
                  - keyId: %s
                    publicKey: %s
                """.formatted(deviceId, mosquitto.url(), nowhere.baseUrl(), key.keyId(), key.publicKey().toBase64()));
        Path data = work.resolve("edge");

        assertThat(dev.turnout.edge.app.EdgeMain.run("cache", "import", bundle.toString(), "--config", configFile.toString(),
                "--data", data.toString())).isZero();

        MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), topics, deviceId);
        toClose.add(orchestrator);
        EdgeDaemon daemon = EdgeDaemon.start(EdgeConfig.load(configFile), data);
        toClose.add(daemon::close);
        publish(orchestrator, signed(desired(1, "1.0.0", false)));
        awaitState(orchestrator, 1, "1.0.0", UpdateState.ACTIVE);
        assertThat(runningVersions()).containsExactly("1.0.0");
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void activateOutsideTheUpdateWindowWaitsAndAStartInsideTheWindowSwitches() throws Exception {
        Mosquitto mosquitto = startBrokerAndArtifacts();
        releases.put("1.0.0", release("1.0.0", true, artifacts));
        EdgeConfig anyTime = EdgeConfig.of(deviceId, mosquitto.url(), artifacts.baseUrl(),
                List.of(new EdgeConfig.TrustedKeyConfig(key.keyId(), key.publicKey().toBase64())));
        java.time.LocalTime now = java.time.LocalTime.now();
        EdgeConfig closedNow = anyTime.withUpdateWindow(new dev.turnout.edge.domain.UpdateWindow(now.plusHours(2).withSecond(0).withNano(0),
                now.plusHours(3).withSecond(0).withNano(0)));
        MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), topics, deviceId);
        toClose.add(orchestrator);

        EdgeDaemon daemon = EdgeDaemon.start(closedNow, work.resolve("edge"));
        publish(orchestrator, signed(desired(1, "1.0.0", false)));
        StatusEvent waiting = awaitState(orchestrator, 1, "1.0.0", UpdateState.WAITING_FOR_WINDOW);
        assertThat(waiting.getMessage()).contains(closedNow.updateWindow().toString());
        assertThat(allVersions()).isEmpty();
        daemon.close();

        // the operator drops the window (or the device powers up inside it): the switch happens at start-up
        EdgeDaemon restarted = EdgeDaemon.start(anyTime, work.resolve("edge"));
        toClose.add(restarted::close);
        awaitState(orchestrator, 1, "1.0.0", UpdateState.ACTIVE);
        assertThat(runningVersions()).containsExactly("1.0.0");
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void aContainerStoppedOrRemovedByHandIsPutBackAndReportedAsDrift() throws Exception {
        Mosquitto mosquitto = startBrokerAndArtifacts();
        releases.put("1.0.0", release("1.0.0", true, artifacts));
        EdgeConfig config = EdgeConfig.of(deviceId, mosquitto.url(), artifacts.baseUrl(),
                List.of(new EdgeConfig.TrustedKeyConfig(key.keyId(), key.publicKey().toBase64()))).withCheckInterval(Duration.ofMillis(500));
        MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), topics, deviceId);
        toClose.add(orchestrator);
        EdgeDaemon daemon = EdgeDaemon.start(config, work.resolve("edge"));
        toClose.add(daemon::close);
        publish(orchestrator, signed(desired(1, "1.0.0", false)));
        awaitState(orchestrator, 1, "1.0.0", UpdateState.ACTIVE);
        String original = containerIds().get(0);

        DockerCli.output("docker", "stop", "-t", "1", original);
        await().atMost(Duration.ofSeconds(20)).until(() -> orchestrator.messages(StatusEvent.class).stream().filter(e -> e.getReason() == Reason.DRIFT).count() == 1);
        await().atMost(Duration.ofSeconds(10)).until(() -> containerIds().equals(List.of(original)));

        DockerCli.output("docker", "rm", "-f", original);
        await().atMost(Duration.ofSeconds(20)).until(() -> orchestrator.messages(StatusEvent.class).stream().filter(e -> e.getReason() == Reason.DRIFT).count() == 2);
        await().atMost(Duration.ofSeconds(10)).until(() -> runningVersions().equals(List.of("1.0.0")));
        assertThat(containerIds()).doesNotContain(original);
        StatusEvent drift = orchestrator.messages(StatusEvent.class).stream().filter(e -> e.getReason() == Reason.DRIFT).reduce((a, b) -> b).orElseThrow();
        assertThat(drift.getState()).isEqualTo(UpdateState.ACTIVE);
        assertThat(drift.getRunningVersion()).isEqualTo("1.0.0");
        assertThat(drift.getMessage()).contains("removed");
    }

    private StatusEvent awaitState(MqttRecorder<Message> recorder, long sequence, String version, UpdateState state) {
        StatusEvent last = recorder.await(StatusEvent.class, e -> e.getSequence() == sequence && e.getVersion().equals(version)
                && (e.getState() == state || e.getState() == UpdateState.FAILED || e.getState() == UpdateState.REJECTED), Duration.ofSeconds(60));
        assertThat(last.getState()).as("%s", last).isEqualTo(state);
        return last;
    }

    private void publish(MqttRecorder<Message> recorder, SignedEnvelope envelope) throws Exception {
        recorder.publishRetained(topics.desired(deviceId), envelope.toByteArray());
    }

    private SignedEnvelope signed(DesiredState state) {
        return key.seal(state);
    }

    private DesiredState desired(long sequence, String version, boolean rollback) {
        long now = System.currentTimeMillis();
        return DesiredState.newBuilder().setDeviceId(deviceId).setSequence(sequence).setIssuedAtMs(now).setExpiresAtMs(now + 3_600_000)
                .addApps(AppDesired.newBuilder().setApp("web").setRelease(releases.get(version)).setPhase(Phase.ACTIVATE)
                        .setRollback(rollback).setRolloutId("r-it"))
                .build();
    }

    private Release release(String version, boolean healthy, ArtifactServer server) throws Exception {
        return release(version, healthy, server, 1000);
    }

    private Release release(String version, boolean healthy, ArtifactServer server, long soakMs) throws Exception {
        String ref = imageRepo + ":" + version;
        Path archive = images.build(ref, version, healthy, work);
        String imageId = images.id(ref);
        images.remove(ref); // the daemon must load it from the archive
        byte[] bytes = Files.readAllBytes(archive);
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        String url = server.add(digest, archive);
        return Release.newBuilder().setApp("web").setVersion(version)
                .addImages(ImageArtifact.newBuilder().setPlatform(platform).setImageRef(ref).setArchiveDigest(digest)
                        .setSize(bytes.length).setUrl(url).setImageId(imageId))
                .setContainer(ContainerSpec.newBuilder().addAllCommand(List.of("/bin/httpd", "-f", "-p", Integer.toString(httpPort), "-h", "/www"))
                        .putEnv("MODE", "it").setNetwork("none").setRestart("no"))
                .setHealth(HealthCheck.newBuilder().addAllExec(List.of("/bin/wget", "-q", "-O", "-", "http://127.0.0.1:" + httpPort + "/health"))
                        .setIntervalMs(300).setTimeoutMs(2000).setRetries(3).setSoakMs(soakMs))
                .build();
    }

    private List<String> containerIds() {
        String ids = DockerCli.output("docker", "ps", "-q", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId);
        return ids.isBlank() ? List.of() : Arrays.asList(ids.split("\\s+"));
    }

    private List<String> runningVersions() {
        return versions("docker", "ps");
    }

    private List<String> allVersions() {
        return versions("docker", "ps", "-a");
    }

    private List<String> versions(String... ps) {
        List<String> command = new ArrayList<>(List.of(ps));
        command.addAll(List.of("--filter", "label=dev.turnout.device=" + deviceId, "--format", "{{.Label \"dev.turnout.version\"}}"));
        String out = DockerCli.output(command.toArray(String[]::new));
        return out.isBlank() ? List.of() : Arrays.asList(out.split("\\s+"));
    }

    private static String platformOfEngine() {
        String arch = DockerCli.output("docker", "info", "--format", "{{.Architecture}}");
        return switch (arch) {
            case "x86_64", "amd64" -> "linux/amd64";
            case "aarch64", "arm64" -> "linux/arm64";
            default -> "linux/" + arch;
        };
    }
}
