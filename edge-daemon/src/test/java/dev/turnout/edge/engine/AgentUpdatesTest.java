package dev.turnout.edge.engine;

import dev.turnout.edge.agent.AgentHome;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.AgentArtifact;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.SigningKey;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.zip.GZIPOutputStream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.APPLYING;
import static dev.turnout.proto.UpdateState.DOWNLOADING;
import static dev.turnout.proto.UpdateState.FAILED;
import static dev.turnout.proto.UpdateState.REMOVED;
import static dev.turnout.proto.UpdateState.REMOVING;
import static dev.turnout.proto.UpdateState.ROLLED_BACK;
import static dev.turnout.proto.UpdateState.ROLLING_BACK;
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Updates of the daemon itself ({@link AgentUpdates}) with the real files of {@link AgentHome}: a process is an engine
 * and an {@link AgentHome} told by its "launcher" (the environment) which release it runs; a restart is a new pair.
 * What the launcher does between two processes (go back after a failed trial) is written here as the launcher writes it.
 */
class AgentUpdatesTest {

    private static final String APP = "turnout-edge";

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final List<StatusEvent> events = new ArrayList<>();
    private final AtomicInteger restarts = new AtomicInteger();
    private final AtomicInteger fetches = new AtomicInteger();
    private final List<String> discarded = new ArrayList<>();
    private FileStateStore store;
    private Path data;
    private Path distribution;
    private UpdateEngine engine;
    private AgentHome home;

    @BeforeEach
    void setUp() throws IOException {
        data = dir.resolve("data");
        store = new FileStateStore(data.resolve("state"));
        distribution = distribution(dir.resolve("edge.tar.gz"));
        start("", true);
    }

    /** A process of the daemon: {@code release} ("" built-in) as its launcher started it ({@code launched}: through a launcher). */
    private void start(String release, boolean launched) {
        Map<String, String> env = new HashMap<>();
        if (launched) {
            env.put(AgentHome.HOME_ENV, data.resolve("agent").toString());
            env.put(AgentHome.VERSION_ENV, release);
        }
        home = new AgentHome(data, "0.1.0", Duration.ofSeconds(30), env, restarts::incrementAndGet);
        ArtifactSource artifacts = new ArtifactSource() {
            @Override
            public boolean isCached(ImageArtifact artifact) {
                return true;
            }

            @Override
            public Path fetch(ImageArtifact artifact) {
                assertThat(artifact.getArchiveDigest()).startsWith("sha256:");
                fetches.incrementAndGet();
                return distribution;
            }

            @Override
            public void discard(ImageArtifact artifact) {
                discarded.add(artifact.getArchiveDigest());
            }

            @Override
            public void retainOnly(Collection<String> keepDigests) {
            }
        };
        HealthVerifier healthy = (containerId, check) -> { };
        engine = new UpdateEngine(DEVICE, PLATFORM, Fixtures.verifier(store, key), store, artifacts, new FakeRuntime(), healthy,
                events::add, () -> NOW).useAgentVersions(home, () -> true);
        engine.recover();
    }

    private static Release agent(String version) {
        String hex = String.format("%064x", version.hashCode() & 0xffffffffL);
        return Release.newBuilder().setApp(APP).setVersion(version).setAgent(AgentArtifact.newBuilder()
                .setDigest("sha256:" + hex).setSize(1234).setUrl("/api/v1/artifacts/sha256:" + hex)).build();
    }

    private static DesiredState desired(long sequence, AppDesired entry) {
        return DesiredState.newBuilder().setDeviceId(DEVICE).setSequence(sequence).setIssuedAtMs(NOW).setExpiresAtMs(NOW + 3_600_000)
                .addApps(entry).build();
    }

    private static DesiredState activate(long sequence, String version) {
        return desired(sequence, AppDesired.newBuilder().setApp(APP).setRelease(agent(version)).setPhase(Phase.ACTIVATE)
                .setRolloutId("r-" + version).build());
    }

    private void send(DesiredState state) {
        engine.onDesiredState(key.seal(state).toByteArray());
    }

