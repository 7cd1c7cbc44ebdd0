package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.ScriptedDevice;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The {@code turnout} command line against a real orchestrator (HTTP API, embedded HiveMQ CE,
 * SQLite) with simulated devices speaking the wire contract over MQTT.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TurnoutCliIT {

    @TempDir
    static Path work;

    private static TurnoutServer server;
    private static final List<AutoCloseable> devices = new ArrayList<>();
    private final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void startServer() throws Exception {
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null, "127.0.0.1",
                Topics.DEFAULT_PREFIX));
    }

    @AfterAll
    static void stopServer() throws Exception {
        for (AutoCloseable d : devices) {
            d.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void operatorEnrollsReleasesDeploysInWavesAndSeesTheCanaryRollBack() throws Exception {
        Path configA = work.resolve("cli-a.yaml");
        Result enrolled = cli("device", "enroll", "cli-a", "--label", "site=attic", "--label", "role=yard", "--out", configA.toString());
        assertThat(enrolled.code).as(enrolled.toString()).isZero();
        assertThat(enrolled.out).contains("enrolled cli-a", configA.toString());
        String config = Files.readString(configA);
        assertThat(config).contains("cli-a", server.brokerUrl(), "site");
        assertThat(Files.getPosixFilePermissions(configA)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        // without --out the config goes to stdout, so it can be piped over ssh
        Result printed = cli("device", "enroll", "cli-b", "--label", "site=attic");
        assertThat(printed.code).isZero();
        assertThat(printed.out).contains("cli-b").doesNotContain("enrolled");

        PublicKey key = PublicKey.fromBase64(json.readTree(
                new java.net.URL(server.url() + "/api/v1/server").openStream()).path("publicKey").asText());
        devices.add(new ScriptedDevice("cli-a", ScriptedDevice.passwordOf(config), server.brokerUrl(), Topics.defaults(), key,
                Set.of("2.0.0")));
        ScriptedDevice b = new ScriptedDevice("cli-b", ScriptedDevice.passwordOf(printed.out), server.brokerUrl(), Topics.defaults(),
                key, Set.of());
        devices.add(b);
        await().atMost(Duration.ofSeconds(20)).until(() -> cli("devices").out.lines().filter(l -> l.startsWith("cli-") && l.contains(" yes")).count() == 2);

        Path spec = spec("health:\n  exec: [\"/bin/true\"]\n  soak: 1s\n");
        for (String version : List.of("1.0.0", "2.0.0")) {
            Path archive = work.resolve("web-" + version + ".tar");
            Files.write(archive, DockerSaveArchives.of("demo/web:" + version, version).bytes());
            Result created = cli("release", "create", "web:" + version, "--image", "linux/arm64=" + archive, "--spec", spec.toString());
            assertThat(created.code).as(created.toString()).isZero();
            assertThat(created.out).contains("created release web:" + version, "linux/arm64", "sha256:");
        }
        assertThat(cli("release", "list").out).contains("web", "1.0.0", "2.0.0", "linux/arm64");
        assertThat(cli("release", "show", "web:2.0.0").out).contains("exec", "/bin/true", "demo/web:2.0.0");

        // a dry run names the waves and changes nothing
        Result plan = cli("deploy", "web:1.0.0", "--target", "label:site=attic", "--waves", "1,100%", "--dry-run");
        assertThat(plan.code).as(plan.toString()).isZero();
        assertThat(plan.out).contains("2 wave(s)", "nothing was changed").containsPattern("(?m)^1\\s+1\\s+cli-a$")
                .containsPattern("(?m)^2\\s+1\\s+cli-b$");
        assertThat(rollouts()).isEmpty();

        Result v1 = cli("deploy", "web:1.0.0", "--target", "all", "--wait");
        assertThat(v1.code).as(v1.toString()).isZero();
        assertThat(v1.out).containsPattern("(?m)^r-\\S+$").contains("succeeded: 2 device(s) active on web:1.0.0");
        assertThat(cli("devices").out).containsPattern("cli-a\\s+role=yard,site=attic\\s+yes\\s+-\\s+web\\s+1.0.0");

        // v2 fails on the canary: the rollout rolls back, the second wave never starts
        Result v2 = cli("deploy", "web:2.0.0", "--target", "all", "--waves", "1,100%", "--on-failure", "rollback", "--wait");
        assertThat(v2.code).as(v2.toString()).isEqualTo(ExitCodes.ROLLOUT_FAILED);
        assertThat(v2.err.strip()).startsWith("turnout: rollout r-").contains("ended ROLLED_BACK");
        assertThat(v2.err.strip().lines()).hasSize(1);
        String id = v2.out.lines().filter(l -> l.matches("r-\\S+")).findFirst().orElseThrow();
        assertThat(v2.out).contains("cli-a", "ROLLED_BACK");

        Result status = cli("rollout", "status", id);
        assertThat(status.code).isEqualTo(ExitCodes.ROLLOUT_FAILED);
        assertThat(status.out).contains("ROLLED_BACK", "web:2.0.0").containsPattern("cli-b\\s+2\\s+");
        JsonNode listed = json.readTree(cli("rollout", "list", "--output", "json").out);
        assertThat(listed.path("rollouts").get(0).path("id").asText()).isEqualTo(id);
        assertThat(listed.path("rollouts").get(0).path("state").asText()).isEqualTo("ROLLED_BACK");
        assertThat(cli("rollout", "watch", id).code).as("watch of an ended rollout exits at once with its code")
                .isEqualTo(ExitCodes.ROLLOUT_FAILED);
        assertThat(cli("rollout", "resume", id).code).isEqualTo(ExitCodes.ERROR);

        assertThat(status.out).containsPattern("cli-b\\s+2\\s+CANCELLED\\s+1.0.0");

        // the whole fleet back to 1.0.0 on purpose: a rollout whose desired states carry the signed rollback flag
        Result back = cli("rollback", "web", "--to", "1.0.0", "--target", "all", "--waves", "1,100%", "--wait");
        assertThat(back.code).as(back.toString()).isZero();
        assertThat(back.out).contains("rolling back to web:1.0.0", "succeeded: 2 device(s) active on web:1.0.0");
        DesiredState last = b.accepted().get(b.accepted().size() - 1);
        assertThat(last.getApps(0).getRelease().getVersion()).isEqualTo("1.0.0");
        assertThat(last.getApps(0).getRollback()).isTrue();
        assertThat(cli("rollback", "web", "--target", "all").code).as("--to is required").isEqualTo(ExitCodes.USAGE);

        Result history = cli("history", "--device", "cli-a", "--since", "1h");
        assertThat(history.out).contains("device.status", "web:2.0.0 ROLLED_BACK").doesNotContain("cli-b ");
        // the failure's entry carries what the container printed last, under its row
        assertThat(history.out).containsPattern("web:2.0.0 ROLLED_BACK HEALTH_CHECK_FAILED seq \\d+\n  \\| web 2.0.0 starting\n"
                + "  \\| error: <b>cannot open</b> /dev/ttyACM0 & giving up\n");
        // cli-a acknowledged the rollout's rollback since (ACTIVE on 1.0.0): device show finds the last failure in the history
        Result shown = cli("device", "show", "cli-a");
        assertThat(shown.out).containsPattern("web: last failure at \\S+ \\(web:2.0.0 ROLLED_BACK HEALTH_CHECK_FAILED seq \\d+\\); the last"
                + " lines of its log:\n  \\| web 2.0.0 starting\n  \\| error: <b>cannot open</b> /dev/ttyACM0 & giving up");
        assertThat(cli("device", "show", "cli-b").out).doesNotContain("last failure");
        Result appHistory = cli("history", "--app", "web", "--output", "json");
        assertThat(json.readTree(appHistory.out).path("entries").toString()).contains("rollout.create", "release.create");
    }

    @Test
    void brokerIdentitiesFromTheCommandLine() throws Exception {
        Result added = cli("user", "add", "cli-watcher", "--role", "monitor");
        assertThat(added.code).as(added.toString()).isZero();
        assertThat(added.out.strip()).as("only the password on stdout").matches("[A-Za-z0-9_-]{43}");
        assertThat(added.err).contains("cli-watcher", "shown once");
        assertThat(cli("user", "add", "cli-watcher", "--role", "monitor").code).isEqualTo(ExitCodes.ERROR);
        assertThat(cli("user", "add", "x", "--role", "admin").code).isEqualTo(ExitCodes.USAGE);
        assertThat(cli("user", "list").out).contains("cli-watcher", "monitor", "turnout-orchestrator-");
        assertThat(cli("user", "list").out).doesNotContain(added.out.strip());

        // (revoking an enrolled device: the security matrix; a device enrolled here would join the rollouts above)
        assertThat(cli("device", "revoke", "cli-never").code).isEqualTo(ExitCodes.ERROR);
        assertThat(cli("device", "enroll", "turnout-orchestrator-x").code).isEqualTo(ExitCodes.ERROR);
        assertThat(cli("device", "enroll", "a/b").err).contains("invalid");
        assertThat(cli("user", "revoke", "cli-watcher").code).isZero();
        assertThat(cli("user", "list").out).doesNotContain("cli-watcher");
    }

    @Test
    void badInputGetsOneLineErrorsAndCreatesNothing() throws Exception {
        Path archive = work.resolve("bad-input.tar");
        Files.write(archive, DockerSaveArchives.of("demo/bad:1.0.0", "bad").bytes());

        Result unknownKey = cli("release", "create", "bad:1.0.0", "--image", "linux/arm64=" + archive,
                "--spec", spec("health:\n  exec: [\"/bin/true\"]\n  sock: 5s\n").toString());
        assertThat(unknownKey.code).isEqualTo(ExitCodes.ERROR);
        assertThat(unknownKey.err).contains("unknown key 'health.sock'", "known keys", "soak");
        assertThat(unknownKey.err.strip().lines()).hasSize(1);

        Result badDuration = cli("release", "create", "bad:1.0.0", "--image", "linux/arm64=" + archive,
                "--spec", spec("health:\n  interval: soon\n").toString());
        assertThat(badDuration.err).contains("spec.health.interval", "soon");
        Result badYaml = cli("release", "create", "bad:1.0.0", "--image", "linux/arm64=" + archive,
                "--spec", spec("health:\n  exec: [\"/bin/true\"\n").toString());
        assertThat(badYaml.code).isEqualTo(ExitCodes.ERROR);
        assertThat(badYaml.err).contains("(line ");

        Result noArchive = cli("release", "create", "bad:1.0.0", "--image", "linux/arm64=" + work.resolve("missing.tar"),
                "--spec", spec("health:\n  tcp: 127.0.0.1:80\n").toString());
        assertThat(noArchive.code).isEqualTo(ExitCodes.ERROR);
        assertThat(noArchive.err).contains("missing.tar", "not a readable file");

        Path notAnArchive = Files.writeString(work.resolve("notes.txt"), "hello");
        Result rejected = cli("release", "create", "bad:1.0.0", "--image", "linux/arm64=" + notAnArchive,
                "--spec", spec("health:\n  tcp: 127.0.0.1:80\n").toString());
        assertThat(rejected.code).isEqualTo(ExitCodes.ERROR);
        assertThat(rejected.err).contains("docker save");

        // nothing was registered, and nothing was uploaded before the checks that could fail locally
        assertThat(cli("release", "show", "bad:1.0.0").code).isEqualTo(ExitCodes.ERROR);
        try (Stream<Path> stored = Files.walk(work.resolve("server"))) {
            assertThat(stored.filter(Files::isRegularFile).filter(p -> p.toString().contains("artifacts"))
                    .filter(p -> Files.isRegularFile(p) && sizeOf(p) == sizeOf(archive))).isEmpty();
        }

        Result unknownRelease = cli("deploy", "nope:9.9.9", "--target", "all");
        assertThat(unknownRelease.code).isEqualTo(ExitCodes.ERROR);
        assertThat(unknownRelease.err).startsWith("turnout: ").contains("nope");

        assertThat(cli("deploy", "web:1.0.0").code).as("--target is required").isEqualTo(ExitCodes.USAGE);
        Result badRef = cli("deploy", "web", "--target", "all");
        assertThat(badRef.code).isEqualTo(ExitCodes.USAGE);
        assertThat(badRef.err).contains("APP:VERSION");
        assertThat(cli("frobnicate").code).isEqualTo(ExitCodes.USAGE);

        // the embedded broker's store settings are checked before anything starts
        Path data = work.resolve("never-started");
        Result badMode = runBare(Map.of(), "server", "--data", data.toString(), "--broker-persistence", "disk");
        assertThat(badMode.code).as(badMode.toString()).isEqualTo(ExitCodes.USAGE);
        assertThat(badMode.err).contains("file or memory");
        Result badBuckets = runBare(Map.of(), "server", "--data", data.toString(), "--broker-buckets", "65");
        assertThat(badBuckets.code).as(badBuckets.toString()).isEqualTo(ExitCodes.USAGE);
        assertThat(badBuckets.err).contains("between 1 and 64");
        Result external = runBare(Map.of(), "server", "--data", data.toString(), "--broker-url", "tcp://127.0.0.1:1",
                "--broker-persistence", "memory");
        assertThat(external.code).as(external.toString()).isEqualTo(ExitCodes.USAGE);
        assertThat(external.err).contains("--broker-url");
        assertThat(data).as("nothing written for a refused start").doesNotExist();
        assertThat(cli("rollout", "status", "r-unknown").code).isEqualTo(ExitCodes.ERROR);

        Result unreachable = run(Map.of(), "devices", "--server", "http://127.0.0.1:" + Ports.free());
        assertThat(unreachable.code).isEqualTo(ExitCodes.ERROR);
        assertThat(unreachable.err).contains("cannot reach the Turnout server").contains("TURNOUT_SERVER");
        Result fromEnv = run(Map.of("TURNOUT_SERVER", server.url()), "devices", "--output", "json");
        assertThat(fromEnv.code).as(fromEnv.toString()).isZero();
        assertThat(json.readTree(fromEnv.out).has("devices")).isTrue();
    }

    @Test
    void theCliFindsTheOperatorTokenWithoutTakingItAsAnArgumentAndSaysWhereItLooked() throws Exception {
        Path home = Files.createDirectories(work.resolve("home"));
        Path emptyData = Files.createDirectories(work.resolve("no-server-here"));
        String url = server.url();

        // nowhere to be found: one line naming every place it looked, exit 1, nothing printed on stdout
        Result none = runBare(Map.of("HOME", home.toString(), "TURNOUT_DATA", emptyData.toString()), "devices", "--server", url);
        assertThat(none.code).as(none.toString()).isEqualTo(ExitCodes.ERROR);
        assertThat(none.out).isEmpty();
        assertThat(none.err.lines()).hasSize(1);
        assertThat(none.err).startsWith("turnout: ").contains("wants a token and none was found", "TURNOUT_TOKEN",
                home.resolve(".config/turnout/cli.yaml").toString(), emptyData.resolve("operator.token").toAbsolutePath().toString());

        // a wrong one: says which one was refused, never the token itself
        Result wrong = runBare(Map.of("TURNOUT_TOKEN", "not-the-token-at-all"), "devices", "--server", url);
        assertThat(wrong.code).isEqualTo(ExitCodes.ERROR);
        assertThat(wrong.err).contains("refused the token from TURNOUT_TOKEN").doesNotContain("not-the-token-at-all");
        assertThat(wrong.err.lines()).hasSize(1);

        // never an argument (it would show in ps)
        assertThat(runBare(Map.of(), "devices", "--server", url, "--token", server.operatorToken()).code).isEqualTo(ExitCodes.USAGE);

        // --token-file
        Path tokenFile = Files.writeString(work.resolve("token.txt"), server.operatorToken() + "\n");
        Result fromFile = runBare(Map.of("HOME", home.toString()), "devices", "--server", url, "--token-file", tokenFile.toString());
        assertThat(fromFile.code).as(fromFile.toString()).isZero();
        Result missingFile = runBare(Map.of(), "devices", "--server", url, "--token-file", work.resolve("nope.txt").toString());
        assertThat(missingFile.code).isEqualTo(ExitCodes.ERROR);
        assertThat(missingFile.err).contains("nope.txt");

        // the CLI config file: server: and token:, used with no --server at all
        Path config = Files.createDirectories(home.resolve(".config/turnout")).resolve("cli.yaml");
        Files.writeString(config, "server: " + url + "\ntoken: " + server.operatorToken() + "\n");
        Result fromConfig = runBare(Map.of("HOME", home.toString()), "devices", "-o", "json");
        assertThat(fromConfig.code).as(fromConfig.toString()).isZero();
        assertThat(json.readTree(fromConfig.out).has("devices")).isTrue();
        // ... whose token is never sent to another server
        Files.writeString(config, "server: http://turnout.example:8080\ntoken: " + server.operatorToken() + "\n");
        Result otherServer = runBare(Map.of("HOME", home.toString(), "TURNOUT_DATA", emptyData.toString()), "devices", "--server", url);
        assertThat(otherServer.code).isEqualTo(ExitCodes.ERROR);
        assertThat(otherServer.err).contains("its token is for http://turnout.example:8080");
        Files.delete(config);

        // on the server's host: TURNOUT_DATA names the data directory
        Result fromData = runBare(Map.of("HOME", home.toString(), "TURNOUT_DATA", work.resolve("server").toString()), "devices", "--server", url);
        assertThat(fromData.code).as(fromData.toString()).isZero();
        // ... or, with no TURNOUT_DATA, the server running on that port says where its token file is
        Map<String, String> real = new HashMap<>();
        for (String name : List.of("HOME", "XDG_RUNTIME_DIR")) {
            if (System.getenv(name) != null) {
                real.put(name, System.getenv(name));
            }
        }
        Result discovered = runBare(real, "devices", "--server", url);
        assertThat(discovered.code).as(discovered.toString()).isZero();

        // rotation: the server writes the new token to its file, --out gets a copy; neither is printed
        String old = server.operatorToken();
        Path copy = work.resolve("new.token");
        Result rotated = runBare(Map.of("HOME", home.toString(), "TURNOUT_DATA", work.resolve("server").toString()),
                "token", "rotate", "--out", copy.toString(), "--server", url);
        assertThat(rotated.code).as(rotated.toString()).isZero();
        assertThat(server.operatorToken()).isNotEqualTo(old);
        assertThat(rotated.out + rotated.err).contains("operator.token").doesNotContain(server.operatorToken()).doesNotContain(old);
        assertThat(Files.readString(copy).strip()).isEqualTo(server.operatorToken());
        assertThat(Files.getPosixFilePermissions(copy)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        assertThat(runBare(Map.of("TURNOUT_TOKEN", old), "devices", "--server", url).code).isEqualTo(ExitCodes.ERROR);
        assertThat(runBare(Map.of("HOME", home.toString(), "TURNOUT_DATA", work.resolve("server").toString()), "devices", "--server", url)
                .code).isZero();
    }

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return -1;
        }
    }

    private List<JsonNode> rollouts() throws IOException {
        List<JsonNode> list = new ArrayList<>();
        json.readTree(cli("rollout", "list", "--output", "json").out).path("rollouts").forEach(list::add);
        return list;
    }

    private static Path spec(String yaml) throws IOException {
        Path file = Files.createTempFile(work, "spec", ".yaml");
        Files.writeString(file, "container:\n  command: [\"/bin/httpd\", \"-f\"]\n  network: none\n" + yaml);
        return file;
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
        return runBare(withToken, args);
    }

    /** Runs the CLI with exactly {@code env}: no token unless it names one. */
    private static Result runBare(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env, args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

}
