package dev.turnout.orchestrator.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Simulated devices against a real orchestrator on its embedded broker, over real HTTP and MQTT. */
class SimulatedFleetIT {

    @TempDir
    Path data;

    private TurnoutServer server;
    private SimulatedFleet fleet;
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    @BeforeEach
    void startServer() throws Exception {
        server = TurnoutServer.start(new ServerOptions(data, 0, 0, "127.0.0.1", null, "127.0.0.1", Topics.DEFAULT_PREFIX));
    }

    @AfterEach
    void stop() {
        if (fleet != null) {
            fleet.close();
        }
        server.close();
    }

    @Test
    void enrolledDevicesComeOnlineStageActivateAndRollBackAFailingVersion() throws Exception {
        fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(6).withApplyTime(Duration.ofMillis(200))
                .withFailingVersions(Set.of("3.0.0")).withHealthInterval(Duration.ofMillis(300)), Duration.ofSeconds(60));

        await().atMost(Duration.ofSeconds(20)).until(() -> onlineIds().size() == 6);
        JsonNode device = get("/api/v1/devices/sim-0001");
        assertThat(device.path("labels").path("simulated").asText()).isEqualTo("true");
        assertThat(device.path("platform").asText()).isEqualTo("linux/arm64");

        release("1.0.0");
        release("3.0.0");
        String v1 = rollout("1.0.0", "1,50%,100%");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(v1).equals("SUCCEEDED"));
        assertThat(fleet.runningCount("web", "1.0.0")).isEqualTo(6);
        for (JsonNode d : get("/api/v1/devices").path("devices")) {
            assertThat(d.path("apps").get(0).path("runningVersion").asText()).as(d.toString()).isEqualTo("1.0.0");
        }

        String v3 = rollout("3.0.0", "1,100%");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(v3).equals("ROLLED_BACK"));
        JsonNode rolledBack = get("/api/v1/rollouts/" + v3);
        List<String> failed = new ArrayList<>();
        for (JsonNode d : rolledBack.path("devices")) {
            if (d.path("state").asText().equals("ROLLED_BACK") || d.path("state").asText().equals("FAILED")) {
                failed.add(d.path("id").asText());
            }
        }
        assertThat(failed).hasSize(1); // only the canary was ever activated
        assertThat(fleet.runningCount("web", "1.0.0")).isEqualTo(6);
        assertThat(get("/api/v1/fleet/health").path("devices").size()).isEqualTo(6);
    }

    @Test
    void aFlappingDeviceGoesOfflineThroughItsLastWillAndComesBack() throws Exception {
        fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(2).withIdPrefix("flap")
                .withFlapping(1.0, Duration.ofMillis(500), Duration.ofSeconds(2)), Duration.ofSeconds(60));

        await().atMost(Duration.ofSeconds(20)).until(() -> onlineIds().size() < 2);
        await().atMost(Duration.ofSeconds(20)).until(() -> onlineIds().size() == 2);
    }

    @Test
    void aRunEnrollingTheSameIdsAgainStillConnects() throws Exception {
        SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(2).withIdPrefix("again"), Duration.ofSeconds(60)).close();
        fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(2).withIdPrefix("again"), Duration.ofSeconds(60));
        await().atMost(Duration.ofSeconds(20)).until(() -> onlineIds().size() == 2);
    }

    private List<String> onlineIds() throws Exception {
        List<String> ids = new ArrayList<>();
        for (JsonNode d : get("/api/v1/devices").path("devices")) {
            if (d.path("online").asBoolean()) {
                ids.add(d.path("id").asText());
            }
        }
        return ids;
    }

    private void release(String version) throws Exception {
        HttpResponse<String> uploaded = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/artifacts")).header("Authorization", "Bearer " + server.operatorToken())
                .POST(HttpRequest.BodyPublishers.ofByteArray(SimulatedImageArchive.of("turnout-sim/web:" + version))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(uploaded.statusCode()).as(uploaded.body()).isIn(200, 201);
        String digest = json.readTree(uploaded.body()).path("digest").asText();
        HttpResponse<String> created = post("/api/v1/releases", Map.of("app", "web", "version", version,
                "images", List.of(Map.of("platform", "linux/arm64", "digest", digest)),
                "spec", Map.of("container", Map.of("command", List.of("/bin/httpd")))));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    }

    private String rollout(String version, String waves) throws Exception {
        HttpResponse<String> created = post("/api/v1/rollouts", Map.of("app", "web", "version", version, "target", "all",
                "waves", waves, "onFailure", "rollback", "deviceTimeout", "30s"));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        return json.readTree(created.body()).path("id").asText();
    }

    private String state(String rolloutId) throws Exception {
        return get("/api/v1/rollouts/" + rolloutId).path("state").asText();
    }

    private JsonNode get(String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }

    private HttpResponse<String> post(String path, Object body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
    }
}