    private List<UpdateState> statesOf(long sequence) {
        return events.stream().filter(e -> e.getSequence() == sequence).map(StatusEvent::getState).toList();
    }

    private StatusEvent last() {
        return events.get(events.size() - 1);
    }

    private Path agentFile(String name) {
        return data.resolve("agent").resolve(name);
    }

    /** What the launcher does at the next start after a trial that did not confirm: goes back, says why. */
    private void launcherGoesBack(String version, String previous, String reason) throws IOException {
        Files.writeString(agentFile("failed"), "version=" + version + "\nreason=" + reason + "\ntimeout=30\nat=1\n");
        if (previous.isEmpty()) {
            Files.deleteIfExists(agentFile("current"));
        } else {
            Files.writeString(agentFile("current"), previous + "\n");
        }
        Files.delete(agentFile("trial"));
    }

    @Test
    void aNewVersionIsInstalledSwitchedToOnTrialAndConfirmedOnceConnected() throws IOException {
        send(activate(10, "0.2.0"));
        assertThat(statesOf(10)).containsExactly(DOWNLOADING, STAGED, APPLYING);
        assertThat(restarts).hasValue(1);
        assertThat(agentFile("0.2.0/turnout-edge.jar")).isRegularFile();
        assertThat(agentFile("0.2.0/jvm.options")).hasContent("-Xmx64m");
        assertThat(agentFile("current")).hasContent("0.2.0");
        assertThat(agentFile("trial")).content().contains("version=0.2.0", "previous=\n", "timeout=30");
        send(activate(11, "0.3.0")); // the process is ending: it takes no more work
        assertThat(statesOf(11)).isEmpty();

        start("0.2.0", true); // the launcher started the new version
        assertThat(statesOf(10)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING);
        assertThat(agentFile("trial")).exists();
        engine.agentConnected();
        assertThat(statesOf(10)).containsExactly(DOWNLOADING, STAGED, APPLYING, VERIFYING, ACTIVE);
        assertThat(last().getRunningVersion()).isEqualTo("0.2.0");
        assertThat(agentFile("trial")).as("confirmed").doesNotExist();
        assertThat(home.runningVersion()).isEqualTo("0.2.0");

        send(activate(10, "0.2.0")); // the retained copy again: nothing
        assertThat(statesOf(10)).hasSize(5);
    }

    @Test
    void aVersionThatExitedAtStartIsReportedByThePreviousOneAndNotTriedAgainForThatDesiredState() throws IOException {
        send(activate(10, "0.2.0"));
        launcherGoesBack("0.2.0", "", "exited"); // the new version exited at once; the next start went back
        start("", true);
        assertThat(statesOf(10)).containsExactly(DOWNLOADING, STAGED, APPLYING, ROLLING_BACK, ROLLED_BACK);
        StatusEvent back = last();
        assertThat(back.getReason()).isEqualTo(Reason.AGENT_START_FAILED);
        assertThat(back.getVersion()).isEqualTo("0.2.0");
        assertThat(back.getRunningVersion()).isEqualTo("0.1.0");
        assertThat(back.getMessage()).contains("0.2.0 exited", "built-in version 0.1.0");

        int before = events.size();
        send(activate(10, "0.2.0")); // the retained desired state again
        send(activate(12, "0.2.0").toBuilder().setApps(0, activate(10, "0.2.0").getApps(0)).build()); // re-signed, same decision
        assertThat(events).hasSize(before);
        assertThat(restarts).as("never switched again").hasValue(1);
    }

    @Test
    void aVersionThatNeverConnectedIsReportedAsNotConnected() throws IOException {
        send(activate(10, "0.2.0"));
        start("0.2.0", true);
        engine.agentConnected();
        send(activate(20, "0.3.0"));
        start("0.3.0", true); // runs, never connects; the watchdog stopped it
        launcherGoesBack("0.3.0", "0.2.0", "not-connected");
        start("0.2.0", true);
        assertThat(statesOf(20)).endsWith(ROLLING_BACK, ROLLED_BACK);
        assertThat(last().getReason()).isEqualTo(Reason.AGENT_NOT_CONNECTED);
        assertThat(last().getRunningVersion()).isEqualTo("0.2.0");
        assertThat(last().getMessage()).contains("0.3.0 did not connect", "30 s");
        assertThat(store.loadApp(APP).orElseThrow().runningVersion()).isEqualTo("0.2.0");
    }

