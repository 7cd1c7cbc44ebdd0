package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.EngineImage;
import dev.turnout.edge.domain.ManagedContainer;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.ContainerRuntime;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.port.HostBoot;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.APPLYING;
import static dev.turnout.proto.UpdateState.DOWNLOADING;
import static dev.turnout.proto.UpdateState.FAILED;
import static dev.turnout.proto.UpdateState.ROLLED_BACK;
import static dev.turnout.proto.UpdateState.ROLLING_BACK;
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Mender-style table: 1.0.0 runs, 2.0.0 is activated, and a fault is injected at one step of the update. A
 * <b>crash</b> (the daemon process dies: nothing after that point runs, containers keep their state) is followed by a
 * restart and {@link UpdateEngine#recover()} on the same boot, or, for a <b>power loss</b>, after a reboot (another
 * boot id; every container stopped, none has a restart policy); an <b>error</b> is an engine failure the daemon
 * survives. Each row asserts the exact states reported (after the restart, for a crash), which version runs, and that
 * exactly one container of the app is left. {@link RestartRecoveryTest} restarts after every state a record is saved in.
 */
class FaultInjectionTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime fake = new FakeRuntime();
    private final Map<String, Integer> calls = new HashMap<>();
    private final List<StatusEvent> events = new ArrayList<>();
    private List<Fault> faults = List.of();
    private String bootId = "boot-1";
    private boolean armed;

    /** TIMEOUT: the call hung until the client's response timeout, which the runtime reports as a transient failure. */
    enum Kind { CRASH_BEFORE, CRASH_AFTER, ERROR, TIMEOUT, CLOSING }

    /**
     * A fault at a step after the update started: {@code "start"} is its first call, {@code "start#2"} the second. An
     * ERROR fails the step with {@code reason}.
     */
    record Fault(String step, Kind kind, Reason reason) {

        Fault(String step, Kind kind) {
            this(step, kind, Reason.ENGINE_ERROR);
        }
    }

    record Row(String name, List<Fault> faults, List<UpdateState> states, Reason lastReason, String running, boolean reboot) {

        /** The daemon alone restarts after a crash. */
        Row(String name, List<Fault> faults, List<UpdateState> states, Reason lastReason, String running) {
            this(name, faults, states, lastReason, running, false);
        }

        /** The host reboots after the crash. */
        Row afterPowerLoss() {
            return new Row(name, faults, states, lastReason, running, true);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** The process dies here. */
    static final class SimulatedCrash extends Error {
        private static final long serialVersionUID = 1L;

        SimulatedCrash(String step) {
            super("the daemon died at " + step);
        }
    }

    private static Fault crash(String step) {
        return new Fault(step, Kind.CRASH_BEFORE);
    }

    private static Fault crashAfter(String step) {
        return new Fault(step, Kind.CRASH_AFTER);
    }

    private static Fault error(String step) {
        return new Fault(step, Kind.ERROR);
    }

    /** The step fails for this reason: the health check finding a resource limit exceeded, say. */
    private static Fault failure(String step, Reason reason) {
        return new Fault(step, Kind.ERROR, reason);
    }

    private static final List<UpdateState> ROLLED = List.of(ROLLING_BACK, ROLLED_BACK);
    /** The new container kept running (or, after a reboot, is started again) and is checked. */
    private static final List<UpdateState> CHECKED = List.of(VERIFYING, ACTIVE);

    static Stream<Row> rows() {
        List<UpdateState> tillApplying = List.of(DOWNLOADING, STAGED, APPLYING);
        return Stream.of(
                // crashes: states reported after the restart
                new Row("crash while downloading", List.of(crash("fetch")),
                        List.of(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE), Reason.REASON_UNSPECIFIED, "2.0.0"),
                // the image is loaded while staging: a crash there changed nothing yet, the restart carries on
                new Row("crash reading the archive's image id", List.of(crash("checkArchive")),
                        List.of(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE), Reason.REASON_UNSPECIFIED, "2.0.0"),
                new Row("crash during docker load", List.of(crash("loadImage")),
                        List.of(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE), Reason.REASON_UNSPECIFIED, "2.0.0"),
                new Row("crash right after docker create (container not yet recorded)", List.of(crashAfter("create")), ROLLED,
                        Reason.INTERRUPTED, "1.0.0"),
                new Row("crash before stopping the old container", List.of(crash("stop")), ROLLED, Reason.INTERRUPTED, "1.0.0"),
                new Row("crash after stopping the old container", List.of(crashAfter("stop")), ROLLED, Reason.INTERRUPTED, "1.0.0"),
                new Row("crash right after the new container started", List.of(crashAfter("start")), CHECKED, Reason.REASON_UNSPECIFIED,
                        "2.0.0"),
                new Row("crash during the health check", List.of(crash("verify")), CHECKED, Reason.REASON_UNSPECIFIED, "2.0.0"),
                new Row("crash while rolling back", List.of(error("verify"), crash("start#2")), List.of(ROLLED_BACK),
                        Reason.ENGINE_ERROR, "1.0.0"),
                new Row("crash removing the old container after ACTIVE", List.of(crash("remove")), List.of(), Reason.REASON_UNSPECIFIED,
                        "2.0.0"),
                // power losses: after the reboot a new container that was created is started and judged afresh
                new Row("power lost right after docker create (container not yet recorded)", List.of(crashAfter("create")), ROLLED,
                        Reason.INTERRUPTED, "1.0.0").afterPowerLoss(),
                new Row("power lost before stopping the old container", List.of(crash("stop")), CHECKED, Reason.REASON_UNSPECIFIED, "2.0.0")
                        .afterPowerLoss(),
                new Row("power lost right after the new container started", List.of(crashAfter("start")), CHECKED, Reason.REASON_UNSPECIFIED,
                        "2.0.0").afterPowerLoss(),
                new Row("power lost during the health check", List.of(crash("verify")), CHECKED, Reason.REASON_UNSPECIFIED, "2.0.0")
                        .afterPowerLoss(),
                new Row("power lost while rolling back", List.of(error("verify"), crash("start#2")), List.of(ROLLED_BACK), Reason.ENGINE_ERROR,
                        "1.0.0").afterPowerLoss(),
                // errors: every state reported for sequence 2
                new Row("download error", List.of(error("fetch")), List.of(DOWNLOADING, FAILED), Reason.ENGINE_ERROR, "1.0.0"),
                new Row("docker load error", List.of(error("loadImage")), List.of(DOWNLOADING, FAILED), Reason.ENGINE_ERROR, "1.0.0"),
                // the old container stops while the new one is created: a failed create starts it again
                new Row("docker create error", List.of(error("create")), concat(tillApplying, ROLLED), Reason.ENGINE_ERROR, "1.0.0"),
                new Row("error stopping the old container", List.of(error("stop")), concat(tillApplying, ROLLED), Reason.CONTAINER_START_FAILED,
                        "1.0.0"),
                new Row("the new container does not start", List.of(error("start")), concat(tillApplying, ROLLED),
                        Reason.CONTAINER_START_FAILED, "1.0.0"),
                new Row("health check fails", List.of(error("verify")), concat(tillApplying, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK)),
                        Reason.ENGINE_ERROR, "1.0.0"),
                // resource limits exceeded during the check and soak: the same rollback, with the limit's reason
                new Row("memory above its limit during the soak", List.of(failure("verify", Reason.MEMORY_LIMIT)),
                        concat(tillApplying, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK)), Reason.MEMORY_LIMIT, "1.0.0"),
                new Row("CPU above its limit for too long during the soak", List.of(failure("verify", Reason.CPU_LIMIT)),
                        concat(tillApplying, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK)), Reason.CPU_LIMIT, "1.0.0"),
                new Row("disk fuller than its limit during the soak", List.of(failure("verify", Reason.DISK_LIMIT)),
                        concat(tillApplying, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK)), Reason.DISK_LIMIT, "1.0.0"),
                new Row("the kernel OOM-killed the new container", List.of(failure("verify", Reason.OOM_KILLED)),
                        concat(tillApplying, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK)), Reason.OOM_KILLED, "1.0.0"),
                new Row("more restarts than its limit during the soak", List.of(failure("verify", Reason.CRASH_LOOP)),
                        concat(tillApplying, List.of(VERIFYING, ROLLING_BACK, ROLLED_BACK)), Reason.CRASH_LOOP, "1.0.0"),
                // hangs: every engine call is bounded by the client's response timeout; a timed-out load or create is retried
                new Row("docker load hangs once, then works", List.of(new Fault("loadImage", Kind.TIMEOUT)),
                        List.of(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE), Reason.REASON_UNSPECIFIED, "2.0.0"),
                new Row("docker load hangs every time", List.of(new Fault("loadImage", Kind.TIMEOUT), new Fault("loadImage#2", Kind.TIMEOUT),
                        new Fault("loadImage#3", Kind.TIMEOUT)), List.of(DOWNLOADING, FAILED), Reason.ENGINE_ERROR, "1.0.0"),
                new Row("error removing the old container after ACTIVE", List.of(error("remove")),
                        List.of(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE), Reason.REASON_UNSPECIFIED, "2.0.0")
        );
    }

    private static List<UpdateState> concat(List<UpdateState> a, List<UpdateState> b) {
        List<UpdateState> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void endsWithOneContainerOfTheOldOrTheNewVersionAndSaysWhich(Row row) {
        newEngine().onDesiredState(key.seal(activate(1, "1.0.0")).toByteArray());
        assertThat(fake.runningVersions()).containsExactly("1.0.0");
        events.clear();
        faults = row.faults();
        armed = true;
        boolean crashes = row.faults().stream().anyMatch(f -> f.kind() == Kind.CRASH_BEFORE || f.kind() == Kind.CRASH_AFTER);

        if (crashes) {
            assertThatThrownBy(() -> newEngine().onDesiredState(key.seal(activate(2, "2.0.0")).toByteArray()))
                    .isInstanceOf(SimulatedCrash.class);
            // the old container's stop runs on a thread of its own: what the dead process had asked of the engine is done
            await().atMost(Duration.ofSeconds(5)).pollDelay(Duration.ZERO).until(() -> Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(t -> t.getName().equals("edge-stop-old")));
            if (row.reboot()) {
                bootId = "boot-2";
                fake.reboot(box -> false);
            }
            events.clear();
            UpdateEngine restarted = newEngine();
            restarted.recover();
            restarted.onDesiredState(key.seal(activate(2, "2.0.0")).toByteArray()); // the broker's retained state again
        } else {
            newEngine().onDesiredState(key.seal(activate(2, "2.0.0")).toByteArray());
        }

        assertThat(events).extracting(StatusEvent::getState).as("reported states").containsExactlyElementsOf(row.states());
        AppRecord record = new FileStateStore(dir.resolve("state")).loadApp("web").orElseThrow();
        if (!events.isEmpty()) {
            StatusEvent last = events.get(events.size() - 1);
            assertThat(last.getReason()).isEqualTo(row.lastReason());
            assertThat(last.getRunningVersion()).as("the last report says what runs").isEqualTo(row.running());
        }
        assertThat(record.runningVersion()).isEqualTo(row.running());
        assertThat(Transitions.isResting(record.state())).isTrue();
        assertThat(fake.runningVersions()).as("running containers").containsExactly(row.running());
        // after the next start at the latest, no stray container is left
        newEngine().recover();
        assertThat(fake.containers).as("containers of the app").hasSize(1);
    }

    @org.junit.jupiter.api.Test
    void theDaemonShutDownWhileTheNewContainerIsCreatedLeavesTheOldVersionRunningAndTheNextStartRollsBack() {
        newEngine().onDesiredState(key.seal(activate(1, "1.0.0")).toByteArray());
        events.clear();
        faults = List.of(new Fault("create", Kind.CLOSING));
        armed = true;
        newEngine().onDesiredState(key.seal(activate(2, "2.0.0")).toByteArray());
        assertThat(events).extracting(StatusEvent::getState).containsExactly(DOWNLOADING, STAGED, APPLYING);
        assertThat(fake.runningVersions()).as("stopped alongside the create, started again on the way down").containsExactly("1.0.0");

        events.clear();
        armed = false;
        newEngine().recover();
        assertThat(events).extracting(StatusEvent::getState).containsExactly(ROLLING_BACK, ROLLED_BACK);
        assertThat(events.get(1).getReason()).isEqualTo(Reason.INTERRUPTED);
        assertThat(fake.runningVersions()).containsExactly("1.0.0");
    }

    private UpdateEngine newEngine() {
        FileStateStore store = new FileStateStore(dir.resolve("state"));
        ArtifactSource artifacts = new ArtifactSource() {
            @Override
            public boolean isCached(ImageArtifact artifact) {
                return true;
            }

            @Override
            public Path fetch(ImageArtifact artifact) throws UpdateFailure {
                inject("fetch", null);
                return dir.resolve(Fixtures.version(artifact) + ".tar");
            }

            @Override
            public void retainOnly(Collection<String> keepDigests) {
            }
        };
        HealthVerifier health = (containerId, check) -> inject("verify", null);
        DesiredStateVerifier verifier = Fixtures.verifier(store, key);
        HostBoot host = Fixtures.boot(bootId, System::nanoTime);
        return new UpdateEngine(DEVICE, PLATFORM, verifier, store, artifacts, new Injecting(), health, events::add, () -> NOW,
                new UpdateEngine.Policy(3, null, java.time.Clock.systemUTC(), Duration.ofMillis(1)), host);
    }

    /** Counts the call; runs {@code action} (may be null) unless a fault says otherwise. */
    private synchronized <T> T inject(String step, Step<T> action) throws UpdateFailure {
        if (!armed) {
            return action == null ? null : action.run();
        }
        int n = calls.merge(step, 1, Integer::sum);
        Optional<Fault> fault = faults.stream().filter(f -> f.step().equals(step + "#" + n) || (n == 1 && f.step().equals(step)))
                .findFirst();
        if (fault.isEmpty()) {
            return action == null ? null : action.run();
        }
        switch (fault.get().kind()) {
            case CRASH_BEFORE -> throw new SimulatedCrash(step);
            case ERROR -> throw new UpdateFailure(fault.get().reason(), "injected " + fault.get().reason() + " at " + step);
            case TIMEOUT -> throw new UpdateFailure(Reason.ENGINE_ERROR, "no answer from the engine at " + step + " (timed out)", true, null);
            case CLOSING -> throw new UpdateFailure(Reason.INTERRUPTED, "the daemon is shutting down");
            default -> {
                T result = action == null ? null : action.run();
                throw new SimulatedCrash(step + " (after it happened)");
            }
        }
    }

    @FunctionalInterface
    private interface Step<T> {
        T run() throws UpdateFailure;
    }

    /** The fake engine with the fault hook in front of every step the update takes. */
    private final class Injecting implements ContainerRuntime {
        @Override
        public void checkArchive(Path archive, ImageArtifact signed) throws UpdateFailure {
            inject("checkArchive", () -> {
                fake.checkArchive(archive, signed);
                return null;
            });
        }

        @Override
        public void loadImage(Path archive) throws UpdateFailure {
            inject("loadImage", () -> {
                fake.loadImage(archive);
                return null;
            });
        }

        @Override
        public Optional<EngineImage> inspectImage(String idOrRef) {
            return fake.inspectImage(idOrRef);
        }

        @Override
        public String create(String name, String image, ContainerSpec spec, Map<String, String> labels) throws UpdateFailure {
            return inject("create", () -> fake.create(name, image, spec, labels));
        }

        @Override
        public void start(String containerId) throws UpdateFailure {
            inject("start", () -> {
                fake.start(containerId);
                return null;
            });
        }

        @Override
        public void stop(String containerId, Duration grace) throws UpdateFailure {
            inject("stop", () -> {
                fake.stop(containerId, grace);
                return null;
            });
        }

        @Override
        public void remove(String containerId) throws UpdateFailure {
            inject("remove", () -> {
                fake.remove(containerId);
                return null;
            });
        }

        @Override
        public void removeImage(String imageId) {
            fake.removeImage(imageId);
        }

        @Override
        public int exec(String containerId, List<String> command, Duration timeout) {
            return 0;
        }

        @Override
        public ContainerStatus status(String containerId) {
            return fake.status(containerId);
        }

        @Override
        public List<ManagedContainer> list(Map<String, String> labels) {
            return fake.list(labels);
        }

        @Override
        public String platform() {
            return PLATFORM;
        }
    }
}
