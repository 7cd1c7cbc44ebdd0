package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 20's fault matrix, "device clock jumping a year forward and back": a device runs 2.0.0 after
 * sequence 10 (signed at NOW, valid for an hour), then its wall clock jumps a year (NTP synchronised
 * or not) and the activation of 3.0.0 (sequence 11, signed at NOW) arrives; then the clock returns
 * to NOW and the broker hands the same activation out again (it is retained).
 *
 * <p>Each row asserts what the device reports while its clock is off (REJECTED with the row's reason,
 * nothing saved, no engine call; or the update goes through), that the already applied sequence 10
 * handed out again changes nothing, and that once the clock is back the activation is applied
 * exactly once: 3.0.0 ACTIVE, one container, the same message a third time is no new update.
 */
class ClockJumpTest {

    private static final long YEAR = Duration.ofDays(365).toMillis();
    private static final SigningKey KEY = SigningKey.generate();

    @TempDir
    Path dir;

    private final FakeRuntime runtime = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final AtomicLong wallClock = new AtomicLong(NOW);
    private final AtomicBoolean clockSynced = new AtomicBoolean(true);
    private UpdateEngine engine;

    /** A row: where the clock jumps, whether NTP says it is right, and the refusal it causes (null: none). */
    record Row(String name, long offsetMs, boolean synced, Reason refusal) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Row> rows() {
        return Stream.of(
                // a synchronised clock a year ahead proves the state expired: refused, the running release stays
                new Row("a year forward, synchronised", YEAR, true, Reason.EXPIRED),
                // an unsynchronised clock cannot alone expire a state: not acted on, not refused for good
                new Row("a year forward, not synchronised", YEAR, false, Reason.CLOCK_UNTRUSTED),
                // a state issued "in the future" of the device's clock is valid: the update goes through
                new Row("a year back, synchronised", -YEAR, true, null),
                new Row("a year back, not synchronised", -YEAR, false, null),
                new Row("back to 1970 (no RTC after a reboot), not synchronised", -NOW, false, null));
    }

    static Stream<Row> refusingRows() {
        return rows().filter(r -> r.refusal() != null);
    }