    @Test
    void aRemoveEntryGoesBackToTheBuiltInVersionTheSameWay() throws IOException {
        send(activate(10, "0.2.0"));
        start("0.2.0", true);
        engine.agentConnected();
        send(desired(30, AppDesired.newBuilder().setApp(APP).setPhase(Phase.REMOVE).build()));
        assertThat(statesOf(30)).containsExactly(REMOVING);
        assertThat(agentFile("current")).doesNotExist();
        assertThat(agentFile("trial")).content().contains("version=\n", "previous=0.2.0");

        start("", true);
        engine.agentConnected();
        assertThat(statesOf(30)).containsExactly(REMOVING, REMOVED);
        assertThat(last().getRunningVersion()).isEqualTo("0.1.0");
        assertThat(agentFile("trial")).doesNotExist();
        assertThat(agentFile("0.2.0")).as("kept: what it would go back to").exists();
    }

    @Test
    void aStagedVersionIsDownloadedOnceAndItsArchiveDroppedOnceUnpacked() {
        send(desired(10, AppDesired.newBuilder().setApp(APP).setRelease(agent("0.2.0")).setPhase(Phase.STAGE).build()));
        assertThat(statesOf(10)).containsExactly(DOWNLOADING, STAGED);
        assertThat(restarts).as("a stage does not switch").hasValue(0);
        assertThat(agentFile("current")).doesNotExist();
        send(activate(11, "0.2.0"));
        assertThat(statesOf(11)).containsExactly(DOWNLOADING, STAGED, APPLYING);
        assertThat(fetches).as("the unpacked copy is used").hasValue(1);
        assertThat(discarded).containsExactly(agent("0.2.0").getAgent().getDigest());
        assertThat(restarts).hasValue(1);
    }

    @Test
    void aDaemonNotStartedByItsLauncherCannotSwitchAndSaysSo() {
        start("", false);
        send(activate(10, "0.2.0"));
        assertThat(statesOf(10)).containsExactly(FAILED);
        assertThat(last().getReason()).isEqualTo(Reason.AGENT_START_FAILED);
        assertThat(last().getMessage()).contains("not started by a launcher");
        assertThat(restarts).hasValue(0);
        assertThat(agentFile("current")).doesNotExist();
    }

    @Test
    void theVersionThatRunsAlreadyIsActiveAtOnce() {
        send(activate(10, "0.1.0")); // the built-in version's number
        assertThat(statesOf(10)).containsExactly(DOWNLOADING, ACTIVE);
        assertThat(last().getMessage()).isEqualTo("already running");
        assertThat(restarts).hasValue(0);
    }

    @Test
    void aSwitchCutShortBeforeTheLauncherActedIsInterrupted() throws IOException {
        send(activate(10, "0.2.0"));
        Files.delete(agentFile("trial")); // as the launcher drops a trial whose switch did not happen
        Files.delete(agentFile("current"));
        start("", true);
        assertThat(statesOf(10)).endsWith(ROLLING_BACK, ROLLED_BACK);
        assertThat(last().getReason()).isEqualTo(Reason.INTERRUPTED);
    }

    /** A distribution: a runnable jar (never run here) and its JVM options. */
    private static Path distribution(Path file) throws IOException {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "dev.turnout.edge.app.EdgeMain");
        ByteArrayOutputStream jar = new ByteArrayOutputStream();
        new JarOutputStream(jar, manifest).close();
        try (OutputStream out = Files.newOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(out))) {
            for (Map.Entry<String, byte[]> e : Map.of("./turnout-edge.jar", jar.toByteArray(),
                    "./jvm.options", "-Xmx64m".getBytes(StandardCharsets.UTF_8)).entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey());
                entry.setSize(e.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
        return file;
    }
}
