package dev.turnout.edge.agent;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The launcher's decision (bin/lib/edge-agent.sh, the same file the packaged launcher sources), run by the real
 * shells: dash as {@code /usr/bin/turnout-edge} runs it, bash with {@code -euo pipefail} as {@code bin/turnout-edge}.
 * Which jar it starts, and what a trial pending, started, confirmed, stopped by the watchdog or stale leads to.
 */
class LauncherTrialTest {

    private static final Path LIB = Path.of("..", "bin", "lib", "edge-agent.sh").toAbsolutePath().normalize();

    @TempDir
    Path data;

    private Path home() {
        return data.resolve("agent");
    }

    /** What the launcher would exec: the jar, the options and the environment it exports. */
    record Choice(String jar, String options, String agentHome, String agentVersion, String err) {
    }

    private Choice select(String shell, String... args) throws Exception {
        String then = "printf '%s|%s|%s|%s\\n' \"$edge_jar\" \"$edge_options\" \"${TURNOUT_EDGE_AGENT_HOME:-}\""
                + " \"${TURNOUT_EDGE_AGENT_VERSION:-}\"";
        Process p = launcher(shell, then, args).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(err).isZero();
        String[] f = out.split("\\|", -1);
        return new Choice(f[0], f[1], f[2], f[3], err);
    }

    private ProcessBuilder launcher(String shell, String then, String... args) {
        String script = ". '" + LIB + "'\nedge_jar=/opt/built-in.jar edge_options=/opt/jvm.options\nagent_select \"$@\"\n" + then + "\n";
        List<String> command = new ArrayList<>(shell.equals("bash") ? List.of("bash", "-euo", "pipefail", "-c", script, "launcher")
                : List.of("sh", "-e", "-c", script, "launcher"));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().remove("TURNOUT_EDGE_AGENT_HOME");
        builder.environment().remove("TURNOUT_EDGE_AGENT_VERSION");
        return builder;
    }

    private void install(String version) throws IOException {
        Files.createDirectories(home().resolve(version));
        Files.writeString(home().resolve(version).resolve("turnout-edge.jar"), "jar of " + version);
        Files.writeString(home().resolve(version).resolve("jvm.options"), "-Xmx64m\n");
    }

    private void current(String version) throws IOException {
        Files.createDirectories(home());
        Files.writeString(home().resolve("current"), version + "\n");
    }

    private void trial(String version, String previous, String... more) throws IOException {
        StringBuilder text = new StringBuilder("version=" + version + "\nprevious=" + previous + "\ntimeout=1\n");
        for (String line : more) {
            text.append(line).append('\n');
        }
        Files.createDirectories(home());
        Files.writeString(home().resolve("trial"), text);
    }

