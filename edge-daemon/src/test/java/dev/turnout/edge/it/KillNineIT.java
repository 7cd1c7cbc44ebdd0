package dev.turnout.edge.it;

import com.google.protobuf.Message;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

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

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The packaged daemon ({@code target/turnout-edge-device.jar}) runs as its own process and is killed with SIGKILL
 * while an update from 1.0.0 to 2.0.0 (or a first install of 2.0.0) is in a given state, then started again on the
 * same boot: only the daemon restarted, the containers kept running. Every run must end with exactly one running
 * container of the device, of the version the last status report names.
 */
class KillNineIT {

    private static final TestImages IMAGES = new TestImages(TestEngines.DEFAULT);

    @TempDir
    static Path shared;
    @TempDir
    Path work;

    private static final SigningKey KEY = SigningKey.generate();
    private static final String RUN = "it-kill-" + UUID.randomUUID().toString().substring(0, 8);
    private static final Topics TOPICS = Topics.defaults();
    private static Mosquitto mosquitto;
    private static ArtifactServer artifacts;
    private static Release v1;
    private static Release v2;
    private static final List<String> imageIds = new ArrayList<>();

    private final String deviceId = RUN + "-" + UUID.randomUUID().toString().substring(0, 4);
    private final Closer toClose = new Closer();
    private Process daemon;

