package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.proto.rules.TrustMark;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

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
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 20, row 10: a full disk is not the release's fault. A device running 1.0.0 gets the activation of 2.0.0 (sequence
 * 2) while its disk is full, at one of the points below; it reports FAILED DISK_FULL with 1.0.0 still running and changes
 * nothing else; while the disk stays full its ticks look at the free space with a growing wait (no report, no engine
 * call, no download); once space returns it goes on with the same sequence by itself and ends ACTIVE 2.0.0, switched
 * once. The loop guard allows one failed attempt only: a full disk that counted as an attempt would end
 * TOO_MANY_ATTEMPTS. Free space and the boot's monotonic clock are values the test sets; the disk is a fake: saves to
 * the real {@link FileStateStore} fail with ENOSPC's message while "full", and archives need free space to be fetched.
 */
class DiskFullRetryTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    private final AtomicBoolean storeFull = new AtomicBoolean();
    /** Usable bytes on the device's disk; an archive needs its size (less what a partial download holds) + RESERVE. */
    private final AtomicLong usable = new AtomicLong(1L << 30);
    private FillableStore store;
    private SpaceBoundArtifacts artifacts;

    private static final long RESERVE = 1000;

    /** Where the disk is full when the activation of 2.0.0 comes. */
    enum Point {
        /** Bytes flow, then the disk fills: the partial archive stays for the retry to resume. */
        MID_DOWNLOAD,
        /** The archive does not fit before a byte is fetched. */
        BEFORE_DOWNLOAD,
        /** Even the desired state's trust record cannot be saved: the state is not taken yet. */
        ON_ARRIVAL,
        /** The trust record fits, the app's DOWNLOADING record does not. */
        APP_RECORD
    }

    static Stream<Arguments> points() {
        return Stream.of(
                Arguments.of(Point.MID_DOWNLOAD, List.of(DOWNLOADING, FAILED), "stopped after 40 of 100 bytes"),
                Arguments.of(Point.BEFORE_DOWNLOAD, List.of(DOWNLOADING, FAILED), "need 100 bytes"),
                Arguments.of(Point.ON_ARRIVAL, List.of(FAILED), "could not save the desired state's trust record"),
                Arguments.of(Point.APP_RECORD, List.of(FAILED), "could not save the update of 2.0.0"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("points")
    void aFullDiskIsReportedAndTheSameUpdateGoesOnByItselfOnceSpaceReturns(Point point, List<UpdateState> whileFull,
                                                                              String says) {
        UpdateEngine engine = engine();
        send(engine, activate(1, "1.0.0"));
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        TrustMark markBefore = store.loadTrust();
        AppRecord recordBefore = store.loadApp("web").orElseThrow();

        fill(point);
        send(engine, activate(2, "2.0.0"));
        assertThat(statesOf(2)).as("reports while the disk is full").isEqualTo(whileFull);
        StatusEvent failed = events.get(events.size() - 1);
        assertThat(failed.getReason()).isEqualTo(Reason.DISK_FULL);
        assertThat(failed.getMessage()).contains(says);
        assertThat(failed.getRunningVersion()).isEqualTo("1.0.0");
        assertThat(runtime.runningVersions()).containsExactly("1.0.0");
        if (point == Point.ON_ARRIVAL) {
            assertThat(store.loadTrust()).as("nothing saved: the state is not taken").isEqualTo(markBefore);
            assertThat(store.loadApp("web")).contains(recordBefore);
        }
        List<String> engineCalls = List.copyOf(runtime.calls);
        int fetches = artifacts.fetches.size();
        int reports = events.size();

        // still full: ticks before the first wait, at it, and within the doubled wait after it do nothing to be seen
        engine.tick();
        advance(DiskFullRetries.FIRST_WAIT);
        engine.tick();
        advance(DiskFullRetries.FIRST_WAIT.multipliedBy(2).minusMillis(1));
        engine.tick();
        assertThat(events).as("no report while the disk stays full").hasSize(reports);
        assertThat(artifacts.fetches).as("no download while the disk stays full").hasSize(fetches);
        assertThat(runtime.calls).isEqualTo(engineCalls);

        // space returns: the next look after the wait goes on with sequence 2, by itself
        free();
        engine.tick();
        assertThat(statesOf(2)).as("not before its wait is over").isEqualTo(whileFull);
        advance(Duration.ofMillis(1));
        engine.tick();
        assertThat(statesOf(2)).as("reports of sequence 2").isEqualTo(concat(whileFull, List.of(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE)));
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        assertThat(runtime.calls.stream().filter(c -> c.startsWith("create")).count()).as("switched once").isEqualTo(2);
        if (point == Point.MID_DOWNLOAD) {
            assertThat(artifacts.resumedFrom).as("the retry resumed the partial archive").containsExactly(40L);
        }
        // nothing waits any more: later ticks change nothing
        int done = events.size();
        advance(DiskFullRetries.LONGEST_WAIT);
        engine.tick();
        assertThat(events).hasSize(done);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("points")
    void aNewerDesiredStateTakesThePlaceOfTheOneWaitingForSpace(Point point, List<UpdateState> whileFull, String says) {
        UpdateEngine engine = engine();
        send(engine, activate(1, "1.0.0"));
        fill(point);
        send(engine, activate(2, "2.0.0"));
        assertThat(statesOf(2)).isEqualTo(whileFull);
        free();
        send(engine, activate(3, "3.0.0")); // the operator deployed something else meanwhile
        assertThat(statesOf(3)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        advance(DiskFullRetries.LONGEST_WAIT);
        engine.tick();
        assertThat(statesOf(2)).as("2.0.0 is not tried again").isEqualTo(whileFull);
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");
    }

    @org.junit.jupiter.api.Test
    void aDaemonRestartedWhileTheDiskWasFullTriesTheSavedUpdateAgain() {
        UpdateEngine engine = engine();
        send(engine, activate(1, "1.0.0"));
        fill(Point.BEFORE_DOWNLOAD);
        send(engine, activate(2, "2.0.0"));
        assertThat(store.loadApp("web").orElseThrow().reason()).isEqualTo(Reason.DISK_FULL);

        UpdateEngine restarted = engine(); // same data directory: the saved FAILED DISK_FULL record
        restarted.recover();
        free();
        advance(DiskFullRetries.FIRST_WAIT);
        restarted.tick();
        assertThat(statesOf(2)).endsWith(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
    }

    @org.junit.jupiter.api.Test
    void theWaitDoublesUpToFiveMinutes() {
        assertThat(Stream.of(0, 1, 2, 5, 6, 30).map(DiskFullRetries::wait).toList()).containsExactly(Duration.ofSeconds(5),
                Duration.ofSeconds(10), Duration.ofSeconds(20), Duration.ofSeconds(160), Duration.ofMinutes(5), Duration.ofMinutes(5));
    }

    // --- set-up

    private UpdateEngine engine() {
        store = new FillableStore(new FileStateStore(dir.resolve("state")), storeFull);
        if (artifacts == null) {
            artifacts = new SpaceBoundArtifacts();
        }
        DesiredStateVerifier verifier = Fixtures.verifier(store, key);
        // one failed attempt allowed: a full disk that counted as one would end TOO_MANY_ATTEMPTS
        return new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, runtime, (containerId, check) -> { }, events::add,
                () -> NOW, new UpdateEngine.Policy(1, null, Clock.systemUTC()), Fixtures.boot("boot-1", nanos::get));
    }

    private void fill(Point point) {
        switch (point) {
            case MID_DOWNLOAD -> artifacts.fillAfter = 40;
            case BEFORE_DOWNLOAD -> usable.set(RESERVE + 99);
            case ON_ARRIVAL -> storeFull.set(true);
            case APP_RECORD -> { // the few bytes of the trust record fit, nothing more
                store.fullFor = "web";
                usable.set(RESERVE + 99);
            }
        }
    }

    private void free() {
        storeFull.set(false);
        store.fullFor = null;
        usable.set(1L << 30);
    }

    private void send(UpdateEngine engine, dev.turnout.proto.DesiredState state) {
        engine.onDesiredState(key.seal(state).toByteArray());
    }

    private void advance(Duration d) {
        nanos.addAndGet(d.toNanos());
    }

    private List<UpdateState> statesOf(long sequence) {
        return events.stream().filter(e -> e.getSequence() == sequence).map(StatusEvent::getState).toList();
    }

    private static List<UpdateState> concat(List<UpdateState> a, List<UpdateState> b) {
        List<UpdateState> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** The real file store on a fake disk: while {@code full} (or for {@link #fullFor}'s record) every save fails as ENOSPC does. */
    private static final class FillableStore extends ForwardingStateStore {
        private final AtomicBoolean full;
        /** An app whose record cannot be saved (the trust record still fits), until cleared. */
        String fullFor;

        FillableStore(FileStateStore files, AtomicBoolean full) {
            super(files);
            this.full = full;
        }

        private void refuseIfFull(boolean appRecord) {
            if (full.get() || appRecord && fullFor != null) {
                throw new UncheckedIOException(new java.io.IOException("No space left on device"));
            }
        }

        @Override
        public void saveTrust(TrustMark mark) {
            refuseIfFull(false);
            super.saveTrust(mark);
        }

        @Override
        public void saveApp(AppRecord record) {
            refuseIfFull(true);
            super.saveApp(record);
        }

        @Override
        public void saveRotatedKeys(List<byte[]> rawKeys) {
            refuseIfFull(false);
            super.saveRotatedKeys(rawKeys);
        }
    }

    /**
     * Archives (the fixtures' 100 bytes) that need free space: a fetch refused when the rest of the archive and
     * {@link #RESERVE} do not fit ({@code need ...}, as the cache says before a byte is written), or stopped by the disk
     * filling after {@link #fillAfter} bytes (the partial kept, as the cache keeps its {@code .part}).
     */
    private final class SpaceBoundArtifacts implements ArtifactSource {
        final List<String> fetches = new ArrayList<>();
        final List<Long> resumedFrom = new ArrayList<>();
        long fillAfter = -1;
        long partial;

        @Override
        public boolean isCached(ImageArtifact artifact) {
            return false;
        }

        @Override
        public boolean hasRoomFor(ImageArtifact artifact) {
            return usable.get() >= artifact.getSize() - partial + RESERVE;
        }

        @Override
        public Path fetch(ImageArtifact artifact) throws UpdateFailure {
            String version = Fixtures.version(artifact);
            fetches.add(version);
            if (!hasRoomFor(artifact)) {
                throw new UpdateFailure(Reason.DISK_FULL, "need " + (artifact.getSize() - partial) + " bytes plus " + RESERVE
                        + " in reserve, " + usable.get() + " usable");
            }
            if (fillAfter >= 0) {
                partial = fillAfter;
                fillAfter = -1;
                usable.set(0);
                storeFull.set(true); // the FAILED record cannot be saved either
                throw new UpdateFailure(Reason.DISK_FULL, "the device's disk is full: the download stopped after " + partial
                        + " of " + artifact.getSize() + " bytes (No space left on device)");
            }
            if (partial > 0) {
                resumedFrom.add(partial);
                partial = 0;
            }
            return dir.resolve(version + ".tar");
        }

        @Override
        public void retainOnly(Collection<String> keepDigests) {
        }
    }
}
