package dev.turnout.edge.engine;

import com.google.protobuf.ByteString;
import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.StackContainers;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.port.StateStore;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.ComposeApp;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.APPLYING;
import static dev.turnout.proto.UpdateState.DOWNLOADING;
import static dev.turnout.proto.UpdateState.ROLLED_BACK;
import static dev.turnout.proto.UpdateState.ROLLING_BACK;
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A Compose app of three services on the in-memory engine: {@code db} (healthcheck, named volume), {@code api}
 * (waits for db to be healthy) and {@code web} (waits for api). 1.0.0 runs; 2.0.0 changes api and web and leaves db
 * as it was.
 */
class StackUpdateTest {

    private static final String COMPOSE = """
            services:
              web:
                image: demo/web:%s
                depends_on: [api]
              api:
                image: demo/api:%s
                depends_on:
                  db:
                    condition: service_healthy
              db:
                image: demo/db:db1
                volumes: ["data:/data"]
                healthcheck:
                  test: ["CMD", "true"]
            volumes:
              data:
            """;

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final FakeRuntime fake = new FakeRuntime();
    private final List<StatusEvent> events = new ArrayList<>();
    /** "service@version" pairs whose check fails. */
    private final Set<String> failing = new HashSet<>();
    private UpdateState dieIn;
    private int dieAtNth;
    private int saves;

    static Release stack(String version, String tag) {
        Release.Builder release = Release.newBuilder().setApp("trains").setVersion(version)
                .setCompose(ComposeApp.newBuilder().setFileName("docker-compose.yml")
                        .setContent(ByteString.copyFromUtf8(COMPOSE.formatted("web" + tag, "api" + tag))));
        for (String ref : List.of("demo/web:web" + tag, "demo/api:api" + tag, "demo/db:db1")) {
            String imageTag = ref.substring(ref.indexOf(':') + 1);
            String hex = String.format("%064x", ref.hashCode() & 0xffffffffL);
            release.addImages(ImageArtifact.newBuilder().setPlatform(PLATFORM).setImageRef(ref).setArchiveDigest("sha256:" + hex)
                    .setSize(100).setUrl("/api/v1/artifacts/sha256:" + hex).setImageId("sha256:id-" + imageTag)
                    .addDiffIds("sha256:layer-" + imageTag));
        }
        return release.build();
    }

    private byte[] activate(long sequence, Release release) {
        return key.seal(DesiredState.newBuilder().setDeviceId(DEVICE).setSequence(sequence).setIssuedAtMs(NOW).setExpiresAtMs(NOW + 3_600_000)
                .addApps(AppDesired.newBuilder().setApp("trains").setRelease(release).setPhase(Phase.ACTIVATE).setRolloutId("r-1"))
                .build()).toByteArray();
    }

    /** Each service's running container's version, by service. */
    private Map<String, String> running() {
        Map<String, String> byService = new LinkedHashMap<>();
        fake.containers.values().stream().filter(FakeRuntime.Box::running).forEach(b ->
                byService.put(b.labels().get(StackSwitch.LABEL_SERVICE), b.labels().get(UpdateEngine.LABEL_VERSION)));
        return byService;
    }

    private static final Map<String, String> WHOLE_1 = Map.of("db", "1.0.0", "api", "1.0.0", "web", "1.0.0");
    /** db did not change in 2.0.0: its container of 1.0.0 is 2.0.0's too. */
    private static final Map<String, String> WHOLE_2 = Map.of("db", "1.0.0", "api", "2.0.0", "web", "2.0.0");

