package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.sim.SimulatedImageArchive;
import dev.turnout.proto.Topics;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
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
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@code turnout simulate} against a running orchestrator on its embedded broker. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SimulateIT {

    @TempDir
    Path work;

    private TurnoutServer server;
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    @BeforeEach
    void start() throws Exception {
        server = TurnoutServer.start(new ServerOptions(work, 0, 0, "127.0.0.1", null, "127.0.0.1", Topics.DEFAULT_PREFIX));
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void simulatedDevicesTakeARolloutAndGoOfflineWhenStopped() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        AtomicInteger code = new AtomicInteger(-1);
        Thread simulate = new Thread(() -> code.set(TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), Map.of("TURNOUT_TOKEN", server.operatorToken()), "simulate", "--server", server.url(),
                "--broker-url", server.brokerUrl(), "--devices", "3", "--id-prefix", "lab", "--label", "site=lab",
                "--apply-time", "100ms", "--fail-version", "3.0.0", "--report-every", "200ms")));
        simulate.start();

        await().atMost(Duration.ofSeconds(30)).until(() -> online() == 3);
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("3 simulated device(s) lab-0001... enrolled with " + server.url());
        JsonNode device = get("/api/v1/devices/lab-0002");
        assertThat(device.path("labels").path("site").asText()).isEqualTo("lab");
        assertThat(device.path("labels").path("simulated").asText()).isEqualTo("true");

        release("1.0.0");
        release("3.0.0");
        String v1 = rollout("1.0.0");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(v1).equals("SUCCEEDED"));
        await().atMost(Duration.ofSeconds(10)).until(() -> out.toString(StandardCharsets.UTF_8)
                .contains("3/3 connected; running: web 1.0.0 x3"));
        String v3 = rollout("3.0.0");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(v3).equals("ROLLED_BACK"));

        simulate.interrupt();
        simulate.join(30_000);
        assertThat(code.get()).as(err.toString(StandardCharsets.UTF_8)).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> online() == 0); // each said goodbye
    }

    @Test
    void aRateOutsideZeroToOneIsAUsageError() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of("TURNOUT_TOKEN", server.operatorToken()), "simulate", "--server", server.url(), "--devices", "2", "--fail-rate", "150%");
        assertThat(code).isEqualTo(ExitCodes.USAGE);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--fail-rate must be a probability between 0 and 1");
        assertThat(SimulateCommand.rate("--fail-rate", "5%")).isEqualTo(0.05);
    }

    private long online() throws Exception {
        long n = 0;
        for (JsonNode d : get("/api/v1/devices").path("devices")) {
            n += d.path("online").asBoolean() ? 1 : 0;
        }
        return n;
    }

    private void release(String version) throws Exception {
        HttpResponse<String> up = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/artifacts")).header("Authorization", "Bearer " + server.operatorToken())
                .POST(HttpRequest.BodyPublishers.ofByteArray(SimulatedImageArchive.of("sim/web:" + version))).build(),
                HttpResponse.BodyHandlers.ofString());
        String digest = json.readTree(up.body()).path("digest").asText();
        HttpResponse<String> r = post("/api/v1/releases", Map.of("app", "web", "version", version,
                "images", List.of(Map.of("platform", "linux/arm64", "digest", digest)),
                "spec", Map.of("container", Map.of("command", List.of("/bin/httpd")))));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
    }

    private String rollout(String version) throws Exception {
        HttpResponse<String> r = post("/api/v1/rollouts", Map.of("app", "web", "version", version, "target", "label:site=lab",
                "waves", "1,100%", "onFailure", "rollback", "deviceTimeout", "30s"));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        return json.readTree(r.body()).path("id").asText();
    }

    private String state(String id) throws Exception {
        return get("/api/v1/rollouts/" + id).path("state").asText();
    }

    private JsonNode get(String path) throws Exception {
        return json.readTree(http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString()).body());
    }

    private HttpResponse<String> post(String path, Object body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
    }
}
