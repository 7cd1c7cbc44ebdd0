package dev.turnout.orchestrator.sim;

import dev.turnout.broker.EmbeddedBroker;
import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One simulated device on a real broker (embedded HiveMQ CE), fed signed desired states the way the
 * orchestrator publishes them: it must refuse what the edge daemon refuses and walk the daemon's states.
 */
class SimulatedDeviceIT {

    @TempDir
    Path data;

    private final Topics topics = Topics.defaults();
    private final SigningKey key = SigningKey.generate();
    private final BlockingQueue<StatusEvent> statuses = new LinkedBlockingQueue<>();
    private final BlockingQueue<Presence> presences = new LinkedBlockingQueue<>();
    private EmbeddedBroker broker;
    private AsyncMqttSession orchestrator;
    private ScheduledExecutorService scheduler;
    private SimulatedDevice device;

    @BeforeEach
    void start() throws Exception {
        // the broker's own rules apply: the test listens as the orchestrator, the device connects as itself
        java.util.Map<String, dev.turnout.broker.Role> roles = java.util.Map.of("test-orchestrator", dev.turnout.broker.Role.ORCHESTRATOR,
                "pi-sim", dev.turnout.broker.Role.DEVICE);
        broker = EmbeddedBroker.start(data.resolve("broker"), "127.0.0.1", 0,
                (username, password) -> java.util.Optional.ofNullable(roles.get(username))
                        .filter(role -> new String(password, java.nio.charset.StandardCharsets.UTF_8).equals("secret-" + username)),
                new dev.turnout.broker.TopicPolicy(topics));
        orchestrator = AsyncMqttSession.create(new AsyncMqttSession.Settings("test-orchestrator", broker.url(), "test-orchestrator",
                "secret-test-orchestrator", true, 0,
                null, null, false), (topic, payload) -> {
                    try {
                        if (topic.endsWith("/status")) {
                            statuses.add(StatusEvent.parseFrom(payload));
                        } else if (topic.endsWith("/presence")) {
                            presences.add(Presence.parseFrom(payload));
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
        orchestrator.connect().get(10, TimeUnit.SECONDS);
        orchestrator.subscribe(List.of(topics.allStatus(), topics.allPresence())).get(10, TimeUnit.SECONDS);
        scheduler = Executors.newScheduledThreadPool(1);
        DeviceEnrollment enrollment = new DeviceEnrollment("pi-sim", broker.url(), topics.prefix(), List.of(key.publicKey()), "pi-sim", "secret-pi-sim", "");
        device = new SimulatedDevice(enrollment, SimulationOptions.defaults(1).withApplyTime(Duration.ofMillis(100))
                .withFailingVersions(Set.of("3.0.0")), scheduler, 7);
        device.start().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        device.stop().get(10, TimeUnit.SECONDS);
        orchestrator.close();
        scheduler.shutdownNow();
        broker.close();
    }

    @Test
    void walksTheDaemonsStatesAndRefusesWhatTheDaemonRefuses() throws Exception {
        assertThat(presences.poll(10, TimeUnit.SECONDS).getOnline()).isTrue();

        publish(key, desired("pi-sim", 1, "1.0.0", Phase.STAGE, false, 60_000));
        assertThat(next(2)).containsExactly("1.0.0 DOWNLOADING", "1.0.0 STAGED");

        publish(SigningKey.generate(), desired("pi-sim", 2, "1.0.0", Phase.ACTIVATE, false, 60_000));
        assertThat(next(1)).containsExactly("REJECTED UNKNOWN_KEY"); // nothing inside an unverified payload is read, not even the version

        publish(key, desired("pi-other", 2, "1.0.0", Phase.ACTIVATE, false, 60_000));
        assertThat(next(1)).containsExactly("1.0.0 REJECTED WRONG_DEVICE");

        publish(key, desired("pi-sim", 2, "1.0.0", Phase.ACTIVATE, false, 60_000));
        assertThat(next(4)).containsExactly("1.0.0 DOWNLOADING", "1.0.0 STAGED", "1.0.0 APPLYING", "1.0.0 VERIFYING");
        assertThat(next(1)).containsExactly("1.0.0 ACTIVE");
        assertThat(device.running("web")).isEqualTo("1.0.0");

        publish(key, desired("pi-sim", 1, "1.0.0", Phase.ACTIVATE, false, 60_000));
        assertThat(next(1)).containsExactly("1.0.0 REJECTED REPLAY");

        publish(key, desired("pi-sim", 3, "2.0.0", Phase.ACTIVATE, false, -1_000));
        assertThat(next(1)).containsExactly("2.0.0 REJECTED EXPIRED");

        publish(key, desired("pi-sim", 4, "0.9.0", Phase.ACTIVATE, false, 60_000));
        assertThat(next(1)).containsExactly("0.9.0 REJECTED DOWNGRADE");

        publish(key, desired("pi-sim", 5, "3.0.0", Phase.ACTIVATE, false, 60_000));
        assertThat(next(6)).containsExactly("3.0.0 DOWNLOADING", "3.0.0 STAGED", "3.0.0 APPLYING", "3.0.0 VERIFYING",
                "3.0.0 ROLLING_BACK HEALTH_CHECK_FAILED", "3.0.0 ROLLED_BACK HEALTH_CHECK_FAILED");
        assertThat(device.running("web")).isEqualTo("1.0.0");

        // a signed rollback to what runs is acknowledged without touching anything
        publish(key, desired("pi-sim", 6, "1.0.0", Phase.ACTIVATE, true, 60_000));
        assertThat(next(1)).containsExactly("1.0.0 ACTIVE");
        assertThat(statuses.poll(300, TimeUnit.MILLISECONDS)).isNull();
    }

    @Test
    void aLostConnectionLeavesTheLastWillAndTheDeviceComesBack() throws Exception {
        assertThat(presences.poll(10, TimeUnit.SECONDS).getOnline()).isTrue();
        device.dropConnection(Duration.ofMillis(500));
        Presence will = presences.poll(10, TimeUnit.SECONDS);
        assertThat(will.getOnline()).isFalse();
        assertThat(will.getDeviceId()).isEqualTo("pi-sim");
        assertThat(presences.poll(10, TimeUnit.SECONDS).getOnline()).isTrue();
    }

    private List<String> next(int n) throws InterruptedException {
        List<String> got = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StatusEvent e = statuses.poll(10, TimeUnit.SECONDS);
            assertThat(e).as("status %d of %d after %s", i + 1, n, got).isNotNull();
            got.add((e.getVersion() + " " + e.getState() + (e.getReason().getNumber() == 0 ? "" : " " + e.getReason())).trim());
            if (e.getState() != UpdateState.REJECTED) {
                assertThat(e.getDeviceId()).isEqualTo("pi-sim");
            }
        }
        return got;
    }

    private void publish(SigningKey signer, DesiredState state) throws Exception {
        orchestrator.publish(topics.desired("pi-sim"), signer.seal(state).toByteArray(), 1, true).get(10, TimeUnit.SECONDS);
    }

    private static DesiredState desired(String deviceId, long sequence, String version, Phase phase, boolean rollback, long expiresInMs) {
        long now = System.currentTimeMillis();
        Release release = Release.newBuilder().setApp("web").setVersion(version)
                .addImages(ImageArtifact.newBuilder().setPlatform("linux/arm64").setImageRef("sim/web:" + version)
                        .setArchiveDigest("sha256:00").setSize(1).setImageId("sha256:01"))
                .build();
        // issued a minute ago, so that one that expired already was still issued before it expired (else it is malformed)
        return DesiredState.newBuilder().setDeviceId(deviceId).setSequence(sequence).setIssuedAtMs(now - 60_000)
                .setExpiresAtMs(now + expiresInMs)
                .addApps(AppDesired.newBuilder().setApp("web").setRelease(release).setPhase(phase).setRollback(rollback)
                        .setRolloutId("r-test"))
                .build();
    }
}
