package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.cluster.LeasedRollouts;
import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.orchestrator.store.PostgresFleetStore;
import dev.turnout.orchestrator.store.PostgresProcess;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Two rollout engines on one real PostgreSQL store, stepped by hand on one clock: the engine that
 * does not drive a rollout forwards its reports to the one that does; when the owner stops
 * renewing its lease the other takes over without a new activation; the old owner, back, decides
 * nothing more.
 */
class SharedStoreRolloutEngineIT {

    private static final String DIGEST = "sha256:" + "a".repeat(64);
    private static final Duration LEASE = Duration.ofSeconds(10);

    private final SigningKey key = SigningKey.generate();
    private final MutableClock clock = new MutableClock(Instant.parse("2026-11-22T10:00:00Z"));
    private final FakeFleetTransport transport = new FakeFleetTransport(key.publicKey());
    private final List<FleetStore> stores = new ArrayList<>();
    private FleetStore storeA;
    private RolloutEngine a;
    private RolloutEngine b;

    @BeforeEach
    void setUp() throws Exception {
        PostgresProcess postgres = PostgresProcess.shared();
        String url = postgres.createDatabase();
        storeA = open(url, postgres);
        FleetStore storeB = open(url, postgres);
        storeA.saveArtifact(new Artifact(DIGEST, 1234, "sha256:" + "b".repeat(64), "demo/web:1", "linux/arm64", null, null));
        storeA.insertRelease(new Release("web", "2.0.0", clock.instant(),
                List.of(new ReleaseImage("linux/arm64", DIGEST, 1234, "sha256:" + "b".repeat(64), "demo/web:2")), new ReleaseSpec(null, null)));
        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            storeA.insertDevice(new Device(id, Map.of(), List.of(), clock.instant(), true, null, null));
        }
        a = engine(storeA, "a");
        b = engine(storeB, "b");
    }

    @AfterEach
    void tearDown() {
        stores.forEach(FleetStore::close);
    }

    private FleetStore open(String url, PostgresProcess postgres) {
        FleetStore s = PostgresFleetStore.open(url, PostgresProcess.USER, postgres.password());
        stores.add(s);
        return s;
    }

    private RolloutEngine engine(FleetStore store, String name) {
        RolloutEngine e = new RolloutEngine(store, store, new LeasedRollouts(store, name, "http://" + name + ":8080", LEASE, d -> { }),
                new DesiredStates(store, key, transport, clock), transport, clock);
        e.start();
        return e;
    }

    @Test
    void theOwnerGetsForwardedReportsAndAfterItStopsTheOtherFinishesWithoutANewActivation() {
        Rollout r = a.create(RolloutRequest.parse("web", "2.0.0", "all", "1,100%", null, null, "pause", "1h", null, null), "test");
        assertThat(a.driving()).containsExactly(r.id());
        b.tick(); // b learns the rollout and its devices
        assertThat(b.driving()).isEmpty();
        assertThatThrownBy(() -> b.pause(r.id(), "test")).isInstanceOf(ConflictException.class)
                .hasMessageContaining("driven by orchestrator a at http://a:8080");

        // the canary's report reaches b; a decides on it
        b.onStatus("pi-1", active("pi-1"));
        assertThat(storeA.findRollout(r.id()).orElseThrow().currentWave()).as("nothing until a takes the report").isEqualTo(1);
        a.drainForwarded();
        assertThat(storeA.findRollout(r.id()).orElseThrow().currentWave()).isEqualTo(2);
        long pi2Activation = activationsOf("pi-2").get(0);

        // a stops (no more ticks); once its lease expired b takes over and re-drives from the store
        clock.advance(LEASE.plusSeconds(1));
        b.tick();
        assertThat(b.driving()).containsExactly(r.id());
        b.onStatus("pi-2", active("pi-2"));
        b.onStatus("pi-3", active("pi-3"));
        assertThat(storeA.findRollout(r.id()).orElseThrow().state()).isEqualTo(RolloutState.SUCCEEDED);

        for (String id : List.of("pi-1", "pi-2", "pi-3")) {
            assertThat(activationsOf(id)).as("distinct activation sequences sent to " + id).hasSize(1);
        }
        assertThat(activationsOf("pi-2")).containsExactly(pi2Activation);

        // a wakes up: its renewal fails, it drops the rollout and publishes nothing
        int published = transport.desiredCount();
        a.tick();
        assertThat(a.driving()).isEmpty();
        assertThat(transport.desiredCount()).isEqualTo(published);
    }

    private StatusEvent active(String deviceId) {
        long sequence = transport.latest(deviceId).map(DesiredState::getSequence).orElseThrow();
        return StatusEvent.newBuilder().setDeviceId(deviceId).setApp("web").setVersion("2.0.0").setState(UpdateState.ACTIVE)
                .setRunningVersion("2.0.0").setSequence(sequence).build();
    }

    private List<Long> activationsOf(String deviceId) {
        return transport.desiredOf(deviceId).stream()
                .filter(s -> s.getAppsList().stream().anyMatch(x -> x.getPhase() == Phase.ACTIVATE))
                .map(DesiredState::getSequence).distinct().toList();
    }
}
