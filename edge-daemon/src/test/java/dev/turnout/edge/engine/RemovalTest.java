package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.APPLYING;
import static dev.turnout.proto.UpdateState.DOWNLOADING;
import static dev.turnout.proto.UpdateState.FAILED;
import static dev.turnout.proto.UpdateState.REJECTED;
import static dev.turnout.proto.UpdateState.REMOVED;
import static dev.turnout.proto.UpdateState.REMOVING;
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static org.assertj.core.api.Assertions.assertThat;

/** A signed REMOVE entry: the exact states reported, what is left in the engine, and that removed stays removed. */
class RemovalTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final List<Collection<String>> retained = new ArrayList<>();
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
                retained.add(List.copyOf(keepDigests));
            }
        };
        HealthVerifier healthy = (containerId, check) -> { };
        return new UpdateEngine(DEVICE, PLATFORM, Fixtures.verifier(store, key), store, artifacts, runtime, healthy, events::add,
                () -> NOW);
    }

    private static DesiredState remove(long sequence, String app) {
        return DesiredState.newBuilder().setDeviceId(DEVICE).setSequence(sequence).setIssuedAtMs(NOW).setExpiresAtMs(NOW + 3_600_000)
                .addApps(AppDesired.newBuilder().setApp(app).setPhase(Phase.REMOVE)).build();
    }

    /** web (the fixture) and cam running the same release, so the same image. */
    private static DesiredState webAndCam(long sequence, String version) {
        DesiredState web = activate(sequence, version);
        return web.toBuilder().addApps(web.getApps(0).toBuilder().setApp("cam")).build();
    }

    private void send(DesiredState state) {
        engine.onDesiredState(key.seal(state).toByteArray());
    }

    private List<UpdateState> statesOf(long sequence) {
        return events.stream().filter(e -> e.getSequence() == sequence).map(StatusEvent::getState).toList();
    }

    @Test
    void removesEveryContainerAndImageOfTheAppAndReportsRemoved() {
        send(activate(1, "1.0.0"));
        send(activate(2, "2.0.0"));
        send(remove(3, "web"));

        assertThat(statesOf(3)).containsExactly(REMOVING, REMOVED);
        assertThat(runtime.containers).isEmpty();
        assertThat(runtime.calls).contains("rmi sha256:id-2.0.0", "rmi sha256:id-1.0.0"); // the running one and the one kept for rollback
        assertThat(retained.get(retained.size() - 1)).isEmpty(); // no archive of web kept in the cache
        AppRecord record = store.loadApp("web").orElseThrow();
        assertThat(record.state()).isEqualTo(REMOVED);
        assertThat(record.running()).isNull();
        assertThat(record.previous()).isNull();
        StatusEvent removed = events.get(events.size() - 1);
        assertThat(removed.getRunningVersion()).isEmpty();
        assertThat(removed.getMessage()).contains("removed web 2.0.0, 1.0.0");
    }

    @Test
    void staysRemovedAcrossRestartsRedeliveriesReSigningAndTicks() {
        send(activate(1, "1.0.0"));
        send(remove(2, "web"));
        int before = events.size();
        int callsBefore = runtime.calls.size();

        send(remove(2, "web")); // the retained copy again
        engine = newEngine(); // the daemon restarts
        engine.recover();
        engine.tick(); // no drift repair brings it back
        send(remove(3, "web")); // the orchestrator re-signs the same decision

        assertThat(events).hasSize(before);
        assertThat(runtime.calls).hasSize(callsBefore);
        assertThat(runtime.containers).isEmpty();
        assertThat(store.loadApp("web").orElseThrow().sequence()).isEqualTo(3);

        send(activate(2, "1.0.0")); // an older state that still lists the app: the high-water mark refuses it
        assertThat(events.get(events.size() - 1).getState()).isEqualTo(REJECTED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.REPLAY);
        assertThat(runtime.containers).isEmpty();
        assertThat(store.loadApp("web").orElseThrow().state()).isEqualTo(REMOVED);
    }

    @Test
    void aNewReleaseAfterTheRemovalInstallsTheAppAgain() {
        send(activate(1, "1.0.0"));
        send(remove(2, "web"));
        send(activate(3, "1.0.0"));

        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void removingAnAppThatWasNeverInstalledReportsRemoved() {
        send(remove(1, "web"));

        assertThat(statesOf(1)).containsExactly(REMOVING, REMOVED);
        assertThat(events.get(events.size() - 1).getMessage()).isEqualTo("nothing of web was installed");
    }

    @Test
    void anImageAnotherAppUsesIsKeptWithThatAppsContainer() {
        send(webAndCam(1, "1.0.0"));
        String cam = store.loadApp("cam").orElseThrow().containerId();
        DesiredState withoutWeb = remove(2, "web").toBuilder().addApps(webAndCam(2, "1.0.0").getApps(1)).build();
        send(withoutWeb);

        assertThat(statesOf(2)).containsExactly(REMOVING, REMOVED); // cam: the same decision re-signed, nothing to report
        assertThat(runtime.containers).containsOnlyKeys(cam);
        assertThat(runtime.containers.get(cam).running()).isTrue();
        assertThat(runtime.calls).noneMatch(call -> call.startsWith("rmi "));
        assertThat(retained.get(retained.size() - 1)).containsExactly(Fixtures.release("1.0.0").getImages(0).getArchiveDigest());
    }

    @Test
    void aRemovalTheDaemonsEndCutShortIsFinishedAtTheNextStart() {
        send(activate(1, "1.0.0"));
        AppRecord active = store.loadApp("web").orElseThrow();
        // the daemon saved REMOVING (before any side effect) and died
        store.saveApp(active.withTarget(remove(2, "web").getApps(0), 2).withState(REMOVING));

        engine = newEngine();
        engine.recover();

        assertThat(statesOf(2)).containsExactly(REMOVED);
        assertThat(runtime.containers).isEmpty();
        assertThat(runtime.calls).contains("rmi sha256:id-1.0.0");
    }

    @Test
    void anEngineThatRefusesFailsTheRemovalAndANewRemovalRetriesIt() {
        send(activate(1, "1.0.0"));
        runtime.removeFails = new UpdateFailure(Reason.ENGINE_ERROR, "engine said no");
        send(remove(2, "web"));

        assertThat(statesOf(2)).containsExactly(REMOVING, FAILED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.ENGINE_ERROR);
        assertThat(store.loadApp("web").orElseThrow().runningVersion()).isEqualTo("1.0.0"); // still knows what is there

        runtime.removeFails = null;
        send(remove(3, "web"));
        assertThat(statesOf(3)).containsExactly(REMOVING, REMOVED);
        assertThat(runtime.containers).isEmpty();
    }

    @Test
    void aRemoveEntryThatCarriesAReleaseIsRefusedAsMalformed() {
        send(activate(1, "1.0.0"));
        DesiredState bad = activate(2, "1.0.0").toBuilder().setApps(0, activate(2, "1.0.0").getApps(0).toBuilder()
                .setPhase(Phase.REMOVE)).build();
        send(bad);

        assertThat(events.get(events.size() - 1).getState()).isEqualTo(REJECTED);
        assertThat(events.get(events.size() - 1).getReason()).isEqualTo(Reason.MALFORMED);
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }
}
