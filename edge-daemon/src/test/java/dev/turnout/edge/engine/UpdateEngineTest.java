package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.port.HostBoot;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.APPLYING;
import static dev.turnout.proto.UpdateState.DOWNLOADING;
import static dev.turnout.proto.UpdateState.FAILED;
import static dev.turnout.proto.UpdateState.REJECTED;
import static dev.turnout.proto.UpdateState.ROLLED_BACK;
import static dev.turnout.proto.UpdateState.ROLLING_BACK;
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Drives the engine with fakes and asserts the exact sequence of reported states. */
class UpdateEngineTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final Set<String> unhealthyVersions = new HashSet<>();
    private final Set<String> undownloadable = new HashSet<>();
    private final java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(NOW);
    private final java.util.concurrent.atomic.AtomicLong monotonicNanos = new java.util.concurrent.atomic.AtomicLong(Duration.ofHours(1).toNanos());
    private final List<String> checks = new ArrayList<>();
    private String bootId = "boot-1";
    private String dieDuringCheckOf;
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
            public Path fetch(ImageArtifact artifact) throws UpdateFailure {
                String version = Fixtures.version(artifact);
                if (undownloadable.contains(version)) {
                    throw new UpdateFailure(Reason.DIGEST_MISMATCH, "bad archive");
                }
                return dir.resolve(version + ".tar");
            }

            @Override
            public void retainOnly(Collection<String> keepDigests) {
            }
        };
        HealthVerifier health = new HealthVerifier() {
            @Override
            public void verify(String containerId, HealthCheck check) throws UpdateFailure {
                checks.add("verify " + containerId);
                judge(containerId);
            }

            @Override
            public void resume(String containerId, HealthCheck check, Duration soaked) throws UpdateFailure {
                checks.add("resume " + containerId + " after " + soaked.toMillis() + " ms");
                judge(containerId);
            }

            private void judge(String containerId) throws UpdateFailure {
                String version = runtime.containers.get(containerId).labels().get(UpdateEngine.LABEL_VERSION);
                if (version.equals(dieDuringCheckOf)) {
                    throw new Died();
                }
                if (unhealthyVersions.contains(version)) {
                    throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "probe failed");
                }
            }
        };
        DesiredStateVerifier verifier = Fixtures.verifier(store, key);
        HostBoot host = Fixtures.boot(bootId, monotonicNanos::get);
        return new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, runtime, health, events::add, now::get,
                UpdateEngine.Policy.DEFAULT, host);
    }

    /** The daemon process is killed (kill -9) while it checks a container: nothing after that point runs. */
    private static final class Died extends Error {
        private static final long serialVersionUID = 1L;
    }

    private static DesiredState soaking(DesiredState state, long soakMs) {
        AppDesired app = state.getApps(0);
        Release release = app.getRelease().toBuilder().setHealth(app.getRelease().getHealth().toBuilder().setSoakMs(soakMs)).build();
        return state.toBuilder().setApps(0, app.toBuilder().setRelease(release)).build();
    }

    private List<UpdateState> statesOf(long sequence) {
        return events.stream().filter(e -> e.getSequence() == sequence).map(StatusEvent::getState).toList();
    }

    private void send(DesiredState state) {
        engine.onDesiredState(key.seal(state).toByteArray());
    }

    @Test
    void aStateAppliedArrivingAgainPublishesThePresenceAgainAndChangesNothing() {
        java.util.concurrent.atomic.AtomicInteger presences = new java.util.concurrent.atomic.AtomicInteger();
        engine.onRepeatedWhileSettled(presences::incrementAndGet);
        send(activate(1, "1.0.0"));
        assertThat(statesOf(1)).endsWith(UpdateState.ACTIVE);
        int reports = events.size();
        List<String> calls = List.copyOf(runtime.calls);

        // the orchestrator publishes it again after a restart (or the broker hands the retained copy over on a reconnect)
        send(activate(1, "1.0.0"));
        assertThat(presences).as("the presence says ACTIVE again, in case the report was lost").hasValue(1);
        assertThat(events).as("no report and no update again").hasSize(reports);
        assertThat(runtime.calls).isEqualTo(calls);

        // a state it is still working on, or one it failed, gets no presence: its own report will say, or said, it
        unhealthyVersions.add("2.0.0");
        send(activate(2, "2.0.0"));
        assertThat(statesOf(2)).endsWith(UpdateState.ROLLED_BACK);
        send(activate(2, "2.0.0"));
        assertThat(presences).hasValue(1);
    }

    @Test
    void theOldContainerStopsWhileTheNewOneIsCreatedAndTheNewOneStartsOnlyOnceTheOldIsDown() throws Exception {
        send(activate(1, "1.0.0"));
        String v1 = store.loadApp("web").orElseThrow().containerId();
        java.util.concurrent.CountDownLatch stopping = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean createdWhileStopping = new java.util.concurrent.atomic.AtomicBoolean();
        runtime.beforeStop = stopping::countDown;
        runtime.beforeCreate = () -> {
            try { // one after the other, the stop would not begin before this create returned
                createdWhileStopping.set(stopping.await(5, java.util.concurrent.TimeUnit.SECONDS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        send(activate(2, "2.0.0"));
        assertThat(createdWhileStopping).as("create ran while the old container was stopping").isTrue();
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        String v2 = store.loadApp("web").orElseThrow().containerId();
        assertThat(runtime.calls.indexOf("stop " + v1)).as("old stopped before the new one starts").isGreaterThanOrEqualTo(0)
                .isLessThan(runtime.calls.indexOf("start " + v2));
    }

    /**
     * The engine restarts while the new container is started: two starts refused (HTTP 500, as a dockerd going down
     * answers), then it does not answer for a while; the daemon waits for it and starts the new container, instead of
     * rolling back at the first refusal (DeviceFaultsIT#engineRestartMidApply, against a real engine).
     */
    /** Issue 20, row 9 seen with a real engine: after a power loss the old container's removal failed (its mount busy). */
    @Test
    void aContainerTheEngineRefusedToRemoveIsRemovedAtALaterTick() {
        send(activate(1, "1.0.0"));
        runtime.removeFails = new dev.turnout.edge.domain.UpdateFailure(dev.turnout.proto.Reason.ENGINE_ERROR,
                "remove container failed: Status 500: driver \"overlay2\" failed to remove root filesystem: device or resource busy");
        send(activate(2, "2.0.0"));
        assertThat(statesOf(2)).endsWith(UpdateState.ACTIVE);
        assertThat(runtime.containers.values()).extracting(b -> b.labels().get(UpdateEngine.LABEL_VERSION)).containsExactlyInAnyOrder("1.0.0", "2.0.0");
        engine.tick(); // still refused
        assertThat(runtime.containers).hasSize(2);
        runtime.removeFails = null;
        engine.tick();
        assertThat(runtime.containers.values()).extracting(b -> b.labels().get(UpdateEngine.LABEL_VERSION)).containsExactly("2.0.0");
        List<String> calls = List.copyOf(runtime.calls);
        engine.tick();
        assertThat(runtime.calls).as("nothing left to remove").isEqualTo(calls);
    }

    @Test
    void aStartRefusedByARestartingEngineIsTriedAgainOnceTheEngineAnswers() {
        send(activate(1, "1.0.0"));
        runtime.refuseStarts = 2;
        runtime.silentPings = 2;
        send(activate(2, "2.0.0"));
        assertThat(statesOf(2)).containsExactly(UpdateState.DOWNLOADING, UpdateState.STAGED, UpdateState.APPLYING,
                UpdateState.VERIFYING, UpdateState.ACTIVE);
        assertThat(runtime.calls).filteredOn(c -> c.startsWith("start refused")).hasSize(2);
        assertThat(runtime.silentPings).as("the engine was asked whether it answers").isZero();
        assertThat(runtime.containers.values()).extracting(b -> b.labels().get(UpdateEngine.LABEL_VERSION)).containsExactly("2.0.0");
    }

    @Test
    void installsAndUpdates() {
        send(activate(1, "1.0.0"));
        send(activate(2, "2.0.0"));
        assertThat(statesOf(1)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        assertThat(runtime.containers).hasSize(1);
        AppRecord record = store.loadApp("web").orElseThrow();
        assertThat(record.runningVersion()).isEqualTo("2.0.0");
        assertThat(record.previous().getVersion()).isEqualTo("1.0.0");
        assertThat(events.get(events.size() - 1).getRunningVersion()).isEqualTo("2.0.0");
    }

    @Test
    void rollsBackByItselfAndNeverRetriesTheSameSequence() {
        send(activate(1, "1.0.0"));
        unhealthyVersions.add("3.0.0");
        send(activate(2, "3.0.0"));
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ROLLING_BACK, ROLLED_BACK);
        StatusEvent rolledBack = events.get(events.size() - 1);
        assertThat(rolledBack.getReason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        assertThat(rolledBack.getVersion()).isEqualTo("3.0.0");
        assertThat(rolledBack.getRunningVersion()).isEqualTo("1.0.0");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        assertThat(runtime.containers).hasSize(1);

        int before = events.size();
        send(activate(2, "3.0.0")); // the broker delivers the retained state again
        engine = newEngine(); // and again after a restart
        engine.recover();
        send(activate(2, "3.0.0"));
        assertThat(events).hasSize(before);
    }

    @Test
    void imageIdMismatchFailsWithoutTouchingTheRunningContainer() {
        send(activate(1, "1.0.0"));
        String v1 = runtime.containers.keySet().iterator().next();
        runtime.archiveIdOverride.put("2.0.0", "sha256:something-else");
        send(activate(2, "2.0.0"));
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, FAILED); // checked while staging, before any container is touched
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.IMAGE_ID_MISMATCH);
        assertThat(runtime.calls).doesNotContain("stop " + v1).doesNotContain("load 2.0.0.tar");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void onTheContainerdImageStoreTheImageIsFoundByItsSignedManifestDigest() {
        runtime.containerdStore = true; // the engine knows a loaded image by its manifest digest, not its config digest
        send(activate(1, "1.0.0"));
        send(activate(2, "2.0.0"));

        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.containers.values()).filteredOn(FakeRuntime.Box::running).singleElement()
                .satisfies(box -> assertThat(box.image()).isEqualTo("sha256:manifest-2.0.0"));
    }

    @Test
    void anEngineImageWithOtherLayersThanSignedIsRefused() {
        send(activate(1, "1.0.0"));
        runtime.loadedLayersOverride.put("2.0.0", List.of("sha256:layer-from-elsewhere"));
        send(activate(2, "2.0.0"));

        assertThat(statesOf(2)).containsExactly(DOWNLOADING, FAILED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.LAYER_MISMATCH);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void aBadArchiveFailsTheUpdateAndTheOldReleaseKeepsRunning() {
        send(activate(1, "1.0.0"));
        undownloadable.add("2.0.0");
        send(activate(2, "2.0.0"));
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, FAILED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.DIGEST_MISMATCH);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void stageLoadsTheImageAndKeepsRunningWhatRuns() {
        send(activate(1, "1.0.0"));
        int calls = runtime.calls.size();
        send(Fixtures.desired(2, "2.0.0", Phase.STAGE, false));
        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED);
        assertThat(runtime.calls.subList(calls, runtime.calls.size())).containsExactly("load 2.0.0.tar");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        send(activate(3, "2.0.0"));
        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.calls.stream().filter(c -> c.equals("load 2.0.0.tar"))).as("ACTIVATE only swaps containers").hasSize(1);
    }

    @Test
    void activatingTheRunningVersionIsAnAcknowledgementWithoutContainerChanges() {
        send(activate(1, "1.0.0"));
        send(activate(2, "2.0.0"));
        int calls = runtime.calls.size();
        send(Fixtures.desired(3, "2.0.0", Phase.ACTIVATE, true));
        assertThat(statesOf(3)).containsExactly(ACTIVE);
        assertThat(runtime.calls).hasSize(calls);
    }

    @Test
    void aSignedRollbackSwitchesToTheOlderVersion() {
        send(activate(1, "1.0.0"));
        send(activate(2, "2.0.0"));
        send(Fixtures.desired(3, "1.0.0", Phase.ACTIVATE, true));
        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void refusalReportsRejectedAndChangesNothing() {
        send(activate(1, "1.0.0"));
        AppRecord before = store.loadApp("web").orElseThrow();
        send(activate(2, "0.9.0"));
        assertThat(statesOf(2)).containsExactly(REJECTED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.DOWNGRADE);
        assertThat(store.loadApp("web")).contains(before);
    }

    private static DesiredState withFloor(DesiredState state, String floor) {
        return state.toBuilder().setApps(0, state.getApps(0).toBuilder().setMinVersion(floor)).build();
    }

    @Test
    void aSignedRollbackBelowTheFloorIsRejectedAndChangesNothingAlsoAfterARestart() {
        send(activate(1, "1.0.0"));
        send(withFloor(activate(2, "2.0.0"), "2.0.0"));
        AppRecord before = store.loadApp("web").orElseThrow();

        send(Fixtures.desired(3, "1.0.0", Phase.ACTIVATE, true)); // signed, without a floor: the kept one applies
        assertThat(statesOf(3)).containsExactly(REJECTED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.BELOW_FLOOR);
        assertThat(events.get(events.size() - 1).getMessage()).contains("below the rollback floor 2.0.0");
        assertThat(store.loadApp("web")).contains(before);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");

        engine = newEngine(); // the daemon restarts: the floor was persisted with the trust mark
        engine.recover();
        send(withFloor(Fixtures.desired(4, "1.0.0", Phase.ACTIVATE, true), "1.0.0")); // a lower floor does not lower it
        assertThat(statesOf(4)).containsExactly(REJECTED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.BELOW_FLOOR);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        assertThat(store.loadTrust().versionFloor("web")).isEqualTo("2.0.0");
    }

    @Test
    void aFailedUpdateDoesNotRollBackBelowTheFloorItKeepsTheNewVersion() {
        send(activate(1, "1.0.0"));
        unhealthyVersions.add("3.0.0");
        send(withFloor(activate(2, "3.0.0"), "2.0.0"));

        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, FAILED);
        StatusEvent failed = events.get(events.size() - 1);
        assertThat(failed.getReason()).isEqualTo(Reason.BELOW_FLOOR);
        assertThat(failed.getMessage()).contains("HEALTH_CHECK_FAILED").contains("not rolling back to 1.0.0, below the rollback floor 2.0.0");
        assertThat(failed.getRunningVersion()).isEqualTo("3.0.0");
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");
        assertThat(runtime.containers).as("the old container below the floor is gone").hasSize(1);
        assertThat(store.loadApp("web").orElseThrow().runningVersion()).isEqualTo("3.0.0");
    }

    @Test
    void aFailedUpdateRollsBackToAPreviousVersionAtTheFloor() {
        send(activate(1, "2.0.0"));
        unhealthyVersions.add("3.0.0");
        send(withFloor(activate(2, "3.0.0"), "2.0.0"));

        assertThat(statesOf(2)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ROLLING_BACK, ROLLED_BACK);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
    }

    /** 2.0.0 (4 s soak) is being checked when the daemon is killed; returns the new container. */
    private String killedDuringTheCheckOf2() {
        dieDuringCheckOf = "2.0.0";
        assertThatThrownBy(() -> send(soaking(activate(2, "2.0.0"), 4000))).isInstanceOf(Died.class);
        dieDuringCheckOf = null;
        AppRecord verifying = store.loadApp("web").orElseThrow();
        assertThat(verifying.state()).isEqualTo(VERIFYING);
        events.clear();
        checks.clear();
        return verifying.newContainerId();
    }

    @Test
    void aDaemonRestartDuringTheCheckResumesItWithTheRestOfTheSoakAndKeepsTheNewContainer() {
        send(activate(1, "1.0.0"));
        String fresh = killedDuringTheCheckOf2();
        monotonicNanos.addAndGet(Duration.ofMillis(2500).toNanos()); // systemd starts the daemon again, on the same boot

        engine = newEngine();
        engine.recover();
        assertThat(events).extracting(StatusEvent::getState).containsExactly(VERIFYING, ACTIVE);
        assertThat(events.get(0).getMessage())
                .isEqualTo("the daemon restarted during VERIFYING; the new container is running: resuming its check, 1.5 s of its 4.0 s soak left");
        assertThat(checks).containsExactly("resume " + fresh + " after 2500 ms");
        assertThat(store.loadApp("web").orElseThrow().containerId()).as("the same container").isEqualTo(fresh);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        assertThat(runtime.containers).hasSize(1);
    }

    @Test
    void afterARebootDuringTheCheckTheNewReleaseIsStartedAndCheckedThroughTheFullSoak() {
        send(activate(1, "1.0.0"));
        String fresh = killedDuringTheCheckOf2();
        bootId = "boot-2";
        monotonicNanos.set(Duration.ofSeconds(30).toNanos());
        runtime.reboot(box -> false); // no restart policy: everything is stopped
        int calls = runtime.calls.size();

        engine = newEngine();
        engine.recover();
        assertThat(events).extracting(StatusEvent::getState).containsExactly(VERIFYING, ACTIVE);
        assertThat(events.get(0).getMessage()).isEqualTo("the host restarted during VERIFYING; checking 2.0.0 afresh through the full soak");
        assertThat(checks).containsExactly("verify " + fresh);
        assertThat(runtime.calls.subList(calls, runtime.calls.size())).contains("start " + fresh);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        assertThat(runtime.containers).hasSize(1);
    }

    @Test
    void aDaemonThatCannotTellTheBootJudgesTheReleaseAfreshAsAfterAReboot() {
        bootId = ""; // /proc/sys/kernel/random/boot_id unreadable
        engine = newEngine();
        send(activate(1, "1.0.0"));
        String fresh = killedDuringTheCheckOf2();

        engine = newEngine();
        engine.recover();
        assertThat(events).extracting(StatusEvent::getState).containsExactly(VERIFYING, ACTIVE);
        assertThat(events.get(0).getMessage()).startsWith("the daemon or the host restarted during VERIFYING; checking 2.0.0 afresh");
        assertThat(checks).containsExactly("verify " + fresh);
    }

    @Test
    void startUpRemovesContainersNoRecordKnows() {
        send(activate(1, "1.0.0"));
        String orphan = runtime.create("x", "sha256:id-2.0.0", null, java.util.Map.of(UpdateEngine.LABEL_DEVICE, DEVICE, UpdateEngine.LABEL_VERSION, "2.0.0"));
        newEngine().recover();
        assertThat(runtime.containers).doesNotContainKey(orphan).hasSize(1);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void anAppMissingFromANewerDesiredStateKeepsRunning() {
        send(activate(1, "1.0.0"));
        send(DesiredState.newBuilder().setDeviceId(DEVICE).setSequence(2).setIssuedAtMs(NOW).setExpiresAtMs(NOW + 60_000).build());
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void aContainerStoppedOrRemovedByHandIsPutBackAndReportedAsDrift() throws Exception {
        send(activate(1, "1.0.0"));
        String container = store.loadApp("web").orElseThrow().containerId();
        events.clear();
        engine.tick();
        assertThat(events).as("no drift, no report").isEmpty();

        runtime.stop(container, null); // docker stop by hand
        engine.tick();
        assertThat(events).extracting(StatusEvent::getReason).containsExactly(Reason.DRIFT);
        assertThat(events.get(0).getState()).isEqualTo(ACTIVE);
        assertThat(events.get(0).getMessage()).contains("started it again");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        engine.tick(); // up again: nothing to do

        runtime.remove(container); // docker rm -f by hand
        engine.tick();
        assertThat(events).hasSize(2);
        assertThat(events.get(1).getReason()).isEqualTo(Reason.DRIFT);
        assertThat(events.get(1).getVersion()).isEqualTo("1.0.0");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        AppRecord record = store.loadApp("web").orElseThrow();
        assertThat(record.containerId()).isNotEqualTo(container).isIn(runtime.containers.keySet());
        assertThat(record.state()).isEqualTo(ACTIVE);

        // an app that keeps going down is not restarted in a tight loop
        String recreated = record.containerId();
        engine.tick(); // up again
        runtime.stop(recreated, null);
        engine.tick();
        assertThat(events).hasSize(3);
        runtime.stop(recreated, null); // down again before the next check saw it up
        engine.tick();
        assertThat(events).hasSize(3);
        assertThat(runtime.runningVersions()).isEmpty();
        now.addAndGet(60_000);
        engine.tick();
        assertThat(events).hasSize(4);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");

        // and an update afterwards replaces the recreated container
        send(activate(2, "2.0.0"));
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        assertThat(runtime.containers).hasSize(1);
    }
}
