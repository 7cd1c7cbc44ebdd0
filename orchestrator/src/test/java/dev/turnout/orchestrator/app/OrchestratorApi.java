package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.security.OperatorToken;
import dev.turnout.orchestrator.sim.SimulatedImageArchive;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The HTTP API of an orchestrator process the test started on {@code data} (its operator token read from there). */
final class OrchestratorApi {

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Path data;
    private final int port;

    OrchestratorApi(Path data, int port) {
        this.data = data;
        this.port = port;
    }

    String server() {
        return "http://127.0.0.1:" + port;
    }

    String token() throws IOException {
        return OperatorToken.read(data.resolve(OperatorToken.FILE));
    }

    JsonNode get(String path) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(server() + path))
                .header("Authorization", "Bearer " + token()).build(), HttpResponse.BodyHandlers.ofString());
        return json.readTree(response.body());
    }

    JsonNode post(String path, Object body) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(server() + path))
                .header("Authorization", "Bearer " + token()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(path + ": " + response.body()).isIn(200, 201);
        return json.readTree(response.body());
    }

    /** Uploads a simulated image of web:{@code version} as an artifact; the answer, whatever it is. */
    HttpResponse<String> upload(String version) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(server() + "/api/v1/artifacts"))
                        .header("Authorization", "Bearer " + token())
                        .POST(HttpRequest.BodyPublishers.ofByteArray(SimulatedImageArchive.of("turnout-sim/web:" + version))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Uploads a simulated image of web:{@code version} and creates the release, as `turnout release create` does. */
    void release(String version) throws Exception {
        HttpResponse<String> uploaded = upload(version);
        assertThat(uploaded.statusCode()).as(uploaded.body()).isIn(200, 201);
        String digest = json.readTree(uploaded.body()).path("digest").asText();
        post("/api/v1/releases", Map.of("app", "web", "version", version,
                "images", List.of(Map.of("platform", "linux/arm64", "digest", digest)),
                "spec", Map.of("container", Map.of("command", List.of("/bin/httpd")))));
    }
}
