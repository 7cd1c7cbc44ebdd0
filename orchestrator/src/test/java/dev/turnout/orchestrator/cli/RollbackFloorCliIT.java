package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ScriptedDevice;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The rollback floor (issue 17) from the {@code turnout} command line against a real orchestrator (HTTP API, embedded
 * HiveMQ CE, SQLite) with scripted devices that judge desired states by the devices' trust rules: {@code app floor}
 * sets and shows it, a rollback or deploy below it is refused before anything is signed or sent, a lower floor needs
 * {@code --force}, and the floor reaches the devices signed with their next desired state.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RollbackFloorCliIT {

    @TempDir
    static Path work;

    private static TurnoutServer server;
    private static final List<ScriptedDevice> devices = new ArrayList<>();
    private final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void startServer() throws Exception {
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null, "127.0.0.1",
                Topics.DEFAULT_PREFIX));
        PublicKey key = PublicKey.fromBase64(new ObjectMapper().readTree(
                new java.net.URL(server.url() + "/api/v1/server").openStream()).path("publicKey").asText());
        for (String[] d : new String[][] {{"fl-a", "site=attic"}, {"fl-b", "site=cellar"}}) {
            Result enrolled = cli("device", "enroll", d[0], "--label", d[1]);
            assertThat(enrolled.code).as(enrolled.toString()).isZero();
            devices.add(new ScriptedDevice(d[0], ScriptedDevice.passwordOf(enrolled.out), server.brokerUrl(), Topics.defaults(), key,
                    Set.of()));
        }
        Path spec = Files.writeString(work.resolve("spec.yaml"),
                "container:\n  command: [\"/bin/httpd\", \"-f\"]\n  network: none\nhealth:\n  exec: [\"/bin/true\"]\n");
        for (String version : List.of("1.0.0", "2.0.0", "3.0.0")) {
            Path archive = work.resolve("web-" + version + ".tar");
            Files.write(archive, DockerSaveArchives.of("demo/web:" + version, version).bytes());
            Result created = cli("release", "create", "web:" + version, "--image", "linux/arm64=" + archive, "--spec", spec.toString());
            assertThat(created.code).as(created.toString()).isZero();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> cli("devices").out.lines().filter(l -> l.contains(" yes")).count() == 2);
    }

    @AfterAll
    static void stopServer() throws Exception {
        for (ScriptedDevice d : devices) {
            d.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aRollbackBelowTheFloorIsRefusedBeforeAnythingIsSent() throws Exception {
        Result v2 = cli("deploy", "web:2.0.0", "--target", "all", "--waves", "100%", "--wait");
        assertThat(v2.code).as(v2.toString()).isZero();
        assertThat(cli("app", "floor", "web").out.strip()).isEqualTo("web has no rollback floor");

        Result set = run(Map.of("TURNOUT_USER", "dora"), "app", "floor", "web", "2.0.0", "--server", server.url());
        assertThat(set.code).as(set.toString()).isZero();
        assertThat(set.out.strip()).isEqualTo("web rollback floor 2.0.0 (was none); devices get it with their next desired state");
        assertThat(cli("app", "floor", "web").out.strip()).isEqualTo("web rollback floor 2.0.0");
        assertThat(cli("app", "floor", "web", "2.0.0").out.strip()).isEqualTo("web rollback floor 2.0.0 (unchanged)");

        int accepted = devices.stream().mapToInt(d -> d.accepted().size()).sum();
        int rollouts = json.readTree(cli("rollout", "list", "-o", "json").out).path("rollouts").size();
        Result rollback = cli("rollback", "web", "--to", "1.0.0", "--target", "all");
        assertThat(rollback.code).isEqualTo(ExitCodes.ERROR);
        assertThat(rollback.err.strip()).isEqualTo("turnout: rollback to web:1.0.0 is below the rollback floor 2.0.0 of web"
                + " (turnout app floor); choose 2.0.0 or newer");
        Result deploy = cli("deploy", "web:1.0.0", "--target", "all");
        assertThat(deploy.code).isEqualTo(ExitCodes.ERROR);
        assertThat(deploy.err).contains("deploy of web:1.0.0 is below the rollback floor 2.0.0");
        assertThat(json.readTree(cli("rollout", "list", "-o", "json").out).path("rollouts")).as("no rollout").hasSize(rollouts);
        assertThat(devices.stream().mapToInt(d -> d.accepted().size()).sum()).as("nothing sent").isEqualTo(accepted);

        Result lower = cli("app", "floor", "web", "1.0.0");
        assertThat(lower.code).isEqualTo(ExitCodes.ERROR);
        assertThat(lower.err).contains("the rollback floor of web is 2.0.0", "--force");
        Result unknown = cli("app", "floor", "web", "9.9.9");
        assertThat(unknown.code).isEqualTo(ExitCodes.ERROR);
        assertThat(unknown.err).contains("release web:9.9.9 does not exist");
        assertThat(cli("app", "floor", "web", "--force").code).isEqualTo(ExitCodes.USAGE);

        Result v3 = cli("deploy", "web:3.0.0", "--target", "all", "--waves", "100%", "--wait");
        assertThat(v3.code).as(v3.toString()).isZero();
        for (ScriptedDevice d : devices) {
            List<dev.turnout.proto.DesiredState> seen = d.accepted();
            assertThat(seen.get(seen.size() - 1).getApps(0).getMinVersion()).as("signed floor on " + d).isEqualTo("2.0.0");
        }
        Result toFloor = cli("rollback", "web", "--to", "2.0.0", "--target", "all", "--waves", "100%", "--wait");
        assertThat(toFloor.code).as("a rollback to the floor itself is allowed: " + toFloor).isZero();

        assertThat(cli("history", "--app", "web").out).contains("app.floor", "dora", "none -> 2.0.0");
    }

    private static String firstId(String out) {
        return out.lines().filter(l -> l.matches("r-\\S+")).findFirst().orElseThrow();
    }

    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    private static Result cli(String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        full.add("--server");
        full.add(server.url());
        return run(new HashMap<>(), full.toArray(String[]::new));
    }

    /** Runs the CLI the way an operator with the token in TURNOUT_TOKEN does. */
    private static Result run(Map<String, String> env, String... args) {
        Map<String, String> withToken = new HashMap<>(env);
        withToken.putIfAbsent("TURNOUT_TOKEN", server.operatorToken());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                withToken, args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
