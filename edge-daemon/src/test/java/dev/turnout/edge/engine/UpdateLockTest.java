package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.port.HostBoot;
import dev.turnout.edge.port.UpdateLocks;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
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
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static dev.turnout.proto.UpdateState.WAITING_FOR_LOCK;
import static org.assertj.core.api.Assertions.assertThat;

/** The app's update lock: an ACTIVATE stages, then waits while the running app holds the lock, at most the lock timeout. */
class UpdateLockTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final Set<String> heldBy = new HashSet<>();
    private final AtomicLong now = new AtomicLong(NOW);
    private FileStateStore store;
    private UpdateEngine engine;

    @BeforeEach
    void setUp() {
        store = new FileStateStore(dir);
        engine = newEngine();
    }

    private UpdateEngine newEngine() {
        ArtifactSource artifacts = new ArtifactSource() {
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
        };
        UpdateLocks locks = new UpdateLocks() {
            @Override
            public String hostDir(String app) {
                return "/data/locks/" + app;
            }

            @Override
            public boolean held(String app) {
                return heldBy.contains(app);
            }
        };
        HealthVerifier healthy = (containerId, check) -> { };
        UpdateEngine.Policy policy = new UpdateEngine.Policy(3, null, Clock.systemUTC()).withLockTimeout(Duration.ofMinutes(10));
        return new UpdateEngine(DEVICE, PLATFORM, Fixtures.verifier(store, key), store, artifacts, runtime, healthy, events::add,
                now::get, policy, HostBoot.UNKNOWN, locks);
    }

    private void send(DesiredState state) {
        engine.onDesiredState(key.seal(state).toByteArray());
    }

    /** An activation of {@code version} that waits at most {@code lockTimeoutMs} (0: the device's default) and may force. */
    private static DesiredState activating(long sequence, String version, long lockTimeoutMs, boolean force) {
        DesiredState state = activate(sequence, version);
        return state.toBuilder().setApps(0, state.getApps(0).toBuilder().setLockTimeoutMs(lockTimeoutMs).setForce(force)).build();
    }

    private List<UpdateState> statesOf(long sequence) {
        return events.stream().filter(e -> e.getSequence() == sequence).map(StatusEvent::getState).toList();
    }

    private StatusEvent last() {
        return events.get(events.size() - 1);
    }

    private void runningWebHoldsTheLock() {
        send(activate(1, "1.0.0"));
        heldBy.add("web");
    }

    @Test
    void aHeldLockStagesThenWaitsWithTheOldVersionRunningAndSwitchesOnceReleased() {
        runningWebHoldsTheLock();
        send(activating(2, "2.0.0", 60_000, false));

        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_LOCK);
        assertThat(last().getMessage()).contains("holds its update lock (/run/turnout/updates.lock)", "at most 1 min");
        assertThat(last().getRunningVersion()).isEqualTo("1.0.0");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        assertThat(runtime.calls).noneMatch(c -> c.startsWith("create ") && c.endsWith("2.0.0"));

        now.addAndGet(30_000);
        engine.tick();
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_LOCK); // still held, not timed out

        heldBy.remove("web");
        engine.tick();
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_LOCK, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
    }

    @Test
    void aLockHeldPastTheTimeoutFailsTheUpdateWithLockTimeoutAndChangesNothing() {
        runningWebHoldsTheLock();
        String v1 = store.loadApp("web").orElseThrow().containerId();
        send(activating(2, "2.0.0", 60_000, false));
        int calls = runtime.calls.size();

        now.addAndGet(60_000);
        engine.tick();

        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_LOCK, FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.LOCK_TIMEOUT);
        assertThat(last().getMessage()).contains("longer than 1 min", "2.0.0 was not applied, 1.0.0 keeps running");
        assertThat(runtime.calls).hasSize(calls); // no stop, no create
        assertThat(runtime.containers.get(v1).running()).isTrue();
        AppRecord record = store.loadApp("web").orElseThrow();
        assertThat(record.runningVersion()).isEqualTo("1.0.0");
        assertThat(record.failedAttempts()).as("the version itself did not fail").isZero();
    }

    @Test
    void withoutATimeoutOfItsOwnTheDevicesDefaultApplies() {
        runningWebHoldsTheLock();
        send(activating(2, "2.0.0", 0, false));
        assertThat(last().getMessage()).contains("at most 10 min");

        now.addAndGet(Duration.ofMinutes(10).toMillis() - 1);
        engine.tick();
        assertThat(last().getState()).isEqualTo(WAITING_FOR_LOCK);
        now.addAndGet(1);
        engine.tick();
        assertThat(last().getReason()).isEqualTo(Reason.LOCK_TIMEOUT);
    }

    /** A signed removal of {@code app}. */
    private static DesiredState removing(long sequence, String app) {
        return DesiredState.newBuilder().setDeviceId(DEVICE).setSequence(sequence).setIssuedAtMs(NOW).setExpiresAtMs(NOW + 3_600_000)
                .addApps(dev.turnout.proto.AppDesired.newBuilder().setApp(app).setPhase(dev.turnout.proto.Phase.REMOVE)).build();
    }

    @Test
    void aRemovalWaitsForTheLockTooAndRemovesOnceReleased() {
        runningWebHoldsTheLock();
        send(removing(2, "web"));
        assertThat(statesOf(2)).containsExactly(WAITING_FOR_LOCK);
        assertThat(last().getMessage()).contains("holds its update lock", "removing it once it is released");
        assertThat(runtime.runningVersions()).as("the train keeps running").containsExactly("1.0.0");

        send(removing(3, "web")); // the same removal signed again: still waiting, its timeout not started afresh
        now.addAndGet(Duration.ofMinutes(9).toMillis());
        engine.tick();
        assertThat(last().getState()).isEqualTo(WAITING_FOR_LOCK);

        heldBy.remove("web");
        engine.tick();
        assertThat(last().getState()).isEqualTo(UpdateState.REMOVED);
        assertThat(runtime.runningVersions()).isEmpty();
    }

    @Test
    void aRemovalThatWaitedPastTheTimeoutFailsAndTheAppKeepsRunning() {
        runningWebHoldsTheLock();
        send(removing(2, "web"));
        now.addAndGet(Duration.ofMinutes(10).toMillis());
        engine.tick();
        assertThat(last().getState()).isEqualTo(FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.LOCK_TIMEOUT);
        assertThat(last().getMessage()).contains("it was not removed, 1.0.0 keeps running");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void forceIgnoresTheLock() {
        runningWebHoldsTheLock();
        send(activating(2, "2.0.0", 60_000, true));

        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
    }

    @Test
    void aForcedDeployReplacesAnUpdateWaitingForTheLock() {
        runningWebHoldsTheLock();
        send(activating(2, "2.0.0", 60_000, false));
        send(activating(3, "2.0.0", 60_000, true));

        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
    }

    @Test
    void aFirstInstallHasNoRunningAppToWaitFor() {
        heldBy.add("web"); // a lock file left in the directory: nothing runs that could hold it
        send(activating(1, "1.0.0", 60_000, false));

        assertThat(statesOf(1)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
    }

    @Test
    void theWaitOutlivesARestartAndARe_signingWithoutStartingAfresh() {
        runningWebHoldsTheLock();
        send(activating(2, "2.0.0", 60_000, false));
        now.addAndGet(40_000);
        engine = newEngine(); // the daemon restarts
        engine.recover();
        engine.tick();
        send(activating(3, "2.0.0", 60_000, false)); // the same decision, signed again
        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED, WAITING_FOR_LOCK);

        now.addAndGet(20_000); // 60 s since the wait began
        engine.tick();
        assertThat(last().getReason()).isEqualTo(Reason.LOCK_TIMEOUT);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }
}
