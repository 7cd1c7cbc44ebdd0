package dev.turnout.edge.engine;

import dev.turnout.edge.cache.ArtifactCache;
import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.domain.UpdateWindow;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.APPLYING;
import static dev.turnout.proto.UpdateState.DOWNLOADING;
import static dev.turnout.proto.UpdateState.FAILED;
import static dev.turnout.proto.UpdateState.ROLLED_BACK;
import static dev.turnout.proto.UpdateState.ROLLING_BACK;
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static dev.turnout.proto.UpdateState.WAITING_FOR_WINDOW;
import static org.assertj.core.api.Assertions.assertThat;

/** Loop guard, update window and a full disk: what the device does when it must not (or cannot) switch now. */
class UpdatePolicyTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final Set<String> unhealthyVersions = new HashSet<>();
    /** Device local time, in a zone east of UTC so that "local" is not silently UTC. */
    private final ZoneId zone = ZoneOffset.ofHours(2);
    private final AtomicLong localNow = new AtomicLong(Instant.parse("2026-11-23T08:00:00Z").toEpochMilli()); // 10:00 local

    private UpdateEngine engine(UpdateEngine.Policy policy, ArtifactSource artifacts) {
        FileStateStore store = new FileStateStore(dir.resolve("state"));
        HealthVerifier health = (containerId, check) -> {
            String version = runtime.containers.get(containerId).labels().get(UpdateEngine.LABEL_VERSION);
            if (unhealthyVersions.contains(version)) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "probe failed");
            }
        };
        DesiredStateVerifier verifier = Fixtures.verifier(store, key);
        return new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, runtime, health, events::add, () -> NOW, policy);
    }

    private UpdateEngine engine(UpdateEngine.Policy policy) {
        return engine(policy, new ArtifactSource() {
            @Override
            public boolean isCached(ImageArtifact artifact) {
                return true;
            }

            @Override
            public Path fetch(ImageArtifact artifact) {
                return dir.resolve(Fixtures.version(artifact) + ".tar");
            }

            @Override
            public void retainOnly(Collection<String> keepDigests) {
            }
        });
    }

    private Clock localClock() {
        return new Clock() {
            @Override
            public ZoneId getZone() {
                return zone;
            }

            @Override
            public Clock withZone(ZoneId other) {
                throw new UnsupportedOperationException();
            }

            @Override
            public Instant instant() {
                return Instant.ofEpochMilli(localNow.get());
            }
        };
    }

    private List<UpdateState> statesOf(long sequence) {
        return events.stream().filter(e -> e.getSequence() == sequence).map(StatusEvent::getState).toList();
    }

    private StatusEvent last() {
        return events.get(events.size() - 1);
    }

    private static void send(UpdateEngine engine, SigningKey key, DesiredState state) {
        engine.onDesiredState(key.seal(state).toByteArray());
    }

    @Test
    void aReSignedDesiredStateDoesNotRetryAReleaseThatRolledBack() {
        UpdateEngine engine = engine(new UpdateEngine.Policy(3, null, Clock.systemUTC()));
        send(engine, key, activate(1, "1.0.0"));
        unhealthyVersions.add("2.0.0");
        send(engine, key, activate(2, "2.0.0"));
        assertThat(statesOf(2)).endsWith(ROLLED_BACK);
        List<String> callsAfterRollback = List.copyOf(runtime.calls);

        // the orchestrator re-signs the same decision before it expires: new sequence, same rollout
        send(engine, key, activate(3, "2.0.0"));
        send(engine, key, activate(4, "2.0.0"));
        assertThat(statesOf(3)).isEmpty();
        assertThat(statesOf(4)).isEmpty();
        assertThat(runtime.calls).as("no load, no container started").isEqualTo(callsAfterRollback);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        // still says why it is not on 2.0.0
        assertThat(engine.currentStatus()).singleElement().satisfies(e -> {
            assertThat(e.getState()).isEqualTo(ROLLED_BACK);
            assertThat(e.getReason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        });
    }

    @Test
    void aVersionThatKeepsFailingIsGivenUpAfterMaxAttemptsAndThePreviousOneKeepsRunning() {
        UpdateEngine.Policy policy = new UpdateEngine.Policy(2, null, Clock.systemUTC());
        UpdateEngine engine = engine(policy);
        send(engine, key, activate(1, "1.0.0"));
        unhealthyVersions.add("2.0.0");

        // an operator deploys the same release again, twice (new rollouts)
        send(engine, key, activate(2, "2.0.0", "r-2"));
        send(engine, key, activate(3, "2.0.0", "r-3"));
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ROLLING_BACK, ROLLED_BACK);
        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ROLLING_BACK, ROLLED_BACK);
        List<String> callsAfterTwoAttempts = List.copyOf(runtime.calls);

        send(engine, key, activate(4, "2.0.0", "r-4"));
        assertThat(statesOf(4)).containsExactly(FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.TOO_MANY_ATTEMPTS);
        assertThat(last().getRunningVersion()).isEqualTo("1.0.0");
        assertThat(last().getMessage()).contains("2.0.0 failed 2 times");
        assertThat(runtime.calls).isEqualTo(callsAfterTwoAttempts);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");

        // the count survives a restart
        UpdateEngine restarted = engine(policy);
        restarted.recover();
        send(restarted, key, activate(5, "2.0.0", "r-5"));
        assertThat(statesOf(5)).containsExactly(FAILED);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");

        // a fixed release is a new version: tried at once
        send(restarted, key, activate(6, "2.0.1"));
        assertThat(statesOf(6)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("2.0.1");
    }

    @Test
    void anInterruptedAttemptCountsToo() {
        UpdateEngine.Policy policy = new UpdateEngine.Policy(1, null, Clock.systemUTC());
        UpdateEngine engine = engine(policy);
        send(engine, key, activate(1, "1.0.0"));
        AppRecord active = new FileStateStore(dir.resolve("state")).loadApp("web").orElseThrow();
        // power lost while applying 2.0.0, before its container was created (a new container that was created is judged
        // afresh after the reboot: RestartRecoveryTest)
        new FileStateStore(dir.resolve("state")).saveApp(active.withTarget(activate(2, "2.0.0").getApps(0), 2).withState(APPLYING));
        UpdateEngine restarted = engine(policy);
        restarted.recover();
        assertThat(last().getState()).isEqualTo(ROLLED_BACK);
        send(restarted, key, activate(3, "2.0.0"));
        assertThat(statesOf(3)).containsExactly(FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.TOO_MANY_ATTEMPTS);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void activateOutsideTheWindowStagesAndWaitsThenSwitchesWhenTheWindowOpens() {
        UpdateEngine.Policy policy = new UpdateEngine.Policy(3, UpdateWindow.parse("02:00-04:00"), localClock());
        UpdateEngine engine = engine(policy);
        localNow.set(Instant.parse("2026-11-23T00:30:00Z").toEpochMilli()); // 02:30 local: inside
        send(engine, key, activate(1, "1.0.0"));
        assertThat(statesOf(1)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);

        localNow.set(Instant.parse("2026-11-23T08:00:00Z").toEpochMilli()); // 10:00 local: outside
        List<String> calls = List.copyOf(runtime.calls);
        send(engine, key, activate(2, "2.0.0"));
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_WINDOW);
        assertThat(last().getMessage()).contains("02:00-04:00");
        // outside the window the image is loaded (staged), no container is touched
        assertThat(runtime.calls.subList(calls.size(), runtime.calls.size())).containsExactly("load 2.0.0.tar");
        engine.tick();
        assertThat(statesOf(2)).hasSize(3);

        // a STAGE is never held back
        send(engine, key, Fixtures.desired(3, "3.0.0", Phase.STAGE, false));
        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED);
        send(engine, key, activate(4, "3.0.0"));
        assertThat(statesOf(4)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_WINDOW);

        // the daemon restarts before the window; at 02:00 local the tick switches
        UpdateEngine restarted = engine(policy);
        restarted.recover();
        localNow.set(Instant.parse("2026-11-24T00:00:00Z").toEpochMilli());
        restarted.tick();
        assertThat(statesOf(4)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_WINDOW, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");
        restarted.tick();
        assertThat(statesOf(4)).hasSize(6);
    }

    @Test
    void aWindowPastMidnightWraps() {
        UpdateWindow window = UpdateWindow.parse("23:00-01:30");
        assertThat(window.contains(java.time.LocalTime.of(23, 0))).isTrue();
        assertThat(window.contains(java.time.LocalTime.of(0, 45))).isTrue();
        assertThat(window.contains(java.time.LocalTime.of(1, 30))).isFalse();
        assertThat(window.contains(java.time.LocalTime.of(12, 0))).isFalse();
    }

    @Test
    void aFullDiskFailsBeforeDownloadingRemovesThePartialFileAndLeavesTheRunningVersionAlone() throws Exception {
        Path cacheDir = Files.createDirectories(dir.resolve("cache"));
        // 1.0.0 is already in the cache (e.g. imported), 2.0.0 half downloaded from an earlier attempt
        ImageArtifact v1 = Fixtures.release("1.0.0").getImages(0);
        ImageArtifact v2 = Fixtures.release("2.0.0").getImages(0);
        Path v1File = cacheDir.resolve(v1.getArchiveDigest().replace(':', '-') + ".tar");
        Files.write(v1File, new byte[(int) v1.getSize()]);
        Path v2Part = cacheDir.resolve(v2.getArchiveDigest().replace(':', '-') + ".part");
        Files.write(v2Part, new byte[40]);
        String cached = v1File.getFileName().toString().replace(".tar", "");
        runtime.archiveIdOverride.put(cached, v1.getImageId());
        runtime.loadedLayersOverride.put(cached, v1.getDiffIdsList());
        AtomicLong usable = new AtomicLong(1L << 30);
        // nothing listens on port 9: any download attempt would fail with DOWNLOAD_FAILED, not DISK_FULL
        ArtifactCache cache = new ArtifactCache(cacheDir, "http://127.0.0.1:9", 1000, Duration.ZERO, d -> usable.get());
        UpdateEngine engine = engine(UpdateEngine.Policy.DEFAULT, cache);
        send(engine, key, activate(1, "1.0.0"));
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        List<String> calls = List.copyOf(runtime.calls);

        usable.set(1000 + 59); // 60 bytes still to fetch + 1000 in reserve do not fit
        send(engine, key, activate(2, "2.0.0"));
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.DISK_FULL);
        assertThat(last().getRunningVersion()).isEqualTo("1.0.0");
        assertThat(v2Part).doesNotExist();
        assertThat(v1File).exists();
        assertThat(runtime.calls).isEqualTo(calls);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }
    @Test
    void aDownloadGivenUpForANewerDesiredStateIsNoFailureOfTheRelease() throws Exception {
        Path cacheDir = Files.createDirectories(dir.resolve("cache-superseded"));
        ImageArtifact v1 = Fixtures.release("1.0.0").getImages(0);
        Path v1File = cacheDir.resolve(v1.getArchiveDigest().replace(':', '-') + ".tar");
        Files.write(v1File, new byte[(int) v1.getSize()]);
        String cached = v1File.getFileName().toString().replace(".tar", "");
        runtime.archiveIdOverride.put(cached, v1.getImageId());
        runtime.loadedLayersOverride.put(cached, v1.getDiffIdsList());
        // nothing listens on port 9: the orchestrator is unreachable, and a newer desired state is already waiting
        ArtifactCache cache = new ArtifactCache(cacheDir, "http://127.0.0.1:9", 0, Duration.ofMillis(5))
                .retryingFor(Duration.ofMillis(5)).backingOffAtMost(Duration.ofMillis(10)).waitingOutUnreachable(() -> true);
        UpdateEngine engine = engine(UpdateEngine.Policy.DEFAULT, cache);
        send(engine, key, activate(1, "1.0.0"));
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        List<String> calls = List.copyOf(runtime.calls);

        send(engine, key, activate(2, "2.0.0"));
        // before: DOWNLOADING, FAILED DOWNLOAD_FAILED "... given up for a newer desired state", which a rollout counts
        assertThat(statesOf(2)).as("the newer state takes over; nothing says 2.0.0 failed").containsExactly(DOWNLOADING);
        assertThat(runtime.calls).isEqualTo(calls);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }
}