    @BeforeAll
    static void releases() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        if (!Files.isRegularFile(Path.of("target/turnout-edge-device.jar"))) {
            throw new IllegalStateException("target/turnout-edge-device.jar is missing: run through `mvn verify` (package comes first)");
        }
        mosquitto = Mosquitto.anonymous(shared.resolve("mosquitto"));
        artifacts = new ArtifactServer();
        String platform = switch (DockerCli.output("docker", "info", "--format", "{{.Architecture}}")) {
            case "x86_64", "amd64" -> "linux/amd64";
            case "aarch64", "arm64" -> "linux/arm64";
            default -> "linux/" + DockerCli.output("docker", "info", "--format", "{{.Architecture}}");
        };
        int port = Ports.free();
        v1 = release("1.0.0", platform, port, 500);
        v2 = release("2.0.0", platform, port, 4000); // a long soak keeps VERIFYING open for the kill
    }

    @AfterAll
    static void stopShared() {
        if (artifacts != null) {
            artifacts.close();
        }
        if (mosquitto != null) {
            mosquitto.close();
        }
        for (String id : imageIds) {
            DockerCli.exitCode("docker", "rmi", "-f", id);
        }
    }

    @AfterEach
    void cleanUp() {
        if (daemon != null) {
            daemon.destroyForcibly();
        }
        toClose.close();
        String ids = "";
        try {
            ids = DockerCli.output("docker", "ps", "-aq", "--filter", "label=dev.turnout.device=" + deviceId);
        } catch (IllegalStateException engineGone) {
            // nothing to clean
        }
        for (String id : ids.split("\\s+")) {
            if (!id.isBlank()) {
                DockerCli.exitCode("docker", "rm", "-f", id);
            }
        }
        artifacts.throttle(0);
    }

    @ParameterizedTest(name = "kill -9 during {0}")
    @EnumSource(value = UpdateState.class, names = {"DOWNLOADING", "APPLYING", "VERIFYING"})
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void endsWithExactlyOneHealthyContainerAndAReportThatSaysWhich(UpdateState killAt) throws Exception {
        MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), TOPICS, deviceId);
        toClose.add(orchestrator);
        Path config = config();
        daemon = launch(config, "first");
        orchestrator.publishRetained(TOPICS.desired(deviceId), KEY.seal(desired(1, v1)).toByteArray());
        awaitEvent(orchestrator, 1, UpdateState.ACTIVE);

        if (killAt == UpdateState.DOWNLOADING) {
            artifacts.throttle(100);
        }
        orchestrator.publishRetained(TOPICS.desired(deviceId), KEY.seal(desired(2, v2)).toByteArray());
        awaitEvent(orchestrator, 2, killAt);
        daemon.destroyForcibly(); // SIGKILL: no shutdown hook, no clean MQTT disconnect
        assertThat(daemon.waitFor(10, TimeUnit.SECONDS)).isTrue();
        artifacts.throttle(0);
        int reportsBeforeRestart = orchestrator.messages(StatusEvent.class).size();

        daemon = launch(config, "second");
        await().atMost(Duration.ofSeconds(45)).until(() -> orchestrator.messages(StatusEvent.class).stream().skip(reportsBeforeRestart)
                .anyMatch(e -> e.getSequence() == 2 && isFinal(e.getState())));
        StatusEvent last = orchestrator.messages(StatusEvent.class).stream().skip(reportsBeforeRestart).filter(e -> e.getSequence() == 2 && isFinal(e.getState()))
                .findFirst().orElseThrow();
        System.out.printf("kill -9 during %s: after restart %s %s, running %s%n", killAt, last.getState(), last.getReason(),
                last.getRunningVersion());

        assertThat(runningVersions()).as("running containers of the device").containsExactly(last.getRunningVersion());
        assertThat(allVersions()).as("every container of the device").containsExactly(last.getRunningVersion());
        if (killAt == UpdateState.DOWNLOADING || killAt == UpdateState.VERIFYING) {
            // the download resumed and the update finished; the check of the running new container went on
            assertThat(last.getState()).isEqualTo(UpdateState.ACTIVE);
            assertThat(last.getRunningVersion()).isEqualTo("2.0.0");
        } else if (last.getState() == UpdateState.ACTIVE) { // killed after the new container started: its check went on
            assertThat(last.getRunningVersion()).isEqualTo("2.0.0");
        } else { // killed before the new container ran
            assertThat(last.getState()).isEqualTo(UpdateState.ROLLED_BACK);
            assertThat(last.getReason()).isEqualTo(Reason.INTERRUPTED);
            assertThat(last.getRunningVersion()).isEqualTo("1.0.0");
        }
    }

    /**
     * Issue 14: a first install killed during its check used to end FAILED ("no previous release to go back to") with
     * the new container still running. The daemon started again on the same boot resumes the check, with the rest of
     * the soak, and keeps that very container.
     */
    @org.junit.jupiter.api.Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void aFirstInstallKilledDuringItsCheckEndsActiveWithTheSameContainer() throws Exception {
        MqttRecorder<Message> orchestrator = DeviceReports.record(mosquitto.url(), TOPICS, deviceId);
        toClose.add(orchestrator);
        Path config = config();
        daemon = launch(config, "first");
        orchestrator.publishRetained(TOPICS.desired(deviceId), KEY.seal(desired(1, v2)).toByteArray());
        awaitEvent(orchestrator, 1, UpdateState.VERIFYING); // 4 s soak
        String container = DockerCli.output("docker", "ps", "-q", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId);
        assertThat(container).as("the new container runs").isNotBlank().doesNotContain("\n");
        daemon.destroyForcibly(); // SIGKILL
        assertThat(daemon.waitFor(10, TimeUnit.SECONDS)).isTrue();
        int reportsBeforeRestart = orchestrator.messages(StatusEvent.class).size();

        daemon = launch(config, "second");
        await().atMost(Duration.ofSeconds(45)).until(() -> orchestrator.messages(StatusEvent.class).stream().skip(reportsBeforeRestart)
                .anyMatch(e -> e.getSequence() == 1 && isFinal(e.getState())));
        List<StatusEvent> after = orchestrator.messages(StatusEvent.class).stream().skip(reportsBeforeRestart).filter(e -> e.getSequence() == 1).toList();
        after.forEach(e -> System.out.printf("after the restart: %s %s \"%s\" running %s%n", e.getState(), e.getReason(), e.getMessage(),
                e.getRunningVersion()));

        assertThat(after).extracting(StatusEvent::getState).as("no rollback, no failure")
                .doesNotContain(UpdateState.ROLLING_BACK, UpdateState.ROLLED_BACK, UpdateState.FAILED).contains(UpdateState.ACTIVE);
        // the resumed check is announced live, or (when it began before the broker connection) in the status the daemon
        // reports on connecting: the record is saved before the report either way
        assertThat(after).filteredOn(e -> e.getState() == UpdateState.VERIFYING).extracting(StatusEvent::getMessage)
                .anySatisfy(m -> assertThat(m).startsWith("the daemon restarted during VERIFYING; the new container is running: resuming its check,"));
        StatusEvent active = after.stream().filter(e -> e.getState() == UpdateState.ACTIVE).findFirst().orElseThrow();
        assertThat(active.getRunningVersion()).isEqualTo("2.0.0");
        assertThat(DockerCli.output("docker", "ps", "-q", "--no-trunc", "--filter", "label=dev.turnout.device=" + deviceId))
                .as("the very container started before the kill").isEqualTo(container);
        assertThat(allVersions()).as("every container of the device").containsExactly("2.0.0");
    }

    private Path config() throws Exception {
        Path config = work.resolve("edge.yaml");
        Files.writeString(config, """
                deviceId: %s
                brokerUrl: %s
                orchestratorUrl: %s
                trustedKeys:
                  - keyId: %s
                    publicKey: %s
                """.formatted(deviceId, mosquitto.url(), artifacts.baseUrl(), KEY.keyId(), KEY.publicKey().toBase64()));
        return config;
    }

    private static boolean isFinal(UpdateState state) {
        return state == UpdateState.ACTIVE || state == UpdateState.ROLLED_BACK || state == UpdateState.FAILED;
    }

    private Process launch(Path config, String name) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process process = new ProcessBuilder(java.toString(), "-Xmx96m", "-XX:+UseSerialGC", "-jar", "target/turnout-edge-device.jar",
                "--config", config.toString(), "--data", work.resolve("data").toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("daemon-" + name + ".log").toFile()).start();
        toClose.add(process::destroyForcibly);
        return process;
    }

    private void awaitEvent(MqttRecorder<Message> recorder, long sequence, UpdateState state) throws Exception {
        try {
            recorder.await(StatusEvent.class, e -> e.getSequence() == sequence && e.getState() == state, Duration.ofSeconds(40));
        } catch (AssertionError e) {
            for (Path log : Files.list(work).filter(p -> p.getFileName().toString().endsWith(".log")).toList()) {
                System.out.println("---- " + log + "\n" + Files.readString(log));
            }
            throw e;
        }
    }

    private DesiredState desired(long sequence, Release release) {
        long now = System.currentTimeMillis();
        return DesiredState.newBuilder().setDeviceId(deviceId).setSequence(sequence).setIssuedAtMs(now).setExpiresAtMs(now + 3_600_000)
                .addApps(AppDesired.newBuilder().setApp("web").setRelease(release).setPhase(Phase.ACTIVATE).setRolloutId("r-kill"))
                .build();
    }

    private static Release release(String version, String platform, int port, long soakMs) throws Exception {
        String ref = "turnout-edge-it/" + RUN + ":" + version;
        Path archive = IMAGES.build(ref, version, true, shared);
        String imageId = IMAGES.id(ref);
        imageIds.add(imageId);
        IMAGES.remove(ref); // the daemon loads it from the archive
        byte[] bytes = Files.readAllBytes(archive);
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        return Release.newBuilder().setApp("web").setVersion(version)
                .addImages(ImageArtifact.newBuilder().setPlatform(platform).setImageRef(ref).setArchiveDigest(digest)
                        .setSize(bytes.length).setUrl(artifacts.add(digest, archive)).setImageId(imageId))
                .setContainer(ContainerSpec.newBuilder().addAllCommand(List.of("/bin/httpd", "-f", "-p", "127.0.0.1:" + port, "-h", "/www"))
                        .setNetwork("none").setRestart("no"))
                .setHealth(HealthCheck.newBuilder().addAllExec(List.of("/bin/wget", "-q", "-O", "-", "http://127.0.0.1:" + port + "/health"))
                        .setIntervalMs(250).setTimeoutMs(2000).setRetries(3).setSoakMs(soakMs))
                .build();
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
}