    @Test
    void servicesStartInDependencyOrderAndAnUnchangedServiceKeepsItsContainer() {
        UpdateEngine engine = newEngine();
        engine.onDesiredState(activate(1, stack("1.0.0", "1")));
        assertThat(fake.calls.stream().filter(c -> c.startsWith("start ")).toList()).containsExactly("start db", "start api", "start web");
        assertThat(fake.networks).containsExactly("trains_default");
        assertThat(fake.volumes).containsExactly("trains_data");
        assertThat(running()).isEqualTo(WHOLE_1);
        String db = StackContainers.parse(store().loadApp("trains").orElseThrow().containerId()).id("db");
        fake.calls.clear();

        engine.onDesiredState(activate(2, stack("2.0.0", "2")));
        AppRecord record = store().loadApp("trains").orElseThrow();
        assertThat(record.state()).isEqualTo(ACTIVE);
        assertThat(record.message()).isEqualTo("2 of 3 services started; unchanged, left running: db");
        assertThat(StackContainers.parse(record.containerId()).id("db")).as("db's container of 1.0.0").isEqualTo(db);
        assertThat(fake.calls.stream().filter(c -> c.startsWith("create ") || c.startsWith("start ") || c.startsWith("stop ")).toList())
                .as("new containers made first, old ones stopped dependents first, new ones started in order")
                .containsExactly("create api 2.0.0", "create web 2.0.0", "stop web", "stop api", "start api", "start web");
        assertThat(running()).isEqualTo(WHOLE_2);
        assertThat(fake.containers).as("1.0.0's api and web are removed once 2.0.0 is healthy").hasSize(3);
    }

