package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.FAILED;
import static dev.turnout.proto.UpdateState.ROLLED_BACK;
import static dev.turnout.proto.UpdateState.STAGED;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A failure report says why in the app's own words: FAILED and ROLLED_BACK reports of an update whose container ran
 * carry the last lines of that container's log (50 lines, 8 KiB), read before the container is removed; the record keeps
 * them for the reports repeated after a reconnect, and a new update clears them.
 */
class FailureLogTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final Set<String> unhealthyVersions = new HashSet<>();
    private final Set<String> undownloadable = new HashSet<>();
    /** What the artifact source says about the fetch of a version (StatusEvent.fetch_note), and the note not yet taken. */
    private final java.util.Map<String, String> fetchNotes = new java.util.HashMap<>();
    private final StringBuilder pendingNote = new StringBuilder();
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
            public Path fetch(ImageArtifact artifact) throws UpdateFailure {
                String version = Fixtures.version(artifact);
                pendingNote.append(fetchNotes.getOrDefault(version, ""));
                if (undownloadable.contains(version)) {
                    throw new UpdateFailure(Reason.DIGEST_MISMATCH, "bad archive");
                }
                return dir.resolve(version + ".tar");
            }

            @Override
            public String takeFetchNote() {
                String note = pendingNote.toString();
                pendingNote.setLength(0);
                return note;
            }

            @Override
            public void retainOnly(Collection<String> keepDigests) {
            }
        };
        HealthVerifier health = (containerId, check) -> {
            if (unhealthyVersions.contains(runtime.containers.get(containerId).labels().get(UpdateEngine.LABEL_VERSION))) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "probe failed 3 times");
            }
        };
        return new UpdateEngine(DEVICE, PLATFORM, Fixtures.verifier(store, key), store, artifacts, runtime, health, events::add, now::get);
    }

    private void send(DesiredState state) {
        engine.onDesiredState(key.seal(state).toByteArray());
    }

    private StatusEvent last() {
        return events.get(events.size() - 1);
    }

    private static List<String> lines(String version, int count) {
        return IntStream.rangeClosed(1, count).mapToObj(i -> version + " line " + i).toList();
    }

    @Test
    void aRollbackReportCarriesTheLastFiftyLinesOfTheFailedContainerAndOnlyTheFailureReportsDo() {
        send(activate(1, "1.0.0"));
        List<String> printed = new ArrayList<>(lines("3.0.0", 79));
        printed.add("panic: cannot open /dev/ttyACM0: no such device");
        runtime.printed.put("3.0.0", printed);
        unhealthyVersions.add("3.0.0");
        events.clear();

        send(activate(2, "3.0.0"));
        StatusEvent rolledBack = last();
        assertThat(rolledBack.getState()).isEqualTo(ROLLED_BACK);
        assertThat(rolledBack.getReason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        assertThat(rolledBack.getLogTail().split("\n")).hasSize(50).startsWith("3.0.0 line 31")
                .endsWith("panic: cannot open /dev/ttyACM0: no such device");
        assertThat(events.subList(0, events.size() - 1)).as("progress reports carry no log")
                .allSatisfy(e -> assertThat(e.getLogTail()).isEmpty());
        assertThat(runtime.containers).as("the failed container is gone, its words are kept").hasSize(1);

        // kept with the app's record: repeated after a reconnect and a daemon restart, and when the state is re-signed
        assertThat(store.loadApp("web").orElseThrow().logTail()).isEqualTo(rolledBack.getLogTail());
        engine = newEngine();
        assertThat(engine.currentStatus()).singleElement().satisfies(e -> assertThat(e.getLogTail()).isEqualTo(rolledBack.getLogTail()));
        send(activate(3, "3.0.0"));
        assertThat(store.loadApp("web").orElseThrow().logTail()).isEqualTo(rolledBack.getLogTail());

        // a new update clears it
        events.clear();
        send(activate(4, "2.0.0"));
        assertThat(last().getState()).isEqualTo(ACTIVE);
        assertThat(events).allSatisfy(e -> assertThat(e.getLogTail()).isEmpty());
        assertThat(store.loadApp("web").orElseThrow().logTail()).isEmpty();
        assertThat(engine.currentStatus()).singleElement().satisfies(e -> assertThat(e.getLogTail()).isEmpty());
    }

    @Test
    void theStagedReportSaysWhyTheDownloadFellBackAndAFailedOneToo() {
        pendingNote.append("an earlier fetch's note");
        fetchNotes.put("1.0.0", "delta of blob sha256:ab refused (damaged): fetched the whole blob");
        send(activate(1, "1.0.0"));
        assertThat(events).filteredOn(e -> e.getState() == STAGED).singleElement()
                .satisfies(e -> assertThat(e.getFetchNote()).isEqualTo("delta of blob sha256:ab refused (damaged): fetched the whole blob"));
        assertThat(events).filteredOn(e -> e.getState() != STAGED).allSatisfy(e -> assertThat(e.getFetchNote()).isEmpty());

        events.clear();
        fetchNotes.put("2.0.0", "held blob sha256:cd was damaged (3 bytes): fetched it again");
        undownloadable.add("2.0.0");
        send(activate(2, "2.0.0"));
        assertThat(last().getState()).isEqualTo(FAILED);
        assertThat(last().getFetchNote()).isEqualTo("held blob sha256:cd was damaged (3 bytes): fetched it again");

        events.clear();
        send(activate(3, "3.0.0")); // nothing fell back
        assertThat(events).isNotEmpty().allSatisfy(e -> assertThat(e.getFetchNote()).isEmpty());

        // the engine lost its images (pruned behind the daemon's back): the rollback to 1.0.0 loads it again and says so
        runtime.images.clear();
        events.clear();
        send(Fixtures.desired(4, "1.0.0", dev.turnout.proto.Phase.ACTIVATE, true));
        assertThat(events).filteredOn(e -> e.getState() == STAGED).singleElement().satisfies(e -> assertThat(e.getFetchNote())
                .isEqualTo("delta of blob sha256:ab refused (damaged): fetched the whole blob; the engine had lost image "
                        + "demo/web:1.0.0 of 1.0.0: loaded it again"));
    }

    @Test
    void aFirstInstallThatFailsReportsFailedWithItsLogBoundedToEightKibibytes() {
        // 50 lines of 1,000 bytes: only the newest 8 fit in 8 KiB with their newlines
        runtime.printed.put("1.0.0", IntStream.rangeClosed(1, 50).mapToObj(i -> String.format("%02d", i) + "é".repeat(499)).toList());
        unhealthyVersions.add("1.0.0");
        send(activate(1, "1.0.0"));

        StatusEvent failed = last();
        assertThat(failed.getState()).isEqualTo(FAILED);
        assertThat(failed.getReason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        assertThat(failed.getLogTail().getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(8192);
        List<String> kept = List.of(failed.getLogTail().split("\n"));
        assertThat(kept).hasSize(8);
        assertThat(kept.get(0)).startsWith("43");
        assertThat(kept.get(7)).startsWith("50").endsWith("é");
    }

    @Test
    void aFailedUpdateKeptAboveTheFloorReportsItsLog() {
        send(activate(1, "1.0.0"));
        runtime.printed.put("3.0.0", List.of("3.0.0 is up", "3.0.0: the layout does not answer"));
        unhealthyVersions.add("3.0.0");
        DesiredState withFloor = activate(2, "3.0.0");
        send(withFloor.toBuilder().setApps(0, withFloor.getApps(0).toBuilder().setMinVersion("2.0.0")).build());

        assertThat(last().getState()).isEqualTo(FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.BELOW_FLOOR);
        assertThat(last().getLogTail()).isEqualTo("3.0.0 is up\n3.0.0: the layout does not answer");
    }

    @Test
    void aFailureWhereNoContainerRanCarriesNoLog() {
        runtime.printed.put("1.0.0", List.of("1.0.0 running"));
        send(activate(1, "1.0.0"));
        undownloadable.add("2.0.0");
        runtime.printed.put("2.0.0", List.of("never printed"));
        send(activate(2, "2.0.0"));

        assertThat(last().getState()).isEqualTo(FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.DIGEST_MISMATCH);
        assertThat(last().getLogTail()).isEmpty();
    }

    @Test
    void anEngineThatCannotReadTheLogStillReportsTheFailure() {
        send(activate(1, "1.0.0"));
        runtime.printed.put("3.0.0", List.of("unread"));
        runtime.logsFail = new UpdateFailure(Reason.ENGINE_ERROR, "read the log failed: engine restarting");
        unhealthyVersions.add("3.0.0");
        send(activate(2, "3.0.0"));

        assertThat(last().getState()).isEqualTo(ROLLED_BACK);
        assertThat(last().getReason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        assertThat(last().getLogTail()).isEmpty();
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
    }

    @Test
    void aContainerThatStoppedIsPutBackAndTheDriftReportSaysWhatItPrinted() throws Exception {
        runtime.printed.put("1.0.0", List.of("1.0.0 running", "fatal: lost the DCC command station"));
        send(activate(1, "1.0.0"));
        String container = store.loadApp("web").orElseThrow().containerId();
        events.clear();

        runtime.stop(container, null); // it exited
        engine.tick();
        StatusEvent drift = last();
        assertThat(drift.getReason()).isEqualTo(Reason.DRIFT);
        assertThat(drift.getState()).isEqualTo(UpdateState.ACTIVE);
        assertThat(drift.getLogTail()).isEqualTo("1.0.0 running\nfatal: lost the DCC command station");

        runtime.remove(container); // removed by hand: no log left to read
        engine.tick();
        assertThat(last().getReason()).isEqualTo(Reason.DRIFT);
        assertThat(last().getLogTail()).isEmpty();
        AppRecord record = store.loadApp("web").orElseThrow();
        assertThat(record.logTail()).as("a drift repair does not change the app's record").isEmpty();
    }
}
