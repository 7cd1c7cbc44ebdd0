package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulatedImageArchive;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.proto.Topics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@code turnout watch} subscribed to a real broker while simulated devices update. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WatchIT {

    @TempDir
    static Path work;

    private static TurnoutServer server;
    private static SimulatedFleet fleet;
    private static final HttpClient http = HttpClient.newHttpClient();
    private static final ObjectMapper json = new ObjectMapper();

    private static Map<String, String> monitorEnv = Map.of();

    @BeforeAll
    static void start() throws Exception {
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, 0, "127.0.0.1", null, "127.0.0.1",
                Topics.DEFAULT_PREFIX));
        fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(2).withIdPrefix("w")
                .withLabels(Map.of("site", "attic")).withApplyTime(Duration.ofMillis(200)).withFailingVersions(Set.of("3.0.0")),
                Duration.ofSeconds(60));
        SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(1).withIdPrefix("yard")
                .withLabels(Map.of("site", "yard")), Duration.ofSeconds(60)); // stays connected; closed with the server
        // a monitor identity, the way an operator makes one for a watcher
        ByteArrayOutputStream secret = new ByteArrayOutputStream();
        assertThat(TurnoutCli.run(new PrintStream(secret, true, StandardCharsets.UTF_8), System.err, Map.of("TURNOUT_TOKEN", server.operatorToken()),
                "user", "add", "watcher", "--role", "monitor", "--server", server.url())).isZero();
        monitorEnv = Map.of("TURNOUT_MQTT_USERNAME", "watcher", "TURNOUT_MQTT_PASSWORD",
                secret.toString(StandardCharsets.UTF_8).strip());
        for (String v : List.of("1.0.0", "3.0.0")) {
            HttpResponse<String> up = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/artifacts")).header("Authorization", "Bearer " + server.operatorToken())
                    .POST(HttpRequest.BodyPublishers.ofByteArray(SimulatedImageArchive.of("sim/web:" + v))).build(),
                    HttpResponse.BodyHandlers.ofString());
            String digest = json.readTree(up.body()).path("digest").asText();
            post("/api/v1/releases", Map.of("app", "web", "version", v,
                    "images", List.of(Map.of("platform", "linux/arm64", "digest", digest)),
                    "spec", Map.of("container", Map.of("command", List.of("/bin/httpd")))));
        }
    }

    @AfterAll
    static void stop() {
        if (fleet != null) {
            fleet.close();
        }
        if (server != null) {
            server.close();
        }
    }

    /** Runs {@code turnout watch ARGS} in the background until interrupted. */
    private static final class Watch {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final AtomicInteger code = new AtomicInteger(-1);
        final Thread thread;

        Watch(String... args) {
            this(monitorEnv, args);
        }

        Watch(Map<String, String> env, String... args) {
            List<String> all = new ArrayList<>(List.of("watch", "--server", server.url()));
            all.addAll(List.of(args));
            Map<String, String> withToken = new java.util.HashMap<>(env);
            withToken.putIfAbsent("TURNOUT_TOKEN", server.operatorToken());
            thread = new Thread(() -> code.set(TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8), withToken, all.toArray(String[]::new))));
            thread.start();
        }

        String out() {
            return out.toString(StandardCharsets.UTF_8);
        }

        int stop() throws InterruptedException {
            thread.interrupt();
            thread.join(10_000);
            return code.get();
        }
    }

    @Test
    @Order(0)
    void withoutCredentialsItBorrowsAMonitorIdentityForTheSessionAndGivesItBack() throws Exception {
        Watch watch = new Watch(Map.of(), "--target", "device:w-0001", "-o", "json");
        await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("\"kind\":\"presence\""));
        String users = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/users")).header("Authorization", "Bearer " + server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        assertThat(users).contains("\"watch-");
        assertThat(watch.stop()).as(watch.err.toString(StandardCharsets.UTF_8)).isZero();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), System.err, Map.of("TURNOUT_TOKEN", server.operatorToken()), "user", "list", "-o", "json",
                "--server", server.url());
        assertThat(out.toString(StandardCharsets.UTF_8)).doesNotContain("\"watch-");
    }

    @Test
    @Order(1)
    void jsonLinesFollowOneDeviceThroughARollout() throws Exception {
        Watch watch = new Watch("--target", "device:w-0001", "-o", "json");
        // the retained presence arrives first: the watcher is subscribed
        await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("\"kind\":\"presence\""));
        String rollout = rollout("1.0.0");
        await().atMost(Duration.ofSeconds(30)).until(() -> watch.out().contains("\"type\":\"DEVICE_SUCCEEDED\""));
        await().atMost(Duration.ofSeconds(10)).until(() -> watch.out().contains("\"state\":\"SUCCEEDED\""));
        assertThat(watch.stop()).as(watch.err.toString(StandardCharsets.UTF_8)).isZero();

        List<JsonNode> events = new ArrayList<>();
        for (String line : watch.out().split("\n")) {
            events.add(json.readTree(line)); // every line is one JSON object
        }
        List<String> states = new ArrayList<>();
        for (JsonNode e : events) {
            assertThat(e.path("topic").asText()).startsWith("turnout/v1/");
            assertThat(e.path("payload").path("deviceId").asText()).isIn("w-0001", "");
            if (e.path("kind").asText().equals("status")) {
                states.add(e.path("payload").path("state").asText());
            }
            if (e.path("kind").asText().equals("rollout")) {
                assertThat(e.path("payload").path("rolloutId").asText()).isEqualTo(rollout);
            }
        }
        assertThat(states).containsSubsequence("DOWNLOADING", "STAGED", "APPLYING", "VERIFYING", "ACTIVE");
        assertThat(watch.out()).doesNotContain("w-0002", "yard-0001");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(rollout).equals("SUCCEEDED"));
    }

    @Test
    @Order(2)
    void textFollowsALabelAndSaysWhyACanaryRolledBack() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> fleet.runningCount("web", "1.0.0") == 2 && noActiveRollout());
        Watch watch = new Watch("--target", "label:site=attic");
        await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("presence  w-0002  online"));
        String failing = rolloutWaves("3.0.0", "1,100%");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(failing).equals("ROLLED_BACK"));
        await().atMost(Duration.ofSeconds(10)).until(() -> watch.out().contains("ROLLED_BACK (HEALTH_CHECK_FAILED"));
        assertThat(watch.stop()).isZero();
        assertThat(watch.out()).startsWith("watching label:site=attic on tcp://127.0.0.1:")
                .contains("w-0001  web 3.0.0 ROLLED_BACK (HEALTH_CHECK_FAILED: simulated health check of 3.0.0 failed), running 1.0.0")
                .contains("rollout   " + failing + "  web 3.0.0 STATE_CHANGED")
                .doesNotContain("yard-0001");
    }

    @Test
    void theMonitorsPasswordComesFromAFileNeverFromTheCommandLine() throws Exception {
        java.nio.file.Path file = work.resolve("watcher.password");
        java.nio.file.Files.writeString(file, monitorEnv.get("TURNOUT_MQTT_PASSWORD") + "\n");
        Watch watch = new Watch(Map.of("TURNOUT_MQTT_USERNAME", "watcher"), "--mqtt-password-file", file.toString(),
                "--target", "device:w-0002", "-o", "json");
        await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("\"kind\":\"presence\""));
        assertThat(watch.stop()).as(watch.err.toString(StandardCharsets.UTF_8)).isZero();

        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of("TURNOUT_TOKEN", server.operatorToken(), "TURNOUT_MQTT_USERNAME", "watcher"), "watch", "--server", server.url(),
                "--mqtt-password", "in-the-clear");
        assertThat(code).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--mqtt-password");
    }

    @Test
    void aBadTargetIsAUsageError() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of("TURNOUT_TOKEN", server.operatorToken()), "watch", "--server", server.url(), "--target", "shelf:3");
        assertThat(code).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("target 'shelf:3' must be all");
    }

    private static boolean noActiveRollout() throws Exception {
        for (JsonNode r : get("/api/v1/rollouts").path("rollouts")) {
            if (!r.path("terminal").asBoolean()) {
                return false;
            }
        }
        return true;
    }

    private static String rollout(String version) throws Exception {
        return rolloutWaves(version, "100%");
    }

    private static String rolloutWaves(String version, String waves) throws Exception {
        HttpResponse<String> r = post("/api/v1/rollouts", Map.of("app", "web", "version", version, "target", "label:site=attic",
                "waves", waves, "onFailure", "rollback", "deviceTimeout", "30s"));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        return json.readTree(r.body()).path("id").asText();
    }

    private static String state(String id) throws Exception {
        return get("/api/v1/rollouts/" + id).path("state").asText();
    }

    private static JsonNode get(String path) throws Exception {
        return json.readTree(http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString()).body());
    }

    private static HttpResponse<String> post(String path, Object body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
    }
}