    @Test
    void aFailingServiceBringsTheWholePreviousReleaseBackAndIsNamed() {
        UpdateEngine engine = newEngine();
        engine.onDesiredState(activate(1, stack("1.0.0", "1")));
        Set<String> before = new HashSet<>(fake.containers.keySet());
        failing.add("web@2.0.0");
        fake.printed.put("2.0.0", List.of("web 2.0.0 starting", "cannot reach the signal box on :8081"));
        events.clear();

        engine.onDesiredState(activate(2, stack("2.0.0", "2")));
        assertThat(events).extracting(StatusEvent::getState).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ROLLING_BACK, ROLLED_BACK);
        AppRecord record = store().loadApp("trains").orElseThrow();
        assertThat(record.reason()).isEqualTo(Reason.HEALTH_CHECK_FAILED);
        assertThat(record.message()).isEqualTo("service web: probe failed");
        assertThat(events.get(events.size() - 1).getMessage()).startsWith("service web: ");
        assertThat(events.get(events.size() - 1).getLogTail()).as("the failing service's last lines, read before it was removed")
                .isEqualTo("web 2.0.0 starting\ncannot reach the signal box on :8081");
        assertThat(running()).isEqualTo(WHOLE_1);
        assertThat(fake.containers.keySet()).as("1.0.0's containers, and only they").isEqualTo(before);
    }

    @Test
    void aDependencyThatTurnsUnhealthyStopsTheSwitchAndIsNamed() {
        UpdateEngine engine = newEngine();
        engine.onDesiredState(activate(1, stack("1.0.0", "1")));
        engine.onDesiredState(activate(2, stack("2.0.0", "2")));
        fake.unhealthyVersions.add("1.0.0"); // db (kept from 1.0.0) is unhealthy now: 3.0.0's api must not start
        String dbBefore = StackContainers.parse(store().loadApp("trains").orElseThrow().containerId()).id("db");
        events.clear();
        engine.onDesiredState(activate(3, stack("3.0.0", "3")));
        assertThat(events).filteredOn(e -> e.getState() == ROLLING_BACK).singleElement()
                .satisfies(e -> assertThat(e.getMessage()).startsWith("service db: its healthcheck fails"));
        AppRecord record = store().loadApp("trains").orElseThrow();
        assertThat(record.state()).isEqualTo(UpdateState.FAILED); // the rollback's own start waits for db as well
        assertThat(record.reason()).isEqualTo(Reason.ROLLBACK_FAILED);
        assertThat(record.message()).isEqualTo("rolling back to 2.0.0 failed: service db: its healthcheck fails (Docker reports it unhealthy)");
        assertThat(fake.containers.get(dbBefore).running()).isTrue();
    }

    @Test
    void aStoppedServiceIsStartedAgainAndReportedAsDrift() throws Exception {
        UpdateEngine engine = newEngine();
        engine.onDesiredState(activate(1, stack("1.0.0", "1")));
        String api = StackContainers.parse(store().loadApp("trains").orElseThrow().containerId()).id("api");
        fake.stop(api, Duration.ZERO);
        events.clear();
        engine.tick();
        assertThat(fake.containers.get(api).running()).isTrue();
        assertThat(events).singleElement().satisfies(e -> {
            assertThat(e.getReason()).isEqualTo(Reason.DRIFT);
            assertThat(e.getMessage()).isEqualTo("services of 1.0.0 started again: api (was exited)");
        });
    }

    @Test
    void aRemovedServiceIsRecreatedFromTheRunningReleaseSavedAndReportedAsDrift() throws Exception {
        UpdateEngine engine = newEngine();
        engine.onDesiredState(activate(1, stack("1.0.0", "1")));
        StackContainers before = StackContainers.parse(store().loadApp("trains").orElseThrow().containerId());
        String api = before.id("api");
        fake.stop(api, Duration.ZERO);
        fake.remove(api);
        events.clear();

        engine.tick();

        StackContainers after = StackContainers.parse(store().loadApp("trains").orElseThrow().containerId());
        assertThat(after.id("api")).as("a new container, saved in the app's record").isNotEqualTo(api);
        assertThat(fake.containers.get(after.id("api")).running()).isTrue();
        assertThat(after.id("web")).as("the others untouched").isEqualTo(before.id("web"));
        assertThat(after.id("db")).isEqualTo(before.id("db"));
        assertThat(events).singleElement().satisfies(e -> {
            assertThat(e.getReason()).isEqualTo(Reason.DRIFT);
            assertThat(e.getMessage()).isEqualTo("services of 1.0.0 started again: api (was removed: recreated)");
        });
        events.clear();
        engine.tick();
        assertThat(events).as("nothing more to repair").isEmpty();
    }

    @Test
    void aServiceCaughtInTheMiddleOfItsRemovalIsRecreatedAtTheNextCheckNotAfterTheBackOff() throws Exception {
        UpdateEngine engine = newEngine();
        engine.onDesiredState(activate(1, stack("1.0.0", "1")));
        String api = StackContainers.parse(store().loadApp("trains").orElseThrow().containerId()).id("api");
        fake.stop(api, Duration.ZERO);
        fake.beingRemoved.add(api); // `docker rm -f` under way: stopped, not gone yet
        events.clear();

        engine.tick(); // the start is refused: "marked for removal"; then the container is gone
        assertThat(fake.containers).doesNotContainKey(api);

        engine.tick(); // same instant: no back-off was charged for a repair that did not happen
        String recreated = StackContainers.parse(store().loadApp("trains").orElseThrow().containerId()).id("api");
        assertThat(recreated).isNotEqualTo(api);
        assertThat(fake.containers.get(recreated).running()).isTrue();
        assertThat(events).last().satisfies(e -> {
            assertThat(e.getReason()).isEqualTo(Reason.DRIFT);
            assertThat(e.getMessage()).isEqualTo("services of 1.0.0 started again: api (was removed: recreated)");
        });
    }

    @Test
    void aCycleIsRefusedBeforeAnythingIsDone() {
        Release cyclic = stack("1.0.0", "1").toBuilder().setCompose(ComposeApp.newBuilder().setFileName("docker-compose.yml")
                .setContent(ByteString.copyFromUtf8(COMPOSE.formatted("web1", "api1").replace("    image: demo/db:db1\n",
                        "    image: demo/db:db1\n    depends_on: [web]\n")))).build();
        newEngine().onDesiredState(activate(1, cyclic));
        assertThat(events).singleElement().satisfies(e -> {
            assertThat(e.getState()).isEqualTo(UpdateState.REJECTED);
            assertThat(e.getReason()).isEqualTo(Reason.MALFORMED);
            assertThat(e.getMessage()).contains("dependency cycle detected");
        });
        assertThat(fake.containers).isEmpty();
    }

    /** The daemon dies right after the {@code nth} save in {@code state}; {@code failingWeb}: 2.0.0's web fails its check. */
    record Crash(UpdateState state, int nth, boolean failingWeb, boolean reboot, Map<String, String> endsWith, UpdateState endState) {
        @Override
        public String toString() {
            return state + " #" + nth + (failingWeb ? " (web 2.0.0 unhealthy)" : "") + (reboot ? ", host rebooted" : ", daemon restarted");
        }
    }

    static Stream<Crash> crashes() {
        List<Crash> rows = new ArrayList<>();
        for (boolean reboot : List.of(false, true)) {
            rows.add(new Crash(DOWNLOADING, 1, false, reboot, WHOLE_2, ACTIVE));
            rows.add(new Crash(STAGED, 1, false, reboot, WHOLE_2, ACTIVE));
            rows.add(new Crash(APPLYING, 1, false, reboot, WHOLE_1, ROLLED_BACK)); // nothing created yet
            rows.add(new Crash(APPLYING, 2, false, reboot, WHOLE_1, ROLLED_BACK)); // db (kept) recorded
            rows.add(new Crash(APPLYING, 3, false, reboot, WHOLE_1, ROLLED_BACK)); // api created
            rows.add(new Crash(APPLYING, 4, false, reboot, WHOLE_1, ROLLED_BACK)); // web created, old ones not stopped yet
            rows.add(new Crash(VERIFYING, 1, false, reboot, WHOLE_1, ROLLED_BACK)); // 2.0.0 started, not judged: put 1.0.0 back
            rows.add(new Crash(ACTIVE, 1, false, reboot, WHOLE_2, ACTIVE)); // judged healthy; old containers not removed yet
            rows.add(new Crash(ROLLING_BACK, 1, true, reboot, WHOLE_1, ROLLED_BACK));
            rows.add(new Crash(ROLLING_BACK, 2, true, reboot, WHOLE_1, ROLLED_BACK));
            rows.add(new Crash(ROLLED_BACK, 1, true, reboot, WHOLE_1, ROLLED_BACK));
        }
        return rows.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("crashes")
    void aRestartAnywhereEndsWithOneWholeVersion(Crash crash) {
        newEngine().onDesiredState(activate(1, stack("1.0.0", "1")));
        if (crash.failingWeb()) {
            failing.add("web@2.0.0");
        }
        dieIn = crash.state();
        dieAtNth = crash.nth();
        byte[] update = activate(2, stack("2.0.0", "2"));
        assertThatThrownBy(() -> newEngine().onDesiredState(update)).isInstanceOf(RestartRecoveryTest.SimulatedDeath.class);
        dieIn = null;
        if (crash.reboot()) {
            fake.reboot(box -> false);
        }
        failing.clear();

        UpdateEngine restarted = newEngine();
        restarted.recover();
        restarted.onDesiredState(update); // retained: already acted on
        restarted.recover(); // the next start sweeps what the first left

        AppRecord record = store().loadApp("trains").orElseThrow();
        assertThat(record.state()).isEqualTo(crash.endState());
        assertThat(running()).as("every service of one version").isEqualTo(crash.endsWith());
        assertThat(fake.containers).as("no container of the other version is left").hasSize(3);
        assertThat(record.runningVersion()).isEqualTo(crash.endsWith() == WHOLE_1 ? "1.0.0" : "2.0.0");
    }

    private StateStore store() {
        return new FileStateStore(dir.resolve("state"));
    }

    private UpdateEngine newEngine() {
        StateStore disk = store();
        StateStore store = new ForwardingStateStore(disk) {
            @Override
            public void saveApp(AppRecord record) {
                super.saveApp(record);
                if (dieIn != null && record.state() == dieIn && ++saves == dieAtNth) {
                    throw new RestartRecoveryTest.SimulatedDeath(dieIn + " #" + dieAtNth);
                }
            }
        };
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
            }
        };
        HealthVerifier health = (containerId, check) -> {
            FakeRuntime.Box box = fake.containers.get(containerId);
            if (box == null || !box.running()) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "container is not running");
            }
            if (failing.contains(box.labels().get(StackSwitch.LABEL_SERVICE) + "@" + box.labels().get(UpdateEngine.LABEL_VERSION))) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "probe failed");
            }
        };
        UpdateEngine.Policy policy = new UpdateEngine.Policy(3, null, Clock.systemUTC(), Duration.ofMillis(1));
        return new UpdateEngine(DEVICE, PLATFORM, Fixtures.verifier(store, key), store, artifacts, fake, health, events::add, () -> NOW,
                policy, Fixtures.boot("boot-1", System::nanoTime));
    }
}
