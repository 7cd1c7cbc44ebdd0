package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.testsupport.Closer;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A running orchestrator on its embedded broker plus simulated devices, driven over its real HTTP
 * API; closes everything it started.
 */
final class TestFleet implements AutoCloseable {

    final TurnoutServer server;
    final HttpClient http = HttpClient.newHttpClient();
    final ObjectMapper json = new ObjectMapper();
    private final PublicKey key;
    private final Closer toClose = new Closer();

    private TestFleet(TurnoutServer server) throws Exception {
        this.server = server;
        this.key = PublicKey.fromBase64(getJson("/api/v1/server").path("publicKey").asText());
    }

    static TestFleet start(Path dataDir) throws Exception {
        return start(dataDir, dev.turnout.orchestrator.webhook.RetryPolicy.DEFAULT);
    }

    /** A fleet whose webhook deliveries follow {@code webhooks}. */
    static TestFleet start(Path dataDir, dev.turnout.orchestrator.webhook.RetryPolicy webhooks) throws Exception {
        TurnoutServer server = TurnoutServer.start(new ServerOptions(dataDir, 0, 0, "127.0.0.1", null, "127.0.0.1",
                Topics.DEFAULT_PREFIX), ClusterOptions.single(), webhooks);
        try {
            return new TestFleet(server);
        } catch (Exception | Error e) {
            server.close();
            throw e;
        }
    }

    String url() {
        return server.url();
    }

    /** Enrolls a device with labels and connects a simulated device for it. */
    ScriptedDevice device(String id, Map<String, String> labels, Set<String> failingVersions) throws Exception {
        HttpResponse<String> enrolled = post("/api/v1/devices", json.writeValueAsString(Map.of("id", id, "labels", labels)));
        assertThat(enrolled.statusCode()).as(enrolled.body()).isEqualTo(201);
        String password = ScriptedDevice.passwordOf(json.readTree(enrolled.body()).path("config").asText());
        ScriptedDevice d = new ScriptedDevice(id, password, server.brokerUrl(), Topics.defaults(), key, failingVersions);
        toClose.add(d);
        return d;
    }

    void createReleases(String... versions) throws Exception {
        for (String version : versions) {
            HttpResponse<String> uploaded = http.send(HttpRequest.newBuilder(URI.create(url() + "/api/v1/artifacts")).header("Authorization", "Bearer " + server.operatorToken())
                            .POST(HttpRequest.BodyPublishers.ofByteArray(DockerSaveArchives.of("demo/web:" + version, version).bytes())).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(uploaded.statusCode()).as(uploaded.body()).isIn(200, 201);
            String digest = json.readTree(uploaded.body()).path("digest").asText();
            HttpResponse<String> created = post("/api/v1/releases", """
                    {"app":"web","version":"%s","images":[{"platform":"linux/arm64","digest":"%s"}],
                     "spec":{"container":{"command":["/bin/httpd"],"restart":"unless-stopped"}}}""".formatted(version, digest));
            assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        }
    }

    /** Creates a rollout of web:{@code version} and returns its id. */
    String rollout(String version, String waves, String onFailure, boolean approveEachWave) throws Exception {
        return rollout(version, waves, onFailure, approveEachWave, "0");
    }

    /** Creates a rollout of web:{@code version} tolerating {@code maxFailures} and returns its id. */
    String rollout(String version, String waves, String onFailure, boolean approveEachWave, String maxFailures) throws Exception {
        HttpResponse<String> created = post("/api/v1/rollouts", """
                {"app":"web","version":"%s","target":"all","waves":"%s","onFailure":"%s","deviceTimeout":"30s",
                 "approveEachWave":%s,"maxFailures":"%s"}"""
                .formatted(version, waves, onFailure, approveEachWave, maxFailures));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        return json.readTree(created.body()).path("id").asText();
    }

    String state(String rolloutId) throws Exception {
        return getJson("/api/v1/rollouts/" + rolloutId).path("state").asText();
    }

    long countOnline() throws Exception {
        long online = 0;
        for (JsonNode d : getJson("/api/v1/devices").path("devices")) {
            online += d.path("online").asBoolean() ? 1 : 0;
        }
        return online;
    }

    String get(String path) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url() + path)).header("Authorization", "Bearer " + server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(path + ": " + response.body()).isEqualTo(200);
        return response.body();
    }

    JsonNode getJson(String path) throws Exception {
        return json.readTree(get(path));
    }

    HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url() + path)).header("Authorization", "Bearer " + server.operatorToken()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Override
    public void close() {
        toClose.close();
        server.close();
    }


}
