package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ScriptedDevice;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Ports;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A real orchestrator (HTTP API, embedded HiveMQ CE, SQLite) for command-line stories: devices enrolled with
 * {@code turnout device enroll} and run as {@link ScriptedDevice}s (they judge desired states by the devices' trust
 * rules), releases {@code web:1.0.0}, {@code 2.0.0} and {@code 3.0.0} made with {@code turnout release create}, every
 * device online before the first test.
 */
final class CliFleet implements AutoCloseable {

    /** What one CLI run printed and returned. */
    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    final TurnoutServer server;
    final List<ScriptedDevice> devices = new ArrayList<>();

    private CliFleet(TurnoutServer server) {
        this.server = server;
    }

    /** Starts the server under {@code work} and enrolls {@code devices}: each {id, "KEY=VALUE"} (its one label). */
    static CliFleet start(Path work, String[][] devices) throws Exception {
        CliFleet fleet = new CliFleet(TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1",
                null, "127.0.0.1", Topics.DEFAULT_PREFIX)));
        try {
            PublicKey key = PublicKey.fromBase64(new ObjectMapper().readTree(
                    URI.create(fleet.server.url() + "/api/v1/server").toURL().openStream()).path("publicKey").asText());
            for (String[] d : devices) {
                Result enrolled = fleet.cli("device", "enroll", d[0], "--label", d[1]);
                assertThat(enrolled.code()).as(enrolled.toString()).isZero();
                fleet.devices.add(new ScriptedDevice(d[0], ScriptedDevice.passwordOf(enrolled.out()), fleet.server.brokerUrl(),
                        Topics.defaults(), key, Set.of()));
            }
            Path spec = Files.writeString(work.resolve("spec.yaml"),
                    "container:\n  command: [\"/bin/httpd\", \"-f\"]\n  network: none\nhealth:\n  exec: [\"/bin/true\"]\n");
            for (String version : List.of("1.0.0", "2.0.0", "3.0.0")) {
                Path archive = work.resolve("web-" + version + ".tar");
                Files.write(archive, DockerSaveArchives.of("demo/web:" + version, version).bytes());
                Result created = fleet.cli("release", "create", "web:" + version, "--image", "linux/arm64=" + archive,
                        "--spec", spec.toString());
                assertThat(created.code()).as(created.toString()).isZero();
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> fleet.cli("devices").out().lines().filter(l -> l.contains(" yes")).count()
                    == devices.length);
            return fleet;
        } catch (Exception | AssertionError e) {
            fleet.close();
            throw e;
        }
    }

    String url() {
        return server.url();
    }

    /** Runs the CLI against this server with the operator token. */
    Result cli(String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        full.add("--server");
        full.add(server.url());
        return run(new HashMap<>(), full.toArray(String[]::new));
    }

    /** Runs the CLI the way an operator with the token in TURNOUT_TOKEN does, with {@code env} besides. */
    Result run(Map<String, String> env, String... args) {
        return runWithInput(env, "", args);
    }

    /**
     * Runs the CLI with {@code stdin} as its standard input: as the operator token's holder (TURNOUT_TOKEN), or,
     * when {@code env} names a CLI config file (TURNOUT_CLI_CONFIG), as whoever logged in with it.
     */
    Result runWithInput(Map<String, String> env, String stdin, String... args) {
        Map<String, String> withToken = new HashMap<>(env);
        if (!withToken.containsKey("TURNOUT_CLI_CONFIG")) {
            withToken.putIfAbsent("TURNOUT_TOKEN", server.operatorToken());
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new java.io.ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), withToken, args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /**
     * Creates operator {@code name} with {@code role} ({@code turnout operator add --password-stdin}, as the operator
     * token's holder) and logs them in ({@code turnout login}) with a CLI config file of their own under {@code dir};
     * returns the environment that acts as them. Their password is {@code NAME-long-password}.
     */
    Map<String, String> signedIn(Path dir, String name, String role) throws Exception {
        String password = name + "-long-password";
        Result added = runWithInput(Map.of(), password + "\n", "operator", "add", name, "--role", role, "--password-stdin", "--server", url());
        assertThat(added.code()).as(added.toString()).isZero();
        Path home = Files.createDirectories(dir.resolve("home-" + name));
        Map<String, String> env = Map.of("HOME", home.toString(), "TURNOUT_CLI_CONFIG", home.resolve("cli.yaml").toString());
        Result login = runWithInput(env, password + "\n", "login", "--user", name, "--password-stdin", "--server", url());
        assertThat(login.code()).as(login.toString()).isZero();
        return env;
    }

    @Override
    public void close() throws Exception {
        for (ScriptedDevice d : devices) {
            d.close();
        }
        server.close();
    }
}
