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
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.Target;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code turnout app remove} in the engine: what is signed, stored, audited and published, and what is refused. */
class AppRemovalsTest {

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
        engine = new RolloutEngine(store, new DesiredStates(store, key, transport, clock), transport, clock);
        engine.start();
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    /** web 1.0.0 on every device, the rollout ended SUCCEEDED. */
    private void webEverywhere() {
        Rollout r = engine.create(RolloutRequest.parse("web", "1.0.0", "all", "100%", null, null, "pause", null, null, null), "test");
        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            report(id, "1.0.0", UpdateState.ACTIVE, "1.0.0");
        }
        assertThat(store.findRollout(r.id()).orElseThrow().state()).isEqualTo(RolloutState.SUCCEEDED);
    }

    private void report(String deviceId, String version, UpdateState state, String running) {
        clock.advance(Duration.ofSeconds(1));
        long sequence = transport.latest(deviceId).map(DesiredState::getSequence).orElse(0L);
        engine.onStatus(deviceId, StatusEvent.newBuilder().setDeviceId(deviceId).setApp("web").setVersion(version).setState(state)
                .setSequence(sequence).setRunningVersion(running).build());
    }

    @Test
    void theTargetedDevicesGetASignedRemovalEntryStoredAndAuditedTheOthersNothing() {
        webEverywhere();
        int before = transport.desiredCount();

        AppRemovals.Removal removal = engine.removeApp("web", Target.parse("label:site=attic"), "alice");

        assertThat(removal.devices()).containsExactly("pi-1", "pi-2");
        assertThat(removal.alreadyRemoved()).isEmpty();
        assertThat(transport.desiredCount()).isEqualTo(before + 2);
        for (String id : List.of("pi-1", "pi-2")) {
            AppDesired entry = transport.latestApp(id, "web").orElseThrow();
            assertThat(entry.getPhase()).as(id).isEqualTo(Phase.REMOVE);
            assertThat(entry.hasRelease()).as("a removal names no release").isFalse();
        }
        assertThat(transport.latestApp("pi-3", "web").orElseThrow().getPhase()).isEqualTo(Phase.ACTIVATE);
        assertThat(store.findDesired("pi-1").orElseThrow().app("web").removes()).isTrue();
        assertThat(store.audit(50)).anyMatch(a -> a.action().equals("app.remove") && a.actor().equals("alice")
                && a.subject().equals("web") && a.detail().contains("pi-1,pi-2"));
    }

    @Test
    void reSigningKeepsTheRemovalAndADeployAfterwardsReplacesIt() {
        webEverywhere();
        engine.removeApp("web", Target.parse("device:pi-1"), "alice");
        report("pi-1", "", UpdateState.REMOVED, "");

        clock.advance(DesiredStates.VALIDITY);
        List<DesiredStates.Decision> refreshed = engine.desiredStates().refreshOlderThan(Duration.ofDays(1));
        assertThat(refreshed).extracting(DesiredStates.Decision::deviceId).contains("pi-1");
        engine.desiredStates().publish("pi-1");
        assertThat(transport.latestApp("pi-1", "web").orElseThrow().getPhase()).isEqualTo(Phase.REMOVE);

        engine.create(RolloutRequest.parse("web", "2.0.0", "device:pi-1", "100%", null, null, "pause", null, null, null), "test");
        AppDesired entry = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(entry.getPhase()).isIn(Phase.STAGE, Phase.ACTIVATE);
        assertThat(entry.getRelease().getVersion()).isEqualTo("2.0.0");
    }

    @Test
    void aRemovalWaitsForTheUpdateLockUnlessForcedAndAForcedOneIsSentAgainToDevicesToldWithout() {
        webEverywhere();
        engine.removeApp("web", Target.parse("device:pi-1"), "alice");
        AppDesired waiting = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(waiting.getForce()).isFalse();
        assertThat(waiting.getLockTimeoutMs()).as("the device's own timeout").isZero();
        int before = transport.desiredCount();

        AppRemovals.Removal forced = engine.removeApp("web", Target.parse("device:pi-1"), "alice", true, java.time.Duration.ofMinutes(5));

        assertThat(forced.devices()).as("told again, now forced").containsExactly("pi-1");
        assertThat(transport.desiredCount()).isEqualTo(before + 1);
        AppDesired entry = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(entry.getPhase()).isEqualTo(Phase.REMOVE);
        assertThat(entry.getForce()).isTrue();
        assertThat(entry.getLockTimeoutMs()).isEqualTo(300_000);
        assertThat(engine.removeApp("web", Target.parse("device:pi-1"), "alice", true, java.time.Duration.ofMinutes(5)).alreadyRemoved())
                .containsExactly("pi-1");
        assertThat(store.audit(50)).anyMatch(a -> a.action().equals("app.remove") && a.detail().contains("forced"));
    }

    @Test
    void aSecondRemovalSendsNothingAndSaysTheDevicesHadItRemovedAlready() {
        webEverywhere();
        engine.removeApp("web", Target.parse("all"), "alice");
        int before = transport.desiredCount();

        AppRemovals.Removal again = engine.removeApp("web", Target.parse("all"), "alice");

        assertThat(again.devices()).isEmpty();
        assertThat(again.alreadyRemoved()).containsExactly("pi-1", "pi-2", "pi-3");
        assertThat(transport.desiredCount()).isEqualTo(before);
    }

    @Test
    void refusedWhileARolloutOfTheAppHoldsADeviceAndNothingIsSent() {
        webEverywhere();
        Rollout running = engine.create(RolloutRequest.parse("web", "2.0.0", "device:pi-2", "100%", null, null, "pause", null, null,
                null), "test");
        int before = transport.desiredCount();

        assertThatThrownBy(() -> engine.removeApp("web", Target.parse("all"), "alice")).isInstanceOf(ConflictException.class)
                .hasMessageContaining("rollout " + running.id()).hasMessageContaining("abort it first");
        assertThat(transport.desiredCount()).isEqualTo(before);
        assertThat(store.audit(50)).noneMatch(a -> a.action().equals("app.remove"));
    }

    @Test
    void aRolloutRolledBackRemovesTheAppFromActivatedDevicesThatHadNoPreviousRelease() {
        Rollout r = engine.create(RolloutRequest.parse("web", "1.0.0", "label:site=attic", "100%", null, null, "rollback", null,
                null, null), "test");
        report("pi-1", "1.0.0", UpdateState.ACTIVE, "1.0.0");
        report("pi-2", "1.0.0", UpdateState.FAILED, "");

        assertThat(store.findRollout(r.id()).orElseThrow().state()).isIn(RolloutState.ROLLING_BACK, RolloutState.ROLLED_BACK);
        AppDesired back = transport.latestApp("pi-1", "web").orElseThrow();
        assertThat(back.getPhase()).as("a signed removal, not an entry left out (the device would keep 1.0.0)")
                .isEqualTo(Phase.REMOVE);
        assertThat(store.findRollout(r.id()).orElseThrow().device("pi-1").message()).contains("app removed");
    }

    @Test
    void anAppNoTargetedDeviceHasOrAnUnknownDeviceIsRefused() {
        webEverywhere();
        assertThatThrownBy(() -> engine.removeApp("cam", Target.parse("all"), "alice")).isInstanceOf(NotFoundException.class)
                .hasMessageContaining("no device of target 'all' has app cam");
        assertThatThrownBy(() -> engine.removeApp("web", Target.parse("device:pi-9"), "alice"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("pi-9");
        assertThatThrownBy(() -> engine.removeApp("web", Target.parse("label:site=moon"), "alice"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("no enrolled device matches");
    }
}
