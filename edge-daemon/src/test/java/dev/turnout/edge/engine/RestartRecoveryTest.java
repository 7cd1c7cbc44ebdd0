package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.domain.UpdateWindow;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.port.HostBoot;
import dev.turnout.edge.port.StateStore;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static dev.turnout.edge.engine.RestartRecoveryTest.Install.FIRST;
import static dev.turnout.edge.engine.RestartRecoveryTest.Install.UPDATE;
import static dev.turnout.edge.engine.RestartRecoveryTest.Restart.DAEMON;
import static dev.turnout.edge.engine.RestartRecoveryTest.Restart.REBOOT;
import static dev.turnout.edge.engine.RestartRecoveryTest.Twist.DOWNLOAD_FAILS_AFTER_RESTART;
import static dev.turnout.edge.engine.RestartRecoveryTest.Twist.NEW_CONTAINER_EXITED_WHILE_DOWN;
import static dev.turnout.edge.engine.RestartRecoveryTest.Twist.NONE;
import static dev.turnout.edge.engine.RestartRecoveryTest.Twist.RESTART_POLICY_ALWAYS;
import static dev.turnout.edge.engine.RestartRecoveryTest.Twist.UNHEALTHY_AFTER_RESTART;
import static dev.turnout.proto.Reason.DIGEST_MISMATCH;
import static dev.turnout.proto.Reason.HEALTH_CHECK_FAILED;
import static dev.turnout.proto.Reason.INTERRUPTED;
import static dev.turnout.proto.Reason.REASON_UNSPECIFIED;
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
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Mender-style table of restarts: 2.0.0 is activated (over a running 1.0.0, or as the app's first release) and the
 * daemon dies right after its record was saved in a given state: nothing after that save runs, not even its report.
 * Then either <b>only the daemon</b> restarts (same boot id: the containers kept their state and the monotonic clock
 * went on) or <b>the host rebooted</b> (another boot id, the monotonic clock starts again, containers without a restart
 * policy are stopped and Docker started those with one). Each row asserts the states reported after the restart, the
 * final state, reason and words, and which containers run (none, for a first install that failed). Every state an app
 * record is saved in appears; IDLE is never saved (the first save of an app is DOWNLOADING).
 */
class RestartRecoveryTest {

    @TempDir
    Path dir;

    /** What restarted. */
    enum Restart { DAEMON, REBOOT }

    /** UPDATE: 1.0.0 runs and 2.0.0 is activated; FIRST: 2.0.0 is the app's first release (no previous one). */
    enum Install { UPDATE, FIRST }

    /** How the update goes until the daemon dies. */
    enum Run { HEALTHY, UNHEALTHY, WINDOW_CLOSED, DOWNLOAD_FAILS, STAGE_ONLY }

    /** What else happens besides the restart. */
    enum Twist {
        NONE,
        /** the new container stopped by itself while no daemon watched */
        NEW_CONTAINER_EXITED_WHILE_DOWN,
        /** 2.0.0 fails the check that follows the restart */
        UNHEALTHY_AFTER_RESTART,
        /** every container has restart policy {@code always}: Docker starts them all at boot, the old one too */
        RESTART_POLICY_ALWAYS,
        /** the download that goes on after the restart fails */
        DOWNLOAD_FAILS_AFTER_RESTART
    }

    /** The daemon dies right after saving the {@code nth} record in {@code state} (counted from the activation of 2.0.0). */
    record SavePoint(String name, UpdateState state, int nth, Run run) {
        @Override
        public String toString() {
            return name;
        }
    }

    static final SavePoint SAVED_DOWNLOADING = new SavePoint("DOWNLOADING", DOWNLOADING, 1, Run.HEALTHY);
    static final SavePoint SAVED_STAGED = new SavePoint("STAGED (ACTIVATE, before the switch)", STAGED, 1, Run.HEALTHY);
    static final SavePoint SAVED_STAGED_ONLY = new SavePoint("STAGED (phase STAGE)", STAGED, 1, Run.STAGE_ONLY);
    static final SavePoint SAVED_WAITING = new SavePoint("WAITING_FOR_WINDOW", WAITING_FOR_WINDOW, 1, Run.WINDOW_CLOSED);
    static final SavePoint SAVED_APPLYING = new SavePoint("APPLYING (nothing done yet)", APPLYING, 1, Run.HEALTHY);
    static final SavePoint SAVED_APPLYING_CREATED = new SavePoint("APPLYING (new container created, old one stopped)", APPLYING, 2,
            Run.HEALTHY);
    static final SavePoint SAVED_VERIFYING = new SavePoint("VERIFYING", VERIFYING, 1, Run.HEALTHY);
    static final SavePoint SAVED_ACTIVE = new SavePoint("ACTIVE (old container not removed yet)", ACTIVE, 1, Run.HEALTHY);
    static final SavePoint SAVED_ROLLING_BACK = new SavePoint("ROLLING_BACK (new container still there)", ROLLING_BACK, 1, Run.UNHEALTHY);
    static final SavePoint SAVED_ROLLING_BACK_CLEARED = new SavePoint("ROLLING_BACK (new container removed)", ROLLING_BACK, 2,
            Run.UNHEALTHY);
    static final SavePoint SAVED_ROLLED_BACK = new SavePoint("ROLLED_BACK", ROLLED_BACK, 1, Run.UNHEALTHY);
    static final SavePoint SAVED_FAILED_CHECK = new SavePoint("FAILED (check failed)", FAILED, 1, Run.UNHEALTHY);
    static final SavePoint SAVED_FAILED_DOWNLOAD = new SavePoint("FAILED (download failed)", FAILED, 1, Run.DOWNLOAD_FAILS);

    record Row(SavePoint at, Restart restart, Install install, Twist twist, List<UpdateState> reports, UpdateState state,
               Reason reason, String says, List<String> running) {
        @Override
        public String toString() {
            return at + ", " + (restart == DAEMON ? "daemon restarted" : "host rebooted") + ", "
                    + (install == UPDATE ? "1.0.0 ran before" : "first install") + (twist == NONE ? "" : ", " + twist);
        }
    }

    private static Row row(SavePoint at, Restart restart, Install install, Twist twist, List<UpdateState> reports, UpdateState state,
                           Reason reason, String says, String... running) {
        return new Row(at, restart, install, twist, reports, state, reason, says, List.of(running));
    }

    private static final List<UpdateState> NOTHING = List.of();
    private static final List<UpdateState> WHOLE_UPDATE = List.of(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
    private static final List<UpdateState> CHECKED = List.of(VERIFYING, ACTIVE);
    private static final List<UpdateState> ROLLED = List.of(ROLLING_BACK, ROLLED_BACK);
    private static final List<UpdateState> GAVE_UP = List.of(ROLLING_BACK, FAILED);
    private static final String NOTHING_RUNS = "no previous release to go back to: no container of web is running";

    static Stream<Row> rows() {
        return Stream.of(
                // the download resumes and the update goes on, whatever restarted
                row(SAVED_DOWNLOADING, DAEMON, UPDATE, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_DOWNLOADING, REBOOT, UPDATE, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_DOWNLOADING, DAEMON, FIRST, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_DOWNLOADING, REBOOT, FIRST, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                // the running release is started again before the download goes on: it keeps running when that fails
                row(SAVED_DOWNLOADING, REBOOT, UPDATE, DOWNLOAD_FAILS_AFTER_RESTART, List.of(DOWNLOADING, FAILED), FAILED, DIGEST_MISMATCH,
                        "bad archive", "1.0.0"),

                // an ACTIVATE staged but not switched yet is switched; a STAGE stays staged
                row(SAVED_STAGED, DAEMON, UPDATE, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_STAGED, REBOOT, UPDATE, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_STAGED, DAEMON, FIRST, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_STAGED, REBOOT, FIRST, NONE, WHOLE_UPDATE, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_STAGED_ONLY, DAEMON, UPDATE, NONE, NOTHING, STAGED, REASON_UNSPECIFIED, "", "1.0.0"),
                row(SAVED_STAGED_ONLY, REBOOT, UPDATE, NONE, NOTHING, STAGED, REASON_UNSPECIFIED, "", "1.0.0"),
                row(SAVED_STAGED_ONLY, DAEMON, FIRST, NONE, NOTHING, STAGED, REASON_UNSPECIFIED, ""),
                row(SAVED_STAGED_ONLY, REBOOT, FIRST, NONE, NOTHING, STAGED, REASON_UNSPECIFIED, ""),

                // the window is still closed: the running release runs (started again after a reboot)
                row(SAVED_WAITING, DAEMON, UPDATE, NONE, NOTHING, WAITING_FOR_WINDOW, REASON_UNSPECIFIED, "update window 02:00-04:00", "1.0.0"),
                row(SAVED_WAITING, REBOOT, UPDATE, NONE, NOTHING, WAITING_FOR_WINDOW, REASON_UNSPECIFIED, "update window 02:00-04:00", "1.0.0"),
                row(SAVED_WAITING, DAEMON, FIRST, NONE, NOTHING, WAITING_FOR_WINDOW, REASON_UNSPECIFIED, "update window 02:00-04:00"),
                row(SAVED_WAITING, REBOOT, FIRST, NONE, NOTHING, WAITING_FOR_WINDOW, REASON_UNSPECIFIED, "update window 02:00-04:00"),

                // no new container yet: back to what ran, or nothing runs and the message says so
                row(SAVED_APPLYING, DAEMON, UPDATE, NONE, ROLLED, ROLLED_BACK, INTERRUPTED, "the daemon restarted during APPLYING", "1.0.0"),
                row(SAVED_APPLYING, REBOOT, UPDATE, NONE, ROLLED, ROLLED_BACK, INTERRUPTED, "the host restarted during APPLYING", "1.0.0"),
                row(SAVED_APPLYING, DAEMON, FIRST, NONE, GAVE_UP, FAILED, INTERRUPTED, "the daemon restarted during APPLYING; " + NOTHING_RUNS),
                row(SAVED_APPLYING, REBOOT, FIRST, NONE, GAVE_UP, FAILED, INTERRUPTED, "the host restarted during APPLYING; " + NOTHING_RUNS),

                // created, never started: on the same boot it is not running, so it is rolled back; after a reboot nothing
                // runs anyway and the new release is started and judged
                row(SAVED_APPLYING_CREATED, DAEMON, UPDATE, NONE, ROLLED, ROLLED_BACK, INTERRUPTED,
                        "the daemon restarted during APPLYING; the new container is exited, not running", "1.0.0"),
                row(SAVED_APPLYING_CREATED, REBOOT, UPDATE, NONE, CHECKED, ACTIVE, REASON_UNSPECIFIED,
                        "the host restarted during APPLYING; checking 2.0.0 afresh through the full soak", "2.0.0"),
                row(SAVED_APPLYING_CREATED, REBOOT, UPDATE, RESTART_POLICY_ALWAYS, CHECKED, ACTIVE, REASON_UNSPECIFIED,
                        "checking 2.0.0 afresh", "2.0.0"),
                row(SAVED_APPLYING_CREATED, DAEMON, FIRST, NONE, GAVE_UP, FAILED, INTERRUPTED,
                        "the daemon restarted during APPLYING; the new container is exited, not running; " + NOTHING_RUNS),
                row(SAVED_APPLYING_CREATED, REBOOT, FIRST, NONE, CHECKED, ACTIVE, REASON_UNSPECIFIED, "checking 2.0.0 afresh", "2.0.0"),

                // the check was under way: same boot resumes it, a reboot judges the release afresh
                row(SAVED_VERIFYING, DAEMON, UPDATE, NONE, CHECKED, ACTIVE, REASON_UNSPECIFIED,
                        "the daemon restarted during VERIFYING; the new container is running: resuming its check", "2.0.0"),
                row(SAVED_VERIFYING, DAEMON, FIRST, NONE, CHECKED, ACTIVE, REASON_UNSPECIFIED,
                        "the daemon restarted during VERIFYING; the new container is running: resuming its check", "2.0.0"),
                row(SAVED_VERIFYING, DAEMON, UPDATE, NEW_CONTAINER_EXITED_WHILE_DOWN, ROLLED, ROLLED_BACK, HEALTH_CHECK_FAILED,
                        "the daemon restarted during VERIFYING; the new container is exited, not running", "1.0.0"),
                row(SAVED_VERIFYING, DAEMON, FIRST, NEW_CONTAINER_EXITED_WHILE_DOWN, GAVE_UP, FAILED, HEALTH_CHECK_FAILED,
                        "the new container is exited, not running; " + NOTHING_RUNS),
                row(SAVED_VERIFYING, DAEMON, UPDATE, UNHEALTHY_AFTER_RESTART, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK), ROLLED_BACK,
                        HEALTH_CHECK_FAILED, "probe failed", "1.0.0"),
                row(SAVED_VERIFYING, DAEMON, FIRST, UNHEALTHY_AFTER_RESTART, List.of(VERIFYING, ROLLING_BACK, FAILED), FAILED,
                        HEALTH_CHECK_FAILED, "probe failed; " + NOTHING_RUNS),
                row(SAVED_VERIFYING, REBOOT, UPDATE, NONE, CHECKED, ACTIVE, REASON_UNSPECIFIED,
                        "the host restarted during VERIFYING; checking 2.0.0 afresh through the full soak", "2.0.0"),
                row(SAVED_VERIFYING, REBOOT, FIRST, NONE, CHECKED, ACTIVE, REASON_UNSPECIFIED,
                        "the host restarted during VERIFYING; checking 2.0.0 afresh through the full soak", "2.0.0"),
                row(SAVED_VERIFYING, REBOOT, UPDATE, RESTART_POLICY_ALWAYS, CHECKED, ACTIVE, REASON_UNSPECIFIED, "checking 2.0.0 afresh",
                        "2.0.0"),
                row(SAVED_VERIFYING, REBOOT, UPDATE, UNHEALTHY_AFTER_RESTART, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK), ROLLED_BACK,
                        HEALTH_CHECK_FAILED, "probe failed", "1.0.0"),
                row(SAVED_VERIFYING, REBOOT, FIRST, UNHEALTHY_AFTER_RESTART, List.of(VERIFYING, ROLLING_BACK, FAILED), FAILED,
                        HEALTH_CHECK_FAILED, "probe failed; " + NOTHING_RUNS),

                // done already: the old container (unknown to the record now) is removed, the new one runs
                row(SAVED_ACTIVE, DAEMON, UPDATE, NONE, NOTHING, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_ACTIVE, REBOOT, UPDATE, NONE, NOTHING, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_ACTIVE, DAEMON, FIRST, NONE, NOTHING, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),
                row(SAVED_ACTIVE, REBOOT, FIRST, NONE, NOTHING, ACTIVE, REASON_UNSPECIFIED, "", "2.0.0"),

                // the rollback is finished; without a previous release nothing runs and the message says so
                row(SAVED_ROLLING_BACK, DAEMON, UPDATE, NONE, List.of(ROLLED_BACK), ROLLED_BACK, HEALTH_CHECK_FAILED, "probe failed", "1.0.0"),
                row(SAVED_ROLLING_BACK, REBOOT, UPDATE, NONE, List.of(ROLLED_BACK), ROLLED_BACK, HEALTH_CHECK_FAILED, "probe failed", "1.0.0"),
                row(SAVED_ROLLING_BACK, DAEMON, FIRST, NONE, List.of(FAILED), FAILED, HEALTH_CHECK_FAILED, "probe failed; " + NOTHING_RUNS),
                row(SAVED_ROLLING_BACK, REBOOT, FIRST, NONE, List.of(FAILED), FAILED, HEALTH_CHECK_FAILED, "probe failed; " + NOTHING_RUNS),
                row(SAVED_ROLLING_BACK_CLEARED, DAEMON, UPDATE, NONE, List.of(ROLLED_BACK), ROLLED_BACK, HEALTH_CHECK_FAILED, "probe failed",
                        "1.0.0"),
                row(SAVED_ROLLING_BACK_CLEARED, REBOOT, UPDATE, NONE, List.of(ROLLED_BACK), ROLLED_BACK, HEALTH_CHECK_FAILED, "probe failed",
                        "1.0.0"),
                row(SAVED_ROLLING_BACK_CLEARED, DAEMON, FIRST, NONE, List.of(FAILED), FAILED, HEALTH_CHECK_FAILED,
                        "probe failed; " + NOTHING_RUNS),
                row(SAVED_ROLLING_BACK_CLEARED, REBOOT, FIRST, NONE, List.of(FAILED), FAILED, HEALTH_CHECK_FAILED,
                        "probe failed; " + NOTHING_RUNS),

                // resting: what ran keeps running (started again after a reboot); a failed first install leaves nothing
                row(SAVED_ROLLED_BACK, DAEMON, UPDATE, NONE, NOTHING, ROLLED_BACK, HEALTH_CHECK_FAILED, "probe failed", "1.0.0"),
                row(SAVED_ROLLED_BACK, REBOOT, UPDATE, NONE, NOTHING, ROLLED_BACK, HEALTH_CHECK_FAILED, "probe failed", "1.0.0"),
                row(SAVED_FAILED_CHECK, DAEMON, FIRST, NONE, NOTHING, FAILED, HEALTH_CHECK_FAILED, "probe failed; " + NOTHING_RUNS),
                row(SAVED_FAILED_CHECK, REBOOT, FIRST, NONE, NOTHING, FAILED, HEALTH_CHECK_FAILED, "probe failed; " + NOTHING_RUNS),
                row(SAVED_FAILED_DOWNLOAD, DAEMON, UPDATE, NONE, NOTHING, FAILED, DIGEST_MISMATCH, "bad archive", "1.0.0"),
                row(SAVED_FAILED_DOWNLOAD, REBOOT, UPDATE, NONE, NOTHING, FAILED, DIGEST_MISMATCH, "bad archive", "1.0.0"),
                row(SAVED_FAILED_DOWNLOAD, DAEMON, FIRST, NONE, NOTHING, FAILED, DIGEST_MISMATCH, "bad archive"),
                row(SAVED_FAILED_DOWNLOAD, REBOOT, FIRST, NONE, NOTHING, FAILED, DIGEST_MISMATCH, "bad archive")
        );
    }

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime fake = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    private final Set<String> unhealthy = new HashSet<>();
    private final List<String> checks = new ArrayList<>();
    private final AtomicLong monotonicNanos = new AtomicLong(Duration.ofMinutes(10).toNanos());
    private String bootId = "boot-1";
    private boolean windowClosed;
    private boolean downloadFails;
    private SavePoint dieAt;
    private int savesAtDeathState;

    /** The daemon process dies here. */
    static final class SimulatedDeath extends Error {
        private static final long serialVersionUID = 1L;

        SimulatedDeath(String where) {
            super("the daemon died right after saving " + where);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void endsWithTheRightReleaseRunningAndSaysWhatHappened(Row row) {
        long sequence = 1;
        if (row.install() == UPDATE) {
            newEngine().onDesiredState(key.seal(activate(sequence++, "1.0.0")).toByteArray());
            assertThat(fake.runningVersions()).containsExactly("1.0.0");
        }
        switch (row.at().run()) {
            case UNHEALTHY -> unhealthy.add("2.0.0");
            case WINDOW_CLOSED -> windowClosed = true;
            case DOWNLOAD_FAILS -> downloadFails = true;
            default -> {
                // the update would succeed
            }
        }
        dieAt = row.at();
        byte[] update = key.seal(row.at().run() == Run.STAGE_ONLY ? Fixtures.desired(sequence, "2.0.0", Phase.STAGE, false)
                : activate(sequence, "2.0.0")).toByteArray();
        assertThatThrownBy(() -> newEngine().onDesiredState(update)).isInstanceOf(SimulatedDeath.class);
        dieAt = null;
        // the old container's stop runs on a thread of its own: what the dead process had asked of the engine is done
        await().atMost(Duration.ofSeconds(5)).pollDelay(Duration.ZERO).until(() -> Thread.getAllStackTraces().keySet().stream()
                .noneMatch(t -> t.getName().equals("edge-stop-old")));
        String newBeforeDeath = store().loadApp("web").orElseThrow().newContainerId();

        // while no daemon runs
        if (row.twist() == NEW_CONTAINER_EXITED_WHILE_DOWN) {
            assertThat(newBeforeDeath).isNotEmpty();
            fake.stop(newBeforeDeath, Duration.ZERO);
        }
        monotonicNanos.addAndGet(Duration.ofMillis(1500).toNanos());
        if (row.restart() == REBOOT) {
            bootId = "boot-2";
            monotonicNanos.set(Duration.ofSeconds(20).toNanos()); // CLOCK_MONOTONIC starts again at boot
            fake.reboot(box -> row.twist() == RESTART_POLICY_ALWAYS);
        }
        unhealthy.clear();
        if (row.twist() == UNHEALTHY_AFTER_RESTART) {
            unhealthy.add("2.0.0");
        }
        downloadFails = row.twist() == DOWNLOAD_FAILS_AFTER_RESTART;
        events.clear();
        checks.clear();

        UpdateEngine restarted = newEngine();
        restarted.recover();
        restarted.onDesiredState(update); // the broker hands out the retained desired state again: already acted on

        assertThat(events).extracting(StatusEvent::getState).as("reported after the restart").containsExactlyElementsOf(row.reports());
        AppRecord record = store().loadApp("web").orElseThrow();
        assertThat(record.state()).isEqualTo(row.state());
        assertThat(record.reason()).isEqualTo(row.reason());
        String said = Stream.concat(events.stream().map(StatusEvent::getMessage), Stream.of(record.message())).collect(Collectors.joining(" | "));
        assertThat(said).as("what the device says").contains(row.says());
        assertThat(fake.runningVersions()).as("running containers").containsExactlyElementsOf(row.running());
        assertThat(record.runningVersion()).as("what the record says runs").isEqualTo(row.running().isEmpty() ? "" : row.running().get(0));
        if (!events.isEmpty()) {
            assertThat(events.get(events.size() - 1).getRunningVersion()).as("the last report says what runs").isEqualTo(record.runningVersion());
        }
        if (record.state() == ACTIVE && !newBeforeDeath.isEmpty()) {
            assertThat(record.containerId()).as("the new container the dead daemon started, not another one").isEqualTo(newBeforeDeath);
        }
        if (row.restart() == DAEMON && row.at() == SAVED_VERIFYING && row.twist() == NONE) {
            assertThat(checks).as("only the rest of the soak").containsExactly("resume " + newBeforeDeath + " after 1500 ms");
        }
        if (row.restart() == REBOOT && !row.reports().isEmpty() && row.reports().get(0) == VERIFYING) {
            assertThat(checks).as("the full soak").startsWith("verify " + newBeforeDeath);
        }
        // after the next start at the latest, only the container of what runs is left (none after a failed first install)
        newEngine().recover();
        assertThat(fake.containers).as("containers of the app").hasSize(row.running().size());
    }

    private StateStore store() {
        return new FileStateStore(dir.resolve("state"));
    }

    private UpdateEngine newEngine() {
        StateStore store = new DyingStore(store());
        ArtifactSource artifacts = new ArtifactSource() {
            @Override
            public boolean isCached(ImageArtifact artifact) {
                return true;
            }

            @Override
            public Path fetch(ImageArtifact artifact) throws UpdateFailure {
                if (downloadFails) {
                    throw new UpdateFailure(DIGEST_MISMATCH, "bad archive");
                }
                return dir.resolve(Fixtures.version(artifact) + ".tar");
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
                FakeRuntime.Box box = fake.containers.get(containerId);
                if (box == null || !box.running()) {
                    throw new UpdateFailure(HEALTH_CHECK_FAILED, "container is not running");
                }
                if (unhealthy.contains(box.labels().get(UpdateEngine.LABEL_VERSION))) {
                    throw new UpdateFailure(HEALTH_CHECK_FAILED, "probe failed");
                }
            }
        };
        HostBoot host = Fixtures.boot(bootId, monotonicNanos::get);
        UpdateEngine.Policy policy = windowClosed
                ? new UpdateEngine.Policy(3, UpdateWindow.parse("02:00-04:00"), Clock.fixed(Instant.parse("2026-11-23T10:00:00Z"), ZoneOffset.UTC),
                Duration.ofMillis(1))
                : new UpdateEngine.Policy(3, null, Clock.systemUTC(), Duration.ofMillis(1));
        DesiredStateVerifier verifier = Fixtures.verifier(store, key);
        return new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, fake, health, events::add, () -> NOW, policy, host);
    }

    /** The file store, with the daemon's death right after the save {@link #dieAt} names. */
    private final class DyingStore extends ForwardingStateStore {

        DyingStore(StateStore disk) {
            super(disk);
        }

        @Override
        public void saveApp(AppRecord record) {
            super.saveApp(record);
            if (dieAt != null && record.state() == dieAt.state() && ++savesAtDeathState == dieAt.nth()) {
                throw new SimulatedDeath(dieAt.toString());
            }
        }
    }
}
