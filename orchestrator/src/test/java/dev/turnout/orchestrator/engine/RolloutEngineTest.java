package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Reason;
import dev.turnout.proto.RolloutEventType;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RolloutEngineTest {

    private static final String DIGEST = "sha256:" + "a".repeat(64);

    @TempDir
    Path data;

    private final SigningKey key = SigningKey.generate();
    private final MutableClock clock = new MutableClock(Instant.parse("2026-11-22T10:00:00Z"));
    private final FakeFleetTransport transport = new FakeFleetTransport(key.publicKey());
    private SqliteFleetStore store;
    private RolloutEngine engine;

    @BeforeEach
    void setUp() {
        store = SqliteFleetStore.open(data);
        store.saveArtifact(new Artifact(DIGEST, 1234, "sha256:" + "b".repeat(64), "demo/web:1", "linux/arm64", null, null));
        for (String version : List.of("1.0.0", "2.0.0")) {
            store.insertRelease(new Release("web", version, clock.instant(),
                    List.of(new ReleaseImage("linux/arm64", DIGEST, 1234, "sha256:" + "b".repeat(64), "demo/web:" + version)),
                    new ReleaseSpec(null, null)));
        }
        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            store.insertDevice(new Device(id, Map.of("site", id.equals("pi-3") ? "cellar" : "attic"), List.of(), clock.instant(),
                    true, null, null));
        }
        engine = newEngine();
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    private RolloutEngine newEngine() {
        return newEngine(null);
    }

    /** An engine as the server runs it when {@code steps} is given: further steps go through it. */
    private RolloutEngine newEngine(java.util.concurrent.Executor steps) {
        RolloutEngine e = new RolloutEngine(store, new DesiredStates(store, key, transport, clock), transport, clock);
        if (steps != null) {
            e.continueOn(steps);
        }
        e.start();
        return e;
    }

    @Test
    void succeedsOverThreeWavesStagingEveryDeviceFirst() {
        Rollout r = engine.create(request("2.0.0", "all", "1,2,100%", "rollback"), "test");

        assertThat(r.waveCount()).isEqualTo(3);
        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            assertThat(transport.desiredOf(id).get(0).getApps(0).getPhase()).as(id).isEqualTo(Phase.STAGE);
        }
        assertThat(phaseOf("pi-1")).isEqualTo(Phase.ACTIVATE);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.STAGE);
        assertThat(phaseOf("pi-3")).isEqualTo(Phase.STAGE);

        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).currentWave()).isEqualTo(2);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
        assertThat(phaseOf("pi-3")).isEqualTo(Phase.STAGE);

        reportActive("pi-2", "2.0.0");
        assertThat(phaseOf("pi-3")).isEqualTo(Phase.ACTIVATE);
        reportActive("pi-3", "2.0.0");

        Rollout done = stored(r);
        assertThat(done.state()).isEqualTo(RolloutState.SUCCEEDED);
        assertThat(done.devices()).allMatch(d -> d.state() == RolloutDeviceState.ACTIVE);
        assertThat(transport.events()).extracting(e -> e.getType())
                .containsSubsequence(RolloutEventType.CREATED, RolloutEventType.WAVE_STARTED, RolloutEventType.DEVICE_SUCCEEDED,
                        RolloutEventType.WAVE_COMPLETED, RolloutEventType.WAVE_STARTED, RolloutEventType.WAVE_COMPLETED,
                        RolloutEventType.WAVE_STARTED, RolloutEventType.WAVE_COMPLETED, RolloutEventType.STATE_CHANGED);
        assertThat(transport.events().get(transport.events().size() - 1).getState())
                .isEqualTo(dev.turnout.proto.RolloutState.ROLLOUT_SUCCEEDED);
    }

    /** {@code count} online devices {@code PREFIX-0000}, ... labelled {@code site=SITE}; their ids in order. */
    private List<String> onlineDevices(String prefix, String site, int count) {
        List<String> ids = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            String id = String.format("%s-%04d", prefix, i);
            ids.add(id);
            store.insertDevice(new Device(id, Map.of("site", site), List.of(), clock.instant(), true, null, null));
        }
        return ids;
    }

    @Test
    void aLargeWaveIsActivatedInStepsAndCompletesOnlyOnceEveryDeviceWasActivatedAndReported() {
        List<String> ids = onlineDevices("big", "hall", Activations.ACTIVATION_CHUNK * 2 + 50);
        java.util.ArrayDeque<Runnable> steps = new java.util.ArrayDeque<>();
        engine.continueOn(steps::add);
        List<Long> decisions = new java.util.ArrayList<>();
        engine.onWaveDecision((id, wave, nanos) -> decisions.add(nanos));
        Rollout r = engine.create(request("2.0.0", "label:site=hall", "1,100%", "pause"), "test");
        reportActive(ids.get(0), "2.0.0");

        // the report that completed wave 1 started wave 2 with one chunk; the rest waits for the engine's next steps
        assertThat(stored(r).currentWave()).isEqualTo(2);
        assertThat(ids.stream().filter(id -> phaseSoFar(id) == Phase.ACTIVATE)).hasSize(1 + Activations.FIRST_ACTIVATION_STEP);
        assertThat(decisions).hasSize(1);
        assertThat(steps).hasSize(1);
        for (String id : ids) {
            if (phaseSoFar(id) == Phase.ACTIVATE) {
                reportActive(id, "2.0.0");
            }
        }
        assertThat(stored(r).state()).as("devices still to activate hold the wave open").isEqualTo(RolloutState.RUNNING);
        while (!steps.isEmpty()) {
            steps.poll().run();
        }
        assertThat(ids).allMatch(id -> phaseOf(id) == Phase.ACTIVATE);
        for (String id : ids) {
            if (stored(r).device(id).state() == RolloutDeviceState.ACTIVATING) {
                reportActive(id, "2.0.0");
            }
        }
        assertThat(stored(r).state()).isEqualTo(RolloutState.SUCCEEDED);
    }

    @Test
    void aLargeFleetIsStagedInStepsAfterTheCanariesGetTheirActivationAndAgainAfterARestart() {
        List<String> ids = onlineDevices("yard", "yard", Staging.STAGE_CHUNK * 2 + 100);
        java.util.ArrayDeque<Runnable> steps = new java.util.ArrayDeque<>();
        engine.continueOn(steps::add);
        Rollout r = engine.create(request("2.0.0", "label:site=yard", "1,100%", "pause"), "test");

        // the canary is activated in the step that creates the rollout; most of the fleet is not told anything yet
        Rollout created = stored(r);
        String canary = created.wave(1).get(0).deviceId();
        assertThat(phaseOf(canary)).isEqualTo(Phase.ACTIVATE);
        assertThat(ids.stream().filter(id -> transport.latest(id).isPresent())).hasSize(Staging.STAGE_CHUNK);
        assertThat(steps).hasSize(1);

        // the orchestrator restarts before the next step: the new engine goes on staging where the old one stopped
        steps.clear();
        engine = newEngine(steps::add);
        while (!steps.isEmpty()) {
            steps.poll().run();
        }
        for (String id : ids) {
            assertThat(transport.desiredOf(id)).as(id).isNotEmpty();
            assertThat(transport.desiredOf(id).stream().filter(d -> d.getApps(0).getPhase() == Phase.STAGE)
                    .map(DesiredState::getSequence).distinct()).as("one STAGE decision for %s", id).hasSizeLessThanOrEqualTo(1);
        }
        assertThat(stored(r).devices()).filteredOn(d -> d.stageSequence() == 0 && !d.wasActivated()).isEmpty();

        reportActive(canary, "2.0.0");
        while (!steps.isEmpty()) {
            steps.poll().run();
        }
        for (String id : ids) {
            if (stored(r).device(id).state() == RolloutDeviceState.ACTIVATING) {
                reportActive(id, "2.0.0");
            }
        }
        assertThat(stored(r).state()).isEqualTo(RolloutState.SUCCEEDED);
    }

    @Test
    void anActiveReportForAnOlderSequenceDoesNotCount() {
        Rollout r = engine.create(request("2.0.0", "device:pi-1", "100%", "pause"), "test");
        long stageSequence = transport.desiredOf("pi-1").get(0).getSequence();
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ACTIVE, stageSequence));
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).state()).isEqualTo(RolloutState.SUCCEEDED);
    }

    @Test
    void aStagedReportThatSaysWhyTheDownloadFellBackIsKeptAndShown() {
        engine.create(request("2.0.0", "device:pi-1", "100%", "pause"), "test");
        long stage = transport.desiredOf("pi-1").get(0).getSequence();
        String note = "delta of blob sha256:ab refused (damaged): fetched the whole blob";

        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.STAGED, stage).toBuilder().setReportSeq(5).setFetchNote(note).build());

        assertThat(store.deviceApps("pi-1")).singleElement().satisfies(a -> {
            assertThat(a.state()).isEqualTo("STAGED");
            assertThat(a.fetchNote()).isEqualTo(note);
            assertThat(a.message()).isEqualTo("fetch: " + note);
        });
        assertThat(store.audit(50)).anyMatch(a -> a.action().equals("device.status") && a.detail().contains("STAGED")
                && a.detail().endsWith("(fetch: " + note + ")"));

        // the next report without one clears it; a note longer than the contract allows is cut, control characters go
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ACTIVE, stage).toBuilder().setReportSeq(6).build());
        assertThat(store.deviceApps("pi-1")).singleElement().satisfies(a -> assertThat(a.fetchNote()).isNull());
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.FAILED, stage).toBuilder().setReportSeq(7)
                .setMessage("digest mismatch").setFetchNote("x\n".repeat(2000)).build());
        assertThat(store.deviceApps("pi-1")).singleElement().satisfies(a -> {
            assertThat(a.message()).startsWith("digest mismatch (fetch: x?x?");
            assertThat(a.fetchNote()).hasSize(1024).endsWith("…").doesNotContain("\n");
        });
    }

    @Test
    void canaryFailureRollsBackAndTheSecondDeviceIsNeverActivated() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "label:site=attic", "1,100%", "rollback"), "test");
        long activation = latestSequence("pi-1");

        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ROLLED_BACK, activation).toBuilder()
                .setReason(Reason.HEALTH_CHECK_FAILED).setRunningVersion("1.0.0").build());

        Rollout rollingBack = stored(r);
        assertThat(rollingBack.state()).isEqualTo(RolloutState.ROLLING_BACK);
        assertThat(rollingBack.reason()).contains("pi-1 HEALTH_CHECK_FAILED");
        AppDesired canary = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(canary.getRelease().getVersion()).isEqualTo("1.0.0");
        assertThat(canary.getRollback()).isTrue();
        assertThat(canary.getPhase()).isEqualTo(Phase.ACTIVATE);
        assertThat(transport.desiredOf("pi-2")).noneMatch(s -> s.getApps(0).getRelease().getVersion().equals("2.0.0")
                && s.getApps(0).getPhase() == Phase.ACTIVATE);
        AppDesired other = transport.latestApp("pi-2", "web").orElseThrow();
        assertThat(other.getRelease().getVersion()).isEqualTo("1.0.0");
        assertThat(other.getRollback()).isFalse();
        assertThat(rollingBack.device("pi-2").state()).as("never activated: cancelled, not rolled back")
                .isEqualTo(RolloutDeviceState.CANCELLED);

        reportActive("pi-1", "1.0.0");
        Rollout end = stored(r);
        assertThat(end.state()).isEqualTo(RolloutState.ROLLED_BACK);
        assertThat(end.device("pi-1").state()).isEqualTo(RolloutDeviceState.ROLLED_BACK);
        assertThat(end.reason()).contains("HEALTH_CHECK_FAILED");
    }

    /**
     * Issue 22: a wave's ACTIVATE must not wait behind the STAGEs of later waves. The engine publishes STAGEs as desired
     * states no wave waits on (the transport sends them after its decisions) and ACTIVATEs and rollbacks as decisions.
     */
    @Test
    void stagesGoOutInTheBackgroundActivationsAndRollbacksAsDecisions() {
        deployEverywhere("1.0.0");
        engine.create(request("2.0.0", "label:site=attic", "1,100%", "rollback"), "test");
        long activation = latestSequence("pi-1");
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ROLLED_BACK, activation).toBuilder()
                .setReason(Reason.HEALTH_CHECK_FAILED).setRunningVersion("1.0.0").build());

        java.util.function.Function<String, List<String>> how = id -> transport.publishedTo(id).stream()
                .filter(p -> p.state().getSequence() > 0 && p.state().getApps(0).getRelease().getVersion().equals("2.0.0")
                        || p.state().getApps(0).getRollback())
                .map(p -> p.state().getApps(0).getPhase() + (p.state().getApps(0).getRollback() ? " rollback" : "")
                        + (p.background() ? " in the background" : " as a decision"))
                .toList();
        assertThat(how.apply("pi-1")).containsExactly("STAGE in the background", "ACTIVATE as a decision",
                "ACTIVATE rollback as a decision");
        assertThat(how.apply("pi-2")).first().isEqualTo("STAGE in the background");
    }

    /**
     * A daemon killed (or a host losing power) in the middle of a switch goes back to what it ran and says INTERRUPTED:
     * nothing is known against the release. The chaos soak saw a healthy release rolled back across 300 devices for
     * one daemon killed during APPLYING. Now the device is activated again with a new sequence (the daemon tries once
     * more, within its own bound of attempts) and the rollout goes on; a device that then fails for good counts.
     */
    @Test
    void aSwitchInterruptedOnTheDeviceIsActivatedAgainNotCountedAgainstTheRelease() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "label:site=attic", "1,100%", "rollback"), "test");
        long first = latestSequence("pi-1");

        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ROLLED_BACK, first).toBuilder()
                .setReason(Reason.INTERRUPTED).setRunningVersion("1.0.0")
                .setMessage("the daemon restarted during APPLYING; the new container is created, not running").build());

        Rollout running = stored(r);
        assertThat(running.state()).isEqualTo(RolloutState.RUNNING);
        assertThat(running.device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
        assertThat(running.device("pi-1").message()).contains("interrupted", "activated again");
        long again = latestSequence("pi-1");
        assertThat(again).as("signed again with a new sequence").isGreaterThan(first);
        AppDesired canary = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(canary.getRelease().getVersion()).isEqualTo("2.0.0");
        assertThat(canary.getPhase()).isEqualTo(Phase.ACTIVATE);
        assertThat(canary.getRollback()).isFalse();
        assertThat(phaseOf("pi-2")).as("the next wave waits for the canary").isEqualTo(Phase.STAGE);
        assertThat(store.auditAbout(r.id(), 20)).anySatisfy(e -> {
            assertThat(e.action()).isEqualTo("rollout.retry");
            assertThat(e.detail()).contains("pi-1", "APPLYING");
        });
        // the interrupted report once more (a duplicate, or the store's copy read again): answers nothing now
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ROLLED_BACK, first).toBuilder()
                .setReason(Reason.INTERRUPTED).setRunningVersion("1.0.0").build());
        assertThat(latestSequence("pi-1")).isEqualTo(again);

        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).currentWave()).isEqualTo(2);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);

        // the daemon gives up after its attempts: that counts, as any failure does
        long second = latestSequence("pi-2");
        engine.onStatus("pi-2", status("pi-2", "2.0.0", UpdateState.ROLLED_BACK, second).toBuilder()
                .setReason(Reason.INTERRUPTED).setRunningVersion("1.0.0").build());
        assertThat(stored(r).state()).isEqualTo(RolloutState.RUNNING);
        engine.onStatus("pi-2", status("pi-2", "2.0.0", UpdateState.FAILED, latestSequence("pi-2")).toBuilder()
                .setReason(Reason.TOO_MANY_ATTEMPTS).setRunningVersion("1.0.0").build());
        Rollout failed = stored(r);
        assertThat(failed.state()).isEqualTo(RolloutState.ROLLING_BACK);
        assertThat(failed.reason()).contains("pi-2 TOO_MANY_ATTEMPTS");
    }

    /** A device that rolled back because its release broke a resource limit failed, like any other rollback. */
    @ParameterizedTest
    @EnumSource(value = Reason.class, names = {"MEMORY_LIMIT", "CPU_LIMIT", "DISK_LIMIT", "OOM_KILLED", "CRASH_LOOP"})
    void aResourceLimitRollbackCountsAsTheCanarysFailureAndTheRolloutSaysWhich(Reason reason) {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "label:site=attic", "1,100%", "rollback"), "test");
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ROLLED_BACK, latestSequence("pi-1")).toBuilder()
                .setReason(reason).setMessage("memory 61.2 MiB is 96% of its 64 MiB limit (limit 90%)").setRunningVersion("1.0.0").build());

        Rollout rollingBack = stored(r);
        assertThat(rollingBack.state()).isEqualTo(RolloutState.ROLLING_BACK);
        assertThat(rollingBack.reason()).contains("pi-1 " + reason.name());
        assertThat(rollingBack.device("pi-2").state()).as("never activated").isEqualTo(RolloutDeviceState.CANCELLED);
    }

    @Test
    void rollbackOfADeviceWithoutPreviousReleaseRemovesTheApp() {
        Rollout r = engine.create(request("2.0.0", "device:pi-1", "100%", "rollback"), "test");
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.FAILED, latestSequence("pi-1")));
        assertThat(stored(r).state()).isEqualTo(RolloutState.ROLLED_BACK);
        // a signed removal: with the entry merely left out, the device would leave the app as it is
        assertThat(transport.latest("pi-1").orElseThrow().getAppsList()).singleElement()
                .satisfies(app -> assertThat(app.getPhase()).isEqualTo(Phase.REMOVE));
    }

    @Test
    void afterAnAbortedRolloutRollbackGoesToTheVersionTheDeviceRuns() {
        deployEverywhere("1.0.0");
        Rollout aborted = engine.create(request("2.0.0", "device:pi-1,pi-2", "1,100%", "rollback"), "test");
        engine.abort(aborted.id(), "test");
        store.saveDeviceApp("pi-2", new dev.turnout.orchestrator.domain.DeviceApp("web", "1.0.0", "2.0.0", "STAGED", null, null,
                latestSequence("pi-2"), 0, clock.instant()));

        Rollout r = engine.create(request("2.0.0", "device:pi-2", "100%", "rollback"), "test");
        assertThat(r.device("pi-2").previous().version()).isEqualTo("1.0.0");
        assertThat(r.device("pi-2").previous().phase()).isEqualTo(dev.turnout.orchestrator.domain.Phase.ACTIVATE);
    }

    @Test
    void pausesOnFailureAndResumeContinues() {
        Rollout r = engine.create(request("2.0.0", "all", "1,100%", "pause"), "test");
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.FAILED, latestSequence("pi-1")).toBuilder()
                .setReason(Reason.CONTAINER_START_FAILED).build());

        Rollout paused = stored(r);
        assertThat(paused.state()).isEqualTo(RolloutState.PAUSED);
        assertThat(paused.reason()).contains("pi-1 CONTAINER_START_FAILED");
        assertThat(store.auditByAction("rollout.failure", java.time.Instant.EPOCH))
                .singleElement().satisfies(e -> assertThat(e.subject()).isEqualTo(r.id()));
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.STAGE);
        assertThatThrownBy(() -> engine.pause(r.id(), "test")).isInstanceOf(ConflictException.class);

        engine.resume(r.id(), "test");
        assertThat(stored(r).state()).isEqualTo(RolloutState.RUNNING);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
        reportActive("pi-2", "2.0.0");
        reportActive("pi-3", "2.0.0");
        Rollout end = stored(r);
        assertThat(end.state()).isEqualTo(RolloutState.SUCCEEDED);
        assertThat(end.reason()).contains("1 device(s) failed");
    }

    @Test
    void aDeviceThatDoesNotAnswerInTimeCountsAsFailed() {
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", null, null, null, "1m", null, null), "test");
        clock.advance(Duration.ofSeconds(59));
        engine.tick();
        assertThat(stored(r).state()).isEqualTo(RolloutState.RUNNING);

        clock.advance(Duration.ofSeconds(1));
        engine.tick();
        Rollout paused = stored(r);
        assertThat(paused.device("pi-1").state()).isEqualTo(RolloutDeviceState.FAILED);
        assertThat(paused.device("pi-1").reason()).isEqualTo("TIMEOUT");
        assertThat(paused.state()).isEqualTo(RolloutState.PAUSED);
    }

    @Test
    void anOnlineDeviceSilentSinceItsActivationGetsTheSameDesiredStateAgainUntilItSpeaks() {
        // device timeout 2 minutes: a silent device is reminded after a quarter of it, 30 s
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", null, null, null, "2m", null, null), "test");
        List<FakeFleetTransport.Published> sent = transport.publishedTo("pi-1");
        DesiredState activation = sent.get(sent.size() - 1).state();
        assertThat(activation.getApps(0).getPhase()).isEqualTo(Phase.ACTIVATE);

        clock.advance(Duration.ofSeconds(29));
        engine.tick();
        assertThat(transport.publishedTo("pi-1")).hasSize(sent.size());
        clock.advance(Duration.ofSeconds(1));
        engine.tick();
        List<FakeFleetTransport.Published> after = transport.publishedTo("pi-1");
        assertThat(after).hasSize(sent.size() + 1);
        assertThat(after.get(after.size() - 1).state()).as("the same signed decision, not a new one").isEqualTo(activation);
        assertThat(after.get(after.size() - 1).background()).as("a wave waits on it").isFalse();
        engine.tick();
        clock.advance(Duration.ofSeconds(29));
        engine.tick();
        assertThat(transport.publishedTo("pi-1")).as("once per 30 s of silence").hasSize(sent.size() + 1);
        clock.advance(Duration.ofSeconds(1));
        engine.tick();
        assertThat(transport.publishedTo("pi-1")).hasSize(sent.size() + 2);

        // it speaks: no more reminders, and the rollout goes on as before
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.APPLYING, activation.getSequence()));
        clock.advance(Duration.ofSeconds(45));
        engine.tick();
        assertThat(transport.publishedTo("pi-1")).hasSize(sent.size() + 2);
        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).currentWave()).isEqualTo(2);

        // a device that is offline is not reminded: it gets its retained state when it is back; an online one is
        offline("pi-2");
        int toPi2 = transport.publishedTo("pi-2").size();
        int toPi3 = transport.publishedTo("pi-3").size();
        DesiredState pi3Activation = transport.latest("pi-3").orElseThrow();
        assertThat(pi3Activation.getApps(0).getPhase()).isEqualTo(Phase.ACTIVATE);
        clock.advance(Duration.ofSeconds(31));
        engine.tick();
        assertThat(transport.publishedTo("pi-2")).hasSize(toPi2);
        assertThat(transport.publishedTo("pi-3")).hasSize(toPi3 + 1);
        assertThat(transport.latest("pi-3")).contains(pi3Activation);
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVE);
    }

    @Test
    void aDeviceThatOnlySendsDownloadProgressIsNotReminded() {
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", null, null, null, "2m", null, null), "test");
        int sent = transport.publishedTo("pi-1").size();
        long sequence = latestSequence("pi-1");
        for (int second = 10; second <= 60; second += 10) {
            clock.advance(Duration.ofSeconds(10));
            engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.DOWNLOADING, sequence).toBuilder()
                    .setDownload(dev.turnout.proto.DownloadProgress.newBuilder().setBytesDone(second).setBytesTotal(100)).build());
            engine.tick();
        }
        assertThat(transport.publishedTo("pi-1")).as("a minute of progress reports, no reminder").hasSize(sent);
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
    }

    @Test
    void soakHoldsTheNextWaveUntilItsTimeIsUp() {
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", "30s", null, null, null, null, null), "test");
        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).currentWaveState()).isEqualTo(WaveState.SOAKING);
        clock.advance(Duration.ofSeconds(29));
        engine.tick();
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.STAGE);
        clock.advance(Duration.ofSeconds(1));
        engine.tick();
        assertThat(stored(r).currentWave()).isEqualTo(2);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
    }

    @Test
    void aCanaryThatGoesOfflineOnTheNewReleaseHoldsTheNextWaveUntilItIsBack() {
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", "30s", null, null, null, null, null), "test");
        reportActive("pi-1", "2.0.0");
        offline("pi-1"); // e.g. the release broke its network
        clock.advance(Duration.ofMinutes(10));
        engine.tick();
        assertThat(stored(r).currentWave()).as("a soak nobody could watch proves nothing").isEqualTo(1);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.STAGE);

        engine.onPresence("pi-1", Presence.newBuilder().setDeviceId("pi-1").setOnline(true).build());
        engine.tick();
        assertThat(stored(r).currentWave()).isEqualTo(2);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
    }

    @Test
    void approveEachWaveWaitsForTheOperator() {
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", null, null, null, null, null, true), "test");
        reportActive("pi-1", "2.0.0");
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.STAGE);
        assertThat(stored(r).reason()).isEqualTo("waiting for approval to start wave 2");
        engine.approve(r.id(), "test");
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
        assertThat(stored(r).reason()).isNull();
        assertThatThrownBy(() -> engine.approve(r.id(), "test")).isInstanceOf(ConflictException.class);
    }

    @Test
    void restartMidRolloutDoesNotRepeatDecisions() {
        Rollout r = engine.create(request("2.0.0", "all", "1,100%", "rollback"), "test");
        long sequenceBefore = latestSequence("pi-1");
        int publishedBefore = transport.desiredCount();

        engine = newEngine();
        assertThat(transport.desiredCount()).isEqualTo(publishedBefore);
        assertThat(latestSequence("pi-1")).isEqualTo(sequenceBefore);

        reportActive("pi-1", "2.0.0");
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
        assertThat(stored(r).currentWave()).isEqualTo(2);
    }

    @Test
    void sequencesOnlyGrowEvenWhenTheClockGoesBack() {
        engine.create(request("2.0.0", "device:pi-1", "100%", "pause"), "test");
        long before = latestSequence("pi-1");
        clock.advance(Duration.ofDays(-30));
        DesiredStates desired = new DesiredStates(store, key, transport, clock);
        long after = desired.commit("pi-1", "web", null).sequence();
        assertThat(after).isEqualTo(before + 1);
        assertThat(before).isGreaterThanOrEqualTo(Instant.parse("2026-11-22T10:00:00Z").toEpochMilli());
    }

    @Test
    void aLargeFleetIsToldToSpreadItsReconnectsAndASmallOneIsNot() {
        java.util.concurrent.atomic.AtomicLong fleet = new java.util.concurrent.atomic.AtomicLong(3);
        DesiredStates desired = new DesiredStates(store, key, transport, clock).sizeReconnectWindowBy(fleet::get);
        desired.publish(desired.commit("pi-1", "web", null));
        assertThat(transport.latest("pi-1").orElseThrow().getReconnectWindowMs()).as("three devices reconnect at once").isZero();

        fleet.set(10_000);
        desired.publish(desired.commit("pi-1", "web", null));
        assertThat(transport.latest("pi-1").orElseThrow().getReconnectWindowMs())
                .as("10,000 devices at 500 connects a second").isEqualTo(20_000);
    }

    @Test
    void desiredStatesAreReSignedBeforeTheyExpire() {
        engine.create(request("2.0.0", "device:pi-1", "100%", "pause"), "test");
        DesiredState before = transport.latest("pi-1").orElseThrow();
        clock.advance(Duration.ofDays(3));
        engine.tick();
        assertThat(transport.latest("pi-1").orElseThrow().getSequence()).isEqualTo(before.getSequence());
        clock.advance(Duration.ofDays(1));
        engine.tick();
        DesiredState after = transport.latest("pi-1").orElseThrow();
        assertThat(after.getSequence()).isGreaterThan(before.getSequence());
        assertThat(after.getAppsList()).isEqualTo(before.getAppsList());
        assertThat(after.getExpiresAtMs()).isEqualTo(clock.millis() + Duration.ofDays(7).toMillis());
    }

    @Test
    void refusesBadRequestsAndOverlappingRollouts() {
        assertThatThrownBy(() -> engine.create(request("9.9.9", "all", "100%", "pause"), "t")).isInstanceOf(NotFoundException.class);
        assertThatThrownBy(() -> engine.create(request("2.0.0", "group:none", "100%", "pause"), "t"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("no enrolled device");
        assertThatThrownBy(() -> engine.create(request("2.0.0", "device:ghost", "100%", "pause"), "t"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("ghost");
        assertThatThrownBy(() -> engine.create(request("2.0.0", "all", "1,x", "pause"), "t"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("waves");
        assertThatThrownBy(() -> engine.create(request("2.0.0", "all", "100%", "explode"), "t"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("onFailure");
        engine.create(request("2.0.0", "all", "1,100%", "pause"), "t");
        assertThatThrownBy(() -> engine.create(request("1.0.0", "device:pi-3", "100%", "pause"), "t"))
                .isInstanceOf(ConflictException.class);
    }

    @Test
    void supersedeEndsTheRunningRolloutAndItsDevicesGoStraightToTheNewReleaseWithoutARollback() {
        release("3.0.0");
        deployEverywhere("1.0.0");
        Rollout old = engine.create(request("2.0.0", "all", "1,2,100%", "rollback"), "bob");
        reportActive("pi-1", "2.0.0"); // the canary runs 2.0.0; wave 2 (pi-2) is activating; pi-3 is staged only
        assertThat(stored(old).device("pi-2").state()).isEqualTo(RolloutDeviceState.ACTIVATING);

        // without supersede the refusal stays, and names the way out
        assertThatThrownBy(() -> engine.create(request("3.0.0", "label:site=attic", "100%", "pause"), "alice"))
                .isInstanceOf(ConflictException.class)
                .hasMessageContaining("rollout " + old.id() + " of web:2.0.0 is still RUNNING")
                .hasMessageContaining("deploy --supersede").hasMessageContaining("\"supersede\": true");
        assertThat(stored(old).state()).isEqualTo(RolloutState.RUNNING);

        Rollout next = engine.create(request("3.0.0", "label:site=attic", "100%", "pause").superseding(), "alice");

        Rollout ended = stored(old);
        assertThat(ended.state()).isEqualTo(RolloutState.ABORTED);
        assertThat(ended.reason()).startsWith("superseded by rollout " + next.id() + " (web:3.0.0) by alice")
                .contains("skipped, taken by a newer rollout: pi-2");
        assertThat(ended.device("pi-1").state()).as("ACTIVE on the old release, not rolled back").isEqualTo(RolloutDeviceState.ACTIVE);
        assertThat(ended.device("pi-2").state()).isEqualTo(RolloutDeviceState.SKIPPED);
        assertThat(ended.device("pi-2").message()).contains("superseded by rollout " + next.id());
        assertThat(ended.device("pi-3").state()).as("not targeted by the new one: as an abort leaves it")
                .isEqualTo(RolloutDeviceState.CANCELLED);
        assertThat(transport.latestApp("pi-3", "web").orElseThrow().getRelease().getVersion()).isEqualTo("1.0.0");

        // the devices on the old target go straight to the new release: no rollback flag, no detour to 1.0.0
        for (String id : List.of("pi-1", "pi-2")) {
            AppDesired now = transport.latestApp(id, "web").orElseThrow();
            assertThat(now.getRelease().getVersion()).as(id).isEqualTo("3.0.0");
            assertThat(now.getPhase()).as(id).isEqualTo(Phase.ACTIVATE);
            assertThat(transport.desiredOf(id)).as(id).noneMatch(d -> d.getApps(0).getRollback());
            assertThat(transport.desiredOf(id).stream().dropWhile(d -> !d.getApps(0).getRelease().getVersion().equals("2.0.0"))
                    .map(d -> d.getApps(0).getRelease().getVersion())).as(id).doesNotContain("1.0.0");
        }
        assertThat(stored(next).device("pi-1").previous().version()).as("what pi-1 goes back to: what it ran healthy")
                .isEqualTo("2.0.0");
        assertThat(store.auditAbout(old.id(), 20)).anySatisfy(e -> {
            assertThat(e.action()).isEqualTo("rollout.supersede");
            assertThat(e.actor()).isEqualTo("alice");
            assertThat(e.detail()).contains(next.id(), "web:3.0.0");
        });
        assertThat(transport.events()).filteredOn(e -> e.getRolloutId().equals(old.id())).extracting(e -> e.getType())
                .contains(RolloutEventType.DEVICE_SKIPPED, RolloutEventType.STATE_CHANGED);

        reportActive("pi-1", "3.0.0");
        reportActive("pi-2", "3.0.0");
        assertThat(stored(next).state()).isEqualTo(RolloutState.SUCCEEDED);
        assertThat(stored(old).state()).isEqualTo(RolloutState.ABORTED);
        // an ended rollout is not superseded again: a newer one simply starts
        assertThat(engine.create(request("2.0.0", "all", "100%", "pause").superseding(), "alice").state())
                .isEqualTo(RolloutState.RUNNING);
    }

    @Test
    void aSupersedeThatCannotBePlannedChangesNothing() {
        Rollout old = engine.create(request("2.0.0", "all", "1,100%", "pause"), "bob");
        assertThatThrownBy(() -> engine.create(request("9.9.9", "all", "100%", "pause").superseding(), "alice"))
                .isInstanceOf(NotFoundException.class);
        assertThatThrownBy(() -> engine.create(request("1.0.0", "all", "100%", "pause").withCanary(List.of("ghost")).superseding(),
                "alice")).isInstanceOf(InvalidInputException.class);
        assertThat(stored(old).state()).isEqualTo(RolloutState.RUNNING);
        assertThat(store.listRollouts()).hasSize(1);
        // a dry run with supersede plans only
        Rollout planned = engine.create(RolloutRequest.parse("web", "1.0.0", "all", null, null, null, null, null, true, null,
                null, null, null, null, null, true), "alice");
        assertThat(planned.devices()).hasSize(3);
        assertThat(stored(old).state()).isEqualTo(RolloutState.RUNNING);
    }

    @Test
    void canaryDevicesGoInTheFirstWaveWhichGrowsToHoldThem() {
        Rollout one = engine.create(dryRun("all", "1,100%", "pi-3"), "t");
        assertThat(one.wave(1)).extracting(d -> d.deviceId()).containsExactly("pi-3");
        assertThat(one.wave(2)).extracting(d -> d.deviceId()).containsExactly("pi-1", "pi-2");

        Rollout two = engine.create(dryRun("all", "1,2,100%", "pi-3,pi-2"), "t");
        assertThat(two.waveCount()).as("the second wave (up to 2) is covered by the first").isEqualTo(2);
        assertThat(two.wave(1)).extracting(d -> d.deviceId()).containsExactlyInAnyOrder("pi-3", "pi-2");
        assertThat(two.wave(2)).extracting(d -> d.deviceId()).containsExactly("pi-1");

        Rollout fills = engine.create(dryRun("all", "2,100%", "pi-3"), "t");
        assertThat(fills.wave(1)).extracting(d -> d.deviceId()).containsExactly("pi-3", "pi-1");

        assertThatThrownBy(() -> engine.create(dryRun("label:site=attic", "1,100%", "pi-3,ghost,pi-1"), "t"))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage("canary must be targeted devices: ghost is not enrolled; pi-3 is not among the devices target"
                        + " 'label:site=attic' selects");

        // a real one: the canary is activated first, the others only staged, and the audit trail names it
        Rollout r = engine.create(request("2.0.0", "all", "1,100%", "pause").withCanary(List.of("pi-2")), "alice");
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
        assertThat(phaseOf("pi-1")).isEqualTo(Phase.STAGE);
        assertThat(phaseOf("pi-3")).isEqualTo(Phase.STAGE);
        assertThat(store.auditAbout(r.id(), 10)).anySatisfy(e -> assertThat(e.detail()).endsWith("in waves [1, 2], canary pi-2"));
    }

    @Test
    void aRelabeledDeviceJoinsARunningRolloutItNowMatchesUnlessAnotherRolloutOfTheAppHoldsIt() {
        Rollout pi1 = engine.create(request("2.0.0", "device:pi-1", "100%", "pause"), "t");
        Rollout cellar = engine.create(request("1.0.0", "label:site=cellar", "100%", "pause"), "t");
        for (String id : List.of("pi-1", "pi-2")) {
            store.updateDeviceTags(id, Map.of("site", "cellar"), List.of());
            engine.onRetagged(id);
        }
        assertThat(stored(cellar).devices()).extracting(d -> d.deviceId()).containsExactlyInAnyOrder("pi-3", "pi-2");
        assertThat(stored(pi1).device("pi-1")).isNotNull();
        assertThat(transport.latestApp("pi-1", "web").orElseThrow().getRelease().getVersion()).isEqualTo("2.0.0");
        assertThat(transport.latestApp("pi-2", "web").orElseThrow().getRelease().getVersion()).isEqualTo("1.0.0");
        // leaving the target does not take a device out of a rollout under way
        store.updateDeviceTags("pi-2", Map.of("site", "attic"), List.of());
        engine.onRetagged("pi-2");
        assertThat(stored(cellar).device("pi-2")).isNotNull();
    }

    private static RolloutRequest dryRun(String target, String waves, String canary) {
        return RolloutRequest.parse("web", "2.0.0", target, waves, null, null, null, null, true, null, null, null, null, null,
                canary, null);
    }

    @Test
    void dryRunPlansWithoutStoringOrPublishing() {
        Rollout planned = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,50%,100%", null, null, null, null, true, null), "t");
        assertThat(planned.waveCount()).isEqualTo(3);
        assertThat(store.listRollouts()).isEmpty();
        assertThat(transport.desiredCount()).isZero();
    }

    @Test
    void reportsForAnotherDeviceOrFromUnknownDevicesAreDropped() {
        Rollout r = engine.create(request("2.0.0", "device:pi-1", "100%", "pause"), "test");
        engine.onStatus("pi-2", status("pi-1", "2.0.0", UpdateState.ACTIVE, latestSequence("pi-1")));
        engine.onStatus("ghost", status("ghost", "2.0.0", UpdateState.ACTIVE, 1));
        assertThat(stored(r).device("pi-1").state()).isNotEqualTo(RolloutDeviceState.ACTIVE);
        assertThat(store.findDevice("ghost")).isEmpty();
    }

    @Test
    void presenceUpdatesTheInventory() {
        engine.onPresence("pi-1", Presence.newBuilder().setDeviceId("pi-1").setOnline(false).setPlatform("linux/arm64").build());
        Device d = store.findDevice("pi-1").orElseThrow();
        assertThat(d.online()).isFalse();
        assertThat(d.platform()).isEqualTo("linux/arm64");
        assertThat(d.lastSeen()).isEqualTo(clock.instant());
    }

    @Test
    void reportsKeepLastSeenWithinSecondsAndAnOfflineDeviceComesBackAtOnce() {
        Instant first = clock.instant();
        engine.onStatus("pi-1", status("pi-1", "1.0.0", UpdateState.DOWNLOADING, 1));
        assertThat(store.findDevice("pi-1").orElseThrow().lastSeen()).isEqualTo(first);
        clock.advance(Duration.ofSeconds(2));
        engine.onStatus("pi-1", status("pi-1", "1.0.0", UpdateState.STAGED, 1));
        assertThat(store.findDevice("pi-1").orElseThrow().lastSeen()).as("written at most every %s", DeviceReports.LAST_SEEN_EVERY)
                .isEqualTo(first);
        clock.advance(DeviceReports.LAST_SEEN_EVERY);
        engine.onStatus("pi-1", status("pi-1", "1.0.0", UpdateState.STAGED, 1));
        assertThat(store.findDevice("pi-1").orElseThrow().lastSeen()).isEqualTo(clock.instant());

        offline("pi-1");
        clock.advance(Duration.ofSeconds(1));
        engine.onStatus("pi-1", status("pi-1", "1.0.0", UpdateState.STAGED, 1));
        Device back = store.findDevice("pi-1").orElseThrow();
        assertThat(back.online()).isTrue();
        assertThat(back.lastSeen()).isEqualTo(clock.instant());
    }

    @Test
    void anOfflineDeviceIsPendingNotFailedAndTheRolloutReportsIt() {
        deployEverywhere("1.0.0");
        offline("pi-2");
        Rollout r = engine.create(request("2.0.0", "label:site=attic", "1,100%", "pause"), "test");
        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).currentWave()).isEqualTo(2);
        clock.advance(Duration.ofMinutes(30));
        engine.tick();
        Rollout end = stored(r);
        assertThat(end.device("pi-2").state()).as("an offline device never times out").isEqualTo(RolloutDeviceState.ACTIVATING);
        assertThat(end.state()).isEqualTo(RolloutState.SUCCEEDED);
        assertThat(end.reason()).contains("1 device(s) offline", "pi-2");
        // its retained desired state already names 2.0.0: it converges when it returns
        assertThat(transport.latestApp("pi-2", "web").orElseThrow().getRelease().getVersion()).isEqualTo("2.0.0");
        assertThat(transport.latestApp("pi-2", "web").orElseThrow().getPhase()).isEqualTo(Phase.ACTIVATE);
    }

    @Test
    void aWaveWhoseOnlyDevicesAreOfflineWaitsInsteadOfProvingNothing() {
        deployEverywhere("1.0.0");
        offline("pi-1");
        Rollout r = engine.create(request("2.0.0", "label:site=attic", "1,100%", "pause"), "test");
        clock.advance(Duration.ofHours(1));
        engine.tick();
        assertThat(stored(r).currentWave()).as("the canary is away: the rest waits").isEqualTo(1);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.STAGE);

        // back online: its timeout starts again from now, not from the activation
        engine.onPresence("pi-1", Presence.newBuilder().setDeviceId("pi-1").setOnline(true).build());
        clock.advance(Duration.ofMinutes(9));
        engine.tick();
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).currentWave()).isEqualTo(2);
    }

    @Test
    void offlineCountsAsFailureWhenTheOperatorSaysSo() {
        deployEverywhere("1.0.0");
        offline("pi-2");
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "label:site=attic", "1,100%", null, null, "pause", null,
                null, null, true, null, null, null), "test");
        reportActive("pi-1", "2.0.0");
        Rollout paused = stored(r);
        assertThat(paused.device("pi-2").state()).isEqualTo(RolloutDeviceState.FAILED);
        assertThat(paused.device("pi-2").reason()).isEqualTo("OFFLINE");
        assertThat(paused.state()).isEqualTo(RolloutState.PAUSED);
        assertThat(transport.desiredOf("pi-2")).noneMatch(s -> s.getApps(0).getRelease().getVersion().equals("2.0.0")
                && s.getApps(0).getPhase() == Phase.ACTIVATE);
    }

    @Test
    void aDeviceEnrolledLaterJoinsTheLastWaveUnlessTheTargetIsStatic() {
        deployEverywhere("1.0.0");
        Rollout dynamic = engine.create(request("2.0.0", "label:site=attic", "1,100%", "pause"), "test");
        enroll("pi-4", "attic");
        enroll("pi-5", "cellar");
        Rollout joined = stored(dynamic);
        assertThat(joined.device("pi-4")).isNotNull();
        assertThat(joined.device("pi-4").wave()).isEqualTo(2);
        assertThat(joined.device("pi-5")).as("does not match the target").isNull();
        assertThat(phaseOf("pi-4")).as("staged at once, activated with its wave").isEqualTo(Phase.STAGE);
        assertThat(transport.events()).anyMatch(e -> e.getType() == RolloutEventType.DEVICE_JOINED && e.getDeviceId().equals("pi-4"));

        reportActive("pi-1", "2.0.0");
        assertThat(phaseOf("pi-4")).isEqualTo(Phase.ACTIVATE);
        // a device enrolled while the last wave runs is activated right away
        enroll("pi-6", "attic");
        assertThat(phaseOf("pi-6")).isEqualTo(Phase.ACTIVATE);
        engine.abort(dynamic.id(), "test");

        Rollout fixed = engine.create(RolloutRequest.parse("web", "2.0.0", "label:site=attic", "1,100%", null, null, "pause", null,
                null, null, null, true, null, null), "test");
        enroll("pi-7", "attic");
        assertThat(stored(fixed).device("pi-7")).isNull();
        assertThat(transport.desiredOf("pi-7")).isEmpty();
    }

    @Test
    void anEmergencyRolloutIsOneWaveWithoutSoakAndItsReasonIsAudited() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", null, null, null, null, null, null, null,
                null, null, null, "CVE-2026-1234 in the train controller"), "alice");
        assertThat(r.waveCount()).isEqualTo(1);
        assertThat(r.strategy().soak()).isZero();
        assertThat(List.of("pi-1", "pi-2", "pi-3")).allMatch(id -> phaseOf(id) == Phase.ACTIVATE);
        assertThat(store.audit(50)).anyMatch(a -> a.action().equals("rollout.emergency") && a.actor().equals("alice")
                && a.detail().contains("CVE-2026-1234"));
        engine.abort(r.id(), "alice");

        assertThatThrownBy(() -> engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", null, null, null, null, null,
                null, null, null, null, "urgent"), "alice")).isInstanceOf(InvalidInputException.class).hasMessageContaining("one wave");
        assertThatThrownBy(() -> engine.create(RolloutRequest.parse("web", "2.0.0", "all", null, null, null, null, null, null,
                null, null, null, null, " "), "alice")).isInstanceOf(InvalidInputException.class).hasMessageContaining("reason");
    }

    @Test
    void aFleetRollbackSignsTheRollbackFlagSoDevicesAcceptTheOlderVersion() {
        deployEverywhere("2.0.0");
        Rollout r = engine.create(RolloutRequest.parse("web", "1.0.0", "all", "1,100%", null, null, null, null, null, null,
                null, null, true, null), "alice");
        AppDesired staged = transport.latestApp("pi-2", "web").orElseThrow();
        assertThat(staged.getPhase()).isEqualTo(Phase.STAGE);
        assertThat(staged.getRollback()).isTrue();
        AppDesired canary = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(canary.getPhase()).isEqualTo(Phase.ACTIVATE);
        assertThat(canary.getRollback()).isTrue();
        assertThat(canary.getRelease().getVersion()).isEqualTo("1.0.0");
        assertThat(store.audit(50)).anyMatch(a -> a.action().equals("rollout.rollback") && a.subject().equals(r.id()));
        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            reportActive(id, "1.0.0");
        }
        assertThat(stored(r).state()).isEqualTo(RolloutState.SUCCEEDED);
    }

    @Test
    void abortCancelsTheDevicesItNeverActivated() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "all", "1,100%", "pause"), "test");
        Rollout aborted = engine.abort(r.id(), "test");
        assertThat(aborted.state()).isEqualTo(RolloutState.ABORTED);
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
        assertThat(stored(r).device("pi-2").state()).isEqualTo(RolloutDeviceState.CANCELLED);
    }

    @Test
    void aDeviceWaitingForItsUpdateWindowDoesNotTimeOut() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "device:pi-1", "100%", "pause"), "test");
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.WAITING_FOR_WINDOW, latestSequence("pi-1")).toBuilder()
                .setMessage("switches inside the update window 02:00-04:00").build());
        assertThat(stored(r).device("pi-1").message()).contains("update window", "02:00-04:00");
        clock.advance(Duration.ofHours(5));
        engine.tick();
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
        // the window opens: from now on the usual time to report applies
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.APPLYING, latestSequence("pi-1")));
        clock.advance(Duration.ofMinutes(11));
        engine.tick();
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.FAILED);
        assertThat(stored(r).device("pi-1").reason()).isEqualTo("TIMEOUT");
    }

    @Test
    void aDeviceWaitingForItsAppsUpdateLockDoesNotTimeOutAndItsLockTimeoutIsAFailure() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "device:pi-1", "100%", null, null, "pause", "10m", null,
                null, null, null, null, null, null, null, null, "30m"), "test");
        AppDesired activation = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(activation.getLockTimeoutMs()).as("signed into the activation").isEqualTo(Duration.ofMinutes(30).toMillis());
        assertThat(activation.getForce()).isFalse();
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.WAITING_FOR_LOCK, latestSequence("pi-1")).toBuilder()
                .setMessage("web 1.0.0 holds its update lock").build());
        assertThat(stored(r).device("pi-1").message()).startsWith("waiting for the app's update lock");
        clock.advance(Duration.ofMinutes(25)); // past the 10-minute device timeout, within the device's 30-minute lock timeout
        engine.tick();
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);

        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.FAILED, latestSequence("pi-1")).toBuilder()
                .setReason(Reason.LOCK_TIMEOUT).setRunningVersion("1.0.0").build());
        assertThat(stored(r).device("pi-1").state()).isEqualTo(RolloutDeviceState.FAILED);
        assertThat(stored(r).device("pi-1").reason()).isEqualTo("LOCK_TIMEOUT");
    }

    @Test
    void aForcedDeploySignsTheForceIntoTheActivationOnly() {
        deployEverywhere("1.0.0");
        engine.create(RolloutRequest.parse("web", "2.0.0", "device:pi-1", "100%", null, null, "pause", null, null,
                null, null, null, null, null, null, null, true, null), "test");
        List<DesiredState> sent = transport.desiredOf("pi-1");
        AppDesired activation = sent.get(sent.size() - 1).getApps(0);
        assertThat(activation.getPhase()).isEqualTo(Phase.ACTIVATE);
        assertThat(activation.getForce()).isTrue();
        assertThat(activation.getLockTimeoutMs()).as("the device's own default").isZero();
        assertThat(sent.get(sent.size() - 2).getApps(0).getForce()).as("the STAGE before it").isFalse();
    }

    @Test
    void aDeviceBackFromOfflineGetsTheWholeTimeoutAgainWhileOthersKeepReporting() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "all", "100%", "pause"), "test");
        // pi-1 holds the wave open without timing out: it waits for its update window
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.WAITING_FOR_WINDOW, latestSequence("pi-1")));
        offline("pi-2");
        offline("pi-3");
        clock.advance(Duration.ofMinutes(20)); // far past the 10-minute device timeout, but they are away
        engine.tick();
        assertThat(stored(r).device("pi-2").state()).isEqualTo(RolloutDeviceState.ACTIVATING);

        for (String id : List.of("pi-2", "pi-3")) {
            engine.onPresence(id, Presence.newBuilder().setDeviceId(id).setOnline(true).build());
        }
        clock.advance(Duration.ofMinutes(9));
        engine.tick();
        assertThat(stored(r).device("pi-2").state()).isEqualTo(RolloutDeviceState.ACTIVATING);

        clock.advance(Duration.ofMinutes(1));
        reportActive("pi-3", "2.0.0"); // a report, not a tick, finds the timeout
        Rollout paused = stored(r);
        assertThat(paused.device("pi-2").state()).isEqualTo(RolloutDeviceState.FAILED);
        assertThat(paused.device("pi-2").reason()).isEqualTo("TIMEOUT");
        assertThat(paused.device("pi-3").state()).isEqualTo(RolloutDeviceState.ACTIVE);
        assertThat(paused.device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
        assertThat(paused.state()).isEqualTo(RolloutState.PAUSED);
    }

    @Test
    void aRolloutRollbackSendsNoDeviceBelowTheRollbackFloor() {
        release("1.1.0");
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "device:pi-1", "100%", "rollback"), "t");
        store.saveFloor("web", "1.1.0", clock.instant(), "t"); // raised while the rollout runs
        long activation = latestSequence("pi-1");

        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.FAILED, activation));

        assertThat(latestSequence("pi-1")).as("no rollback to 1.0.0 sent: the device would refuse it").isEqualTo(activation);
        Rollout end = stored(r);
        assertThat(end.device("pi-1").message()).contains("previous release 1.0.0 is below the rollback floor 1.1.0", "keeps what it runs");
        assertThat(end.reason()).contains("kept what they run (previous release below the rollback floor 1.1.0): pi-1");
        assertThatThrownBy(() -> engine.create(request("1.0.0", "device:pi-1", "100%", "pause"), "t"))
                .isInstanceOf(ConflictException.class).hasMessageContaining("below the rollback floor 1.1.0");
    }

    @Test
    void anOperatorRollsARunningRolloutBackByHand() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "all", "1,100%", "pause"), "test");
        reportActive("pi-1", "2.0.0");
        engine.rollBack(r.id(), "alice");
        Rollout rolling = stored(r);
        assertThat(rolling.state()).isEqualTo(RolloutState.ROLLING_BACK);
        assertThat(rolling.reason()).isEqualTo("rolled back by alice");
        AppDesired back = transport.latestApp("pi-2", "web").orElseThrow();
        assertThat(back.getRelease().getVersion()).isEqualTo("1.0.0");
        assertThat(back.getRollback()).isTrue();
        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            reportActive(id, "1.0.0");
        }
        assertThat(stored(r).state()).isEqualTo(RolloutState.ROLLED_BACK);
        assertThatThrownBy(() -> engine.rollBack(r.id(), "alice")).isInstanceOf(ConflictException.class);
    }

    @Test
    void deviceTransitionsLeaveTheAuditTrailAfterThirtyDaysOperatorActionsStay() {
        deployEverywhere("1.0.0");
        long transitions = store.audit(1000).stream().filter(a -> a.action().equals("device.status")).count();
        assertThat(transitions).isPositive();
        clock.advance(RolloutEngine.DEVICE_STATUS_RETENTION.plusHours(2));
        engine.tick();
        assertThat(store.audit(1000)).noneMatch(a -> a.action().equals("device.status"));
        assertThat(store.audit(1000)).anyMatch(a -> a.action().equals("rollout.create"));
    }

    // ---- issue 23: what the rollout records and decides, scenario by scenario ----

    @Test
    void issue23_1_rollbackSendsEachDeviceToTheReleaseItLastRanHealthy() {
        release("1.1.0");
        release("1.2.0");
        deployEverywhere("1.0.0");
        // 1.1.0 with one failure tolerated: pi-3 fails its health check and goes back to 1.0.0 by itself
        Rollout first = engine.create(RolloutRequest.parse("web", "1.1.0", "all", "100%", null, "1", "pause", null, null, null), "t");
        reportActive("pi-1", "1.1.0");
        reportActive("pi-2", "1.1.0");
        engine.onStatus("pi-3", status("pi-3", "1.1.0", UpdateState.ROLLED_BACK, latestSequence("pi-3")).toBuilder()
                .setReason(Reason.HEALTH_CHECK_FAILED).setRunningVersion("1.0.0").build());
        assertThat(stored(first).state()).isEqualTo(RolloutState.SUCCEEDED);

        Rollout second = engine.create(request("1.2.0", "all", "100%", "rollback"), "t");
        engine.onStatus("pi-1", status("pi-1", "1.2.0", UpdateState.FAILED, latestSequence("pi-1")));
        assertThat(stored(second).state()).isEqualTo(RolloutState.ROLLING_BACK);
        assertThat(transport.latestApp("pi-3", "web").orElseThrow().getRelease().getVersion())
                .as("pi-3 last ran 1.0.0 healthy, not its desired 1.1.0").isEqualTo("1.0.0");
        assertThat(transport.latestApp("pi-2", "web").orElseThrow().getRelease().getVersion()).isEqualTo("1.1.0");
        assertThat(transport.latestApp("pi-1", "web").orElseThrow().getRelease().getVersion()).isEqualTo("1.1.0");
    }

    @Test
    void issue23_1_aDeviceWithNoReleaseKnownHealthyKeepsWhatItRunsAndTheRolloutSaysSo() {
        release("1.1.0");
        deployEverywhere("1.0.0");
        // pi-2's last word about the app is a failure: nothing says which release runs healthy there
        engine.onStatus("pi-2", status("pi-2", "1.0.0", UpdateState.FAILED, latestSequence("pi-2")).toBuilder()
                .setRunningVersion("1.0.0").build());
        Rollout r = engine.create(request("1.1.0", "device:pi-1,pi-2", "100%", "rollback"), "t");
        long pi2Activation = latestSequence("pi-2");
        engine.onStatus("pi-1", status("pi-1", "1.1.0", UpdateState.FAILED, latestSequence("pi-1")));

        assertThat(latestSequence("pi-2")).as("no rollback sent to pi-2").isEqualTo(pi2Activation);
        reportActive("pi-1", "1.0.0");
        Rollout end = stored(r);
        assertThat(end.state()).isEqualTo(RolloutState.ROLLED_BACK);
        assertThat(end.device("pi-2").message()).contains("no release known healthy", "keeps what it runs");
        assertThat(end.reason()).contains("pi-2");
    }

    @Test
    void issue23_3_aDeviceOfflineWhenTheRolloutSucceededFinishesLateAndTheRecordSaysSo() {
        deployEverywhere("1.0.0");
        offline("pi-2");
        Rollout r = engine.create(request("2.0.0", "label:site=attic", "1,100%", "pause"), "test");
        reportActive("pi-1", "2.0.0");
        assertThat(stored(r).state()).isEqualTo(RolloutState.SUCCEEDED);

        clock.advance(Duration.ofHours(2));
        reportActive("pi-2", "2.0.0");
        Rollout late = stored(r);
        assertThat(late.state()).isEqualTo(RolloutState.SUCCEEDED);
        assertThat(late.device("pi-2").state()).isEqualTo(RolloutDeviceState.ACTIVE);
        assertThat(late.device("pi-2").message()).contains("late");
        assertThat(late.count(RolloutDeviceState.ACTIVE)).isEqualTo(2);
        assertThat(late.reason()).contains("finished late", "pi-2").doesNotContain("offline");

        // an orchestrator restarted meanwhile still takes the late report in
        Rollout again = engine.create(request("1.0.0", "label:site=attic", "100%", "pause"), "test");
        engine.abort(again.id(), "test");
        engine = newEngine();
        reportActive("pi-1", "1.0.0");
        assertThat(stored(again).device("pi-1").state()).isEqualTo(RolloutDeviceState.ACTIVE);
    }

    @Test
    void issue23_3_aDeviceThatFinishesAfterAnAbortUpdatesTheRecord() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "all", "1,100%", "pause"), "test");
        engine.abort(r.id(), "test");
        engine.onStatus("pi-1", status("pi-1", "2.0.0", UpdateState.ROLLED_BACK, latestSequence("pi-1")).toBuilder()
                .setReason(Reason.HEALTH_CHECK_FAILED).setRunningVersion("1.0.0").build());
        Rollout late = stored(r);
        assertThat(late.state()).isEqualTo(RolloutState.ABORTED);
        assertThat(late.device("pi-1").state()).isEqualTo(RolloutDeviceState.FAILED);
        assertThat(late.device("pi-1").reason()).isEqualTo("HEALTH_CHECK_FAILED");
        assertThat(late.device("pi-1").message()).contains("late");
    }

    @Test
    void issue23_4_abortPutsTheDevicesItNeverActivatedBackOnTheirPreviousRelease() {
        deployEverywhere("1.0.0");
        Rollout r = engine.create(request("2.0.0", "all", "1,100%", "pause"), "test");
        engine.abort(r.id(), "test");
        AppDesired cancelled = transport.latestApp("pi-2", "web").orElseThrow();
        assertThat(cancelled.getRelease().getVersion()).isEqualTo("1.0.0");
        assertThat(cancelled.getPhase()).isEqualTo(Phase.ACTIVATE);
        assertThat(stored(r).device("pi-2").message()).contains("stays on 1.0.0");
        AppDesired activated = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(activated.getRelease().getVersion()).as("an activated device keeps what it was told").isEqualTo("2.0.0");
    }

    @Test
    void issue23_2_aPresenceOrStatusOlderThanTheLastReportNeverOverwritesIt() {
        deployEverywhere("1.0.0");
        release("1.2.0");
        Rollout r = engine.create(request("1.2.0", "device:pi-1", "100%", "pause"), "test");
        engine.onStatus("pi-1", status("pi-1", "1.2.0", UpdateState.ACTIVE, latestSequence("pi-1")).toBuilder()
                .setRunningVersion("1.2.0").setReportSeq(5_000).build());
        assertThat(stored(r).state()).isEqualTo(RolloutState.SUCCEEDED);
        // what the broker replays after a restart: the presence the device published when it reconnected, and an older status
        Presence replayed = Presence.newBuilder().setDeviceId("pi-1").setOnline(true).setReportSeq(4_000)
                .addApps(dev.turnout.proto.AppSummary.newBuilder().setApp("web").setRunningVersion("1.1.0")
                        .setState(UpdateState.ACTIVE)).build();
        StatusEvent older = status("pi-1", "1.0.0", UpdateState.STAGED, 1).toBuilder().setRunningVersion("1.1.0")
                .setReportSeq(4_500).build();
        for (int restart = 0; restart < 2; restart++) {
            engine.onPresence("pi-1", replayed);
            engine.onStatus("pi-1", older);
            assertThat(store.deviceApps("pi-1")).singleElement().satisfies(a -> {
                assertThat(a.runningVersion()).isEqualTo("1.2.0");
                assertThat(a.state()).isEqualTo("ACTIVE");
            });
            assertThat(store.findDevice("pi-1").orElseThrow().online()).as("the presence's online flag is the newest").isTrue();
            engine = newEngine();
        }
        // not applied, but not lost either: each late copy is in the audit trail as what it is
        assertThat(store.audit(100)).filteredOn(a -> a.action().equals("device.status.late")).hasSize(2)
                .allSatisfy(a -> assertThat(a.detail()).isEqualTo("web:1.0.0 STAGED seq 1 (report 4500, after a newer one: not applied)"));
        // a newer presence is taken, and so is a report of a daemon that does not number them
        engine.onPresence("pi-1", replayed.toBuilder().setReportSeq(6_000).setApps(0, replayed.getApps(0).toBuilder()
                .setRunningVersion("1.2.0").setState(UpdateState.FAILED)).build());
        assertThat(store.deviceApps("pi-1")).singleElement().extracting(a -> a.state()).isEqualTo("FAILED");
        engine.onStatus("pi-1", status("pi-1", "1.2.0", UpdateState.ACTIVE, 1).toBuilder().setRunningVersion("1.2.0").build());
        assertThat(store.deviceApps("pi-1")).singleElement().extracting(a -> a.state()).isEqualTo("ACTIVE");
    }

    @Test
    void issue23_5_aDeviceAwayThroughNewerRolloutsIsSkippedByTheOlderOnesAndFinishesTheNewest() {
        deployEverywhere("1.0.0");
        List.of("1.1.0", "1.2.0", "1.3.0").forEach(this::release);
        offline("pi-2");
        Rollout first = engine.create(request("1.1.0", "device:pi-1,pi-2", "100%", "pause"), "test");
        reportActive("pi-1", "1.1.0");
        assertThat(stored(first).state()).isEqualTo(RolloutState.SUCCEEDED);
        assertThat(stored(first).device("pi-2").state()).isEqualTo(RolloutDeviceState.ACTIVATING);
        Rollout second = engine.create(request("1.2.0", "device:pi-1,pi-2", "100%", "pause"), "test");
        assertThat(stored(first).device("pi-2").state()).as("1.1.0 will never run on pi-2").isEqualTo(RolloutDeviceState.SKIPPED);
        assertThat(stored(first).device("pi-2").message()).contains(second.id(), "1.2.0");
        assertThat(stored(first).reason()).contains("skipped", "pi-2").doesNotContain("offline");
        assertThat(stored(first).state()).isEqualTo(RolloutState.SUCCEEDED);
        reportActive("pi-1", "1.2.0");

        engine = newEngine(); // a restart between the rollouts changes nothing
        Rollout third = engine.create(request("1.3.0", "device:pi-1,pi-2", "100%", "pause"), "test");
        assertThat(stored(second).device("pi-2").state()).isEqualTo(RolloutDeviceState.SKIPPED);
        assertThat(stored(second).device("pi-2").message()).contains(third.id(), "1.3.0");
        assertThat(transport.latestApp("pi-2", "web").orElseThrow().getRelease().getVersion())
                .as("pi-2's newest desired state").isEqualTo("1.3.0");
        reportActive("pi-1", "1.3.0");

        clock.advance(Duration.ofHours(3));
        reportActive("pi-2", "1.3.0");
        assertThat(stored(third).device("pi-2").state()).isEqualTo(RolloutDeviceState.ACTIVE);
        assertThat(stored(third).reason()).contains("finished late", "pi-2");
        assertThat(stored(first).device("pi-2").state()).as("unchanged by the newer rollout's report").isEqualTo(RolloutDeviceState.SKIPPED);
        assertThat(stored(second).device("pi-2").state()).isEqualTo(RolloutDeviceState.SKIPPED);
    }

    @Test
    void issue23_5_anEndedRolloutWhoseDeviceANewerOneTookIsSkippedWhenTheOrchestratorStarts() {
        deployEverywhere("1.0.0");
        List.of("1.1.0", "1.2.0", "1.3.0").forEach(this::release);
        offline("pi-2");
        clock.advance(Duration.ofMinutes(1));
        Rollout first = engine.create(request("1.1.0", "device:pi-1,pi-2", "100%", "pause"), "test");
        reportActive("pi-1", "1.1.0");
        // a record left by an orchestrator that did not mark skipped devices: pi-2 still ACTIVATING in 1.1.0 under a newer rollout
        Rollout stale = stored(first);
        clock.advance(Duration.ofMinutes(1));
        Rollout second = engine.create(request("1.2.0", "device:pi-1,pi-2", "100%", "pause"), "test");
        stale.device("pi-2").activating(stale.device("pi-2").activationSequence(), clock.instant());
        store.saveRollout(stale);
        assertThat(stored(first).device("pi-2").state()).isEqualTo(RolloutDeviceState.ACTIVATING);

        engine = newEngine();
        assertThat(stored(first).device("pi-2").state()).isEqualTo(RolloutDeviceState.SKIPPED);
        assertThat(stored(first).device("pi-2").message()).contains(second.id());
    }

    @Test
    void issue23_6_resumingAPausedRolloutDoesNotMakeDevicesActiveForLongerThanTheSoakWaitAgain() {
        Rollout r = engine.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", "30s", null, null, null, null, null), "test");
        engine.pause(r.id(), "alice");
        reportActive("pi-1", "2.0.0");
        clock.advance(Duration.ofMinutes(5));
        engine.tick();
        engine.resume(r.id(), "alice");
        assertThat(stored(r).currentWave()).as("pi-1 has been ACTIVE for 5 minutes: wave 2 starts at once").isEqualTo(2);
        assertThat(phaseOf("pi-2")).isEqualTo(Phase.ACTIVATE);
    }

    @Test
    void issue23_6_repeatedOrShrinkingWaveSizesAreRefused() {
        assertThatThrownBy(() -> engine.create(request("2.0.0", "all", "1,1,100%", "pause"), "t"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("must grow").hasMessageContaining("1 after 1");
        assertThatThrownBy(() -> engine.create(RolloutRequest.parse("web", "2.0.0", "all", "50%,20%", null, null, null, null, true,
                null), "t")).isInstanceOf(InvalidInputException.class).hasMessageContaining("20% after 50%");
    }

    private void release(String version) {
        store.insertRelease(new Release("web", version, clock.instant(),
                List.of(new ReleaseImage("linux/arm64", DIGEST, 1234, "sha256:" + "b".repeat(64), "demo/web:" + version)),
                new ReleaseSpec(null, null)));
    }

    private void offline(String deviceId) {
        engine.onPresence(deviceId, Presence.newBuilder().setDeviceId(deviceId).setOnline(false).build());
    }

    private void enroll(String deviceId, String site) {
        store.insertDevice(new Device(deviceId, Map.of("site", site), List.of(), clock.instant(), false, null, null));
        engine.onEnrolled(deviceId);
    }

    private void deployEverywhere(String version) {
        Rollout r = engine.create(request(version, "all", "100%", "pause"), "test");
        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            reportActive(id, version);
        }
        assertThat(stored(r).state()).isEqualTo(RolloutState.SUCCEEDED);
    }

    private void reportActive(String deviceId, String version) {
        engine.onStatus(deviceId, status(deviceId, version, UpdateState.ACTIVE, latestSequence(deviceId)).toBuilder()
                .setRunningVersion(version).build());
    }

    private static StatusEvent status(String deviceId, String version, UpdateState state, long sequence) {
        return StatusEvent.newBuilder().setDeviceId(deviceId).setApp("web").setVersion(version).setState(state)
                .setSequence(sequence).build();
    }

    private long latestSequence(String deviceId) {
        return transport.latest(deviceId).map(DesiredState::getSequence).orElse(0L);
    }

    private Phase phaseOf(String deviceId) {
        return transport.latestApp(deviceId, "web").orElseThrow().getPhase();
    }

    /** The phase of the device's latest desired state of web; null before it got any (a large fleet is staged in steps). */
    private Phase phaseSoFar(String deviceId) {
        return transport.latestApp(deviceId, "web").map(AppDesired::getPhase).orElse(null);
    }

    private Rollout stored(Rollout r) {
        return store.findRollout(r.id()).orElseThrow();
    }

    private static RolloutRequest request(String version, String target, String waves, String onFailure) {
        return RolloutRequest.parse("web", version, target, waves, null, null, onFailure, null, null, null);
    }
}