    @BeforeEach
    void runVersionTwo() {
        FileStateStore store = new FileStateStore(dir.resolve("state"));
        ArtifactSource artifacts = new ArtifactSource() {
            @Override
            public boolean isCached(ImageArtifact artifact) {
                return true;
            }

            @Override
            public Path fetch(ImageArtifact artifact) throws UpdateFailure {
                return dir.resolve(Fixtures.version(artifact) + ".tar");
            }

            @Override
            public void retainOnly(Collection<String> keepDigests) {
            }
        };
        DesiredStateVerifier verifier = new DesiredStateVerifier(DEVICE, PLATFORM, new EnvelopeVerifier(List.of(KEY.publicKey())), store,
                wallClock::get, clockSynced::get, app -> store.loadApp(app).map(AppRecord::runningVersion).orElse(""));
        engine = new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, runtime, (id, check) -> { }, events::add, wallClock::get);
        engine.onDesiredState(seal(activate(10, "2.0.0")));
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        events.clear();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void theClockJumpsAndComesBackAndTheUpdateIsAppliedExactlyOnce(Row row) {
        wallClock.set(NOW + row.offsetMs());
        clockSynced.set(row.synced());
        Map<String, String> filesBefore = TrustRulesTest.snapshot(dir);
        List<String> callsBefore = List.copyOf(runtime.calls);

        // the state already applied, handed out again (a reconnect): nothing to do, whatever the clock says
        engine.onDesiredState(seal(activate(10, "2.0.0")));
        assertThat(runtime.calls).as("engine calls for the repeated sequence 10").isEqualTo(callsBefore);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
        assertThat(events).extracting(StatusEvent::getState).doesNotContain(UpdateState.REJECTED, UpdateState.APPLYING);
        events.clear();

        byte[] activation = seal(activate(11, "3.0.0"));
        engine.onDesiredState(activation);
        if (row.refusal() != null) {
            assertThat(events).extracting(StatusEvent::getState).containsExactly(UpdateState.REJECTED);
            assertThat(events.get(0).getReason()).isEqualTo(row.refusal());
            assertThat(events.get(0).getRunningVersion()).isEqualTo("2.0.0");
            assertThat(TrustRulesTest.snapshot(dir)).as("data directory while the clock is off").isEqualTo(filesBefore);
            assertThat(runtime.calls).as("engine calls while the clock is off").isEqualTo(callsBefore);
            assertThat(runtime.runningVersions()).containsExactly("2.0.0");
            events.clear();

            // the clock is right again; the broker hands the retained activation out again
            wallClock.set(NOW + 60_000);
            clockSynced.set(true);
            engine.onDesiredState(activation);
        }
        assertThat(events).extracting(StatusEvent::getState).endsWith(UpdateState.ACTIVE);
        assertThat(events.get(events.size() - 1).getRunningVersion()).isEqualTo("3.0.0");
        assertThat(events).extracting(StatusEvent::getSequence).containsOnly(11L);
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");
        assertThat(runtime.containers).as("containers of the app").hasSize(1);

        // back to the right time (if it was not yet), and the activation once more: applied already
        wallClock.set(NOW + 120_000);
        clockSynced.set(true);
        List<String> callsAfter = List.copyOf(runtime.calls);
        int eventsAfter = events.size();
        engine.onDesiredState(activation);
        assertThat(runtime.calls).as("engine calls for the repeated activation").isEqualTo(callsAfter);
        assertThat(events.subList(eventsAfter, events.size())).extracting(StatusEvent::getState)
                .doesNotContain(UpdateState.REJECTED, UpdateState.APPLYING, UpdateState.DOWNLOADING);
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");

        // the time floor was not dragged along by the jump: a state signed now is still taken
        engine.onDesiredState(seal(activate(12, "2.0.0").toBuilder().setApps(0, activate(12, "2.0.0").getApps(0).toBuilder()
                .setRollback(true)).build()));
        assertThat(events.get(events.size() - 1).getState()).isEqualTo(UpdateState.ACTIVE);
        assertThat(runtime.runningVersions()).containsExactly("2.0.0");
    }

    /**
     * On a running daemon nothing hands the refused activation out again when the clock is put right (the broker does
     * only when the device reconnects): the device judges it again by itself on its next tick once its wall clock moved
     * against the monotonic clock. While the clock stays off, ticks say and do nothing.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("refusingRows")
    void aStateRefusedForTheClockIsJudgedAgainByItselfOnceTheClockIsSet(Row row) {
        wallClock.set(NOW + row.offsetMs());
        clockSynced.set(row.synced());
        engine.onDesiredState(seal(activate(11, "3.0.0")));
        assertThat(events).extracting(StatusEvent::getState).containsExactly(UpdateState.REJECTED);
        List<String> callsBefore = List.copyOf(runtime.calls);
        engine.tick();
        engine.tick();
        assertThat(events).as("ticks while the clock is still off").hasSize(1);
        assertThat(runtime.calls).isEqualTo(callsBefore);

        wallClock.set(NOW + 60_000); // set right (NTP, or by hand); nothing is handed out again
        engine.tick();
        assertThat(events.subList(1, events.size())).extracting(StatusEvent::getState)
                .containsExactly(UpdateState.DOWNLOADING, UpdateState.STAGED, UpdateState.APPLYING, UpdateState.VERIFYING, UpdateState.ACTIVE);
        assertThat(events).extracting(StatusEvent::getSequence).containsOnly(11L);
        assertThat(runtime.runningVersions()).containsExactly("3.0.0");
        int applied = events.size();
        wallClock.set(NOW + row.offsetMs()); // and a later jump judges nothing again: it was taken
        engine.tick();
        assertThat(events).hasSize(applied);
    }

    private static byte[] seal(DesiredState state) {
        return KEY.seal(state).toByteArray();
    }
}