    private Map<String, String> values(Path file) {
        return AgentHome.read(file);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void withoutDataOrReleasesTheBuiltInDaemonRunsAsBefore(String shell) throws Exception {
        assertThat(select(shell, "--config", "/etc/turnout/edge.yaml"))
                .isEqualTo(new Choice("/opt/built-in.jar", "/opt/jvm.options", "", "", ""));
        assertThat(select(shell, "--config", "/etc/turnout/edge.yaml", "--data", data.toString()))
                .isEqualTo(new Choice("/opt/built-in.jar", "/opt/jvm.options", home().toString(), "", ""));
        assertThat(home()).doesNotExist(); // nothing written
        current("0.2.0"); // a release named current but not (or no longer) installed: the built-in one
        assertThat(select(shell, "--config", "c.yaml", "--data=" + data).jar()).isEqualTo("/opt/built-in.jar");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void theCurrentReleaseRunsWithItsOwnOptions(String shell) throws Exception {
        install("0.2.0");
        current("0.2.0");
        assertThat(select(shell, "--config", "c.yaml", "--data", data.toString())).isEqualTo(new Choice(
                home().resolve("0.2.0/turnout-edge.jar").toString(), home().resolve("0.2.0/jvm.options").toString(),
                home().toString(), "0.2.0", ""));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void aPendingTrialStartsTheNewVersionAndMarksItStarted(String shell) throws Exception {
        install("0.2.0");
        trial("0.2.0", "");
        current("0.2.0");
        Choice choice = select(shell, "--config", "c.yaml", "--data", data.toString());
        assertThat(choice.agentVersion()).isEqualTo("0.2.0");
        assertThat(values(home().resolve("trial"))).containsKey("started").doesNotContainKey("timedOut");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void aTrialStartedAndNotConfirmedGoesBackToThePreviousVersion(String shell) throws Exception {
        install("0.2.0");
        install("0.3.0");
        trial("0.3.0", "0.2.0", "started=123-456");
        current("0.3.0");
        Choice choice = select(shell, "--config", "c.yaml", "--data", data.toString());
        assertThat(choice.agentVersion()).isEqualTo("0.2.0");
        assertThat(choice.jar()).endsWith("0.2.0/turnout-edge.jar");
        assertThat(choice.err()).contains("0.3.0", "exited", "0.2.0");
        assertThat(home().resolve("trial")).doesNotExist();
        assertThat(Files.readString(home().resolve("current")).strip()).isEqualTo("0.2.0");
        assertThat(values(home().resolve("failed"))).containsEntry("version", "0.3.0").containsEntry("reason", "exited")
                .containsEntry("timeout", "1");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void aTrialTheWatchdogStoppedGoesBackAsNotConnectedToTheBuiltInVersion(String shell) throws Exception {
        install("0.2.0");
        trial("0.2.0", "", "started=123-456", "timedOut=789");
        current("0.2.0");
        Choice choice = select(shell, "--config", "c.yaml", "--data", data.toString());
        assertThat(choice.jar()).isEqualTo("/opt/built-in.jar");
        assertThat(choice.agentVersion()).isEmpty();
        assertThat(home().resolve("current")).doesNotExist();
        assertThat(values(home().resolve("failed"))).containsEntry("version", "0.2.0").containsEntry("reason", "not-connected");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void aConfirmedTrialLeavesTheNewVersionRunning(String shell) throws Exception {
        install("0.2.0");
        trial("0.2.0", "");
        current("0.2.0");
        select(shell, "--config", "c.yaml", "--data", data.toString());
        Files.delete(home().resolve("trial")); // what the daemon does once connected and reported
        Choice again = select(shell, "--config", "c.yaml", "--data", data.toString());
        assertThat(again.agentVersion()).isEqualTo("0.2.0");
        assertThat(home().resolve("failed")).doesNotExist();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void aStaleTrialIsDropped(String shell) throws Exception {
        install("0.2.0");
        current("0.2.0");
        trial("0.3.0", "0.2.0"); // the daemon ended between writing the trial and switching `current`
        Choice choice = select(shell, "--config", "c.yaml", "--data", data.toString());
        assertThat(choice.agentVersion()).isEqualTo("0.2.0");
        assertThat(home().resolve("trial")).doesNotExist();
        assertThat(home().resolve("failed")).doesNotExist();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void otherCommandsLeaveATrialAlone(String shell) throws Exception {
        install("0.2.0");
        trial("0.2.0", "", "started=1-2");
        current("0.2.0");
        Choice choice = select(shell, "cache", "import", "bundle.tar", "--config", "c.yaml", "--data", data.toString());
        assertThat(choice.agentVersion()).isEqualTo("0.2.0");
        assertThat(values(home().resolve("trial"))).containsEntry("started", "1-2");
        assertThat(home().resolve("failed")).doesNotExist();
    }

    /** The watchdog, for real: the process the launcher became still runs unconfirmed at the deadline, and is stopped. */
    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void theWatchdogStopsAnUnconfirmedVersionAtTheDeadline(String shell) throws Exception {
        install("0.2.0");
        trial("0.2.0", "");
        current("0.2.0");
        long start = System.nanoTime();
        Process daemon = launcher(shell, "exec sleep 60", "--config", "c.yaml", "--data", data.toString())
                .redirectErrorStream(true).start();
        assertThat(daemon.waitFor(20, TimeUnit.SECONDS)).as("stopped by the watchdog").isTrue();
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isGreaterThanOrEqualTo(900);
        assertThat(daemon.exitValue()).isEqualTo(128 + 15); // SIGTERM
        assertThat(values(home().resolve("trial"))).containsKeys("started", "timedOut");
        // the next start goes back
        Choice next = select(shell, "--config", "c.yaml", "--data", data.toString());
        assertThat(next.jar()).isEqualTo("/opt/built-in.jar");
        assertThat(values(home().resolve("failed"))).containsEntry("reason", "not-connected");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sh", "bash"})
    void theWatchdogLeavesAConfirmedVersionRunning(String shell) throws Exception {
        install("0.2.0");
        trial("0.2.0", "");
        current("0.2.0");
        Process daemon = launcher(shell, "rm -f \"$TURNOUT_EDGE_AGENT_HOME/trial\"; exec sleep 4", "--config", "c.yaml", "--data",
                data.toString()).redirectErrorStream(true).start();
        assertThat(daemon.waitFor(20, TimeUnit.SECONDS)).isTrue();
        assertThat(daemon.exitValue()).as("ran its course").isZero();
        assertThat(home().resolve("trial")).doesNotExist();
    }
}
