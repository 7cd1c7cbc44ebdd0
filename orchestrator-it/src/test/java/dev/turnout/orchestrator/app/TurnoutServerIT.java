package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.testsupport.Closer;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The orchestrator as a whole, on a real Mosquitto and on its embedded broker, with simulated
 * devices that speak the wire contract over MQTT.
 */
class TurnoutServerIT {


    @TempDir
    Path work;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Closer toClose = new Closer();
    private TurnoutServer server;

    @AfterEach
    void tearDown() {
        toClose.close();
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void rolloutsProgressOnStatusEventsOverMosquittoRollBackAndResumeAfterARestart() throws Exception {
        String brokerUrl = startMosquitto(work.resolve("mosquitto"));
        Path dataDir = work.resolve("server");
        server = start(dataDir, brokerUrl);
        assertThat(Files.getPosixFilePermissions(dataDir.resolve("signing.key"))).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        JsonNode info = getJson("/api/v1/server");
        assertThat(info.path("brokerUrl").asText()).isEqualTo(brokerUrl);
        assertThat(info.path("orchestratorUrl").asText()).isEqualTo("http://127.0.0.1:" + server.httpPort());
        PublicKey key = PublicKey.fromBase64(info.path("publicKey").asText());

        createReleases("1.0.0", "2.0.0");
        for (String id : List.of("it-a", "it-b", "it-c")) {
            enroll("{\"id\":\"" + id + "\"}");
        }
        ScriptedDevice a = device("it-a", key, Set.of("2.0.0"));
        ScriptedDevice b = device("it-b", key, Set.of());
        ScriptedDevice c = device("it-c", key, Set.of());
        await().atMost(Duration.ofSeconds(20)).until(() -> countOnline() == 3);

        String v1 = rollout("1.0.0", "1,50%,100%", "rollback");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(v1).equals("SUCCEEDED"));
        assertThat(List.of(a.running(), b.running(), c.running())).containsOnly("1.0.0");
        JsonNode deviceView = getJson("/api/v1/devices/it-b");
        assertThat(deviceView.path("apps").get(0).path("runningVersion").asText()).isEqualTo("1.0.0");
        assertThat(deviceView.path("apps").get(0).path("state").asText()).isEqualTo("ACTIVE");
        assertThat(deviceView.path("platform").asText()).isEqualTo("linux/arm64");

        // the canary fails 2.0.0 and rolls back by itself; the others are never activated
        String v2 = rollout("2.0.0", "1,100%", "rollback");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(v2).equals("ROLLED_BACK"));
        assertThat(a.running()).isEqualTo("1.0.0");
        assertThat(b.accepted()).noneMatch(s -> s.getApps(0).getRelease().getVersion().equals("2.0.0")
                && s.getApps(0).getPhase() == dev.turnout.proto.Phase.ACTIVATE);
        assertThat(a.accepted().get(a.accepted().size() - 1).getApps(0).getRollback()).isTrue();
        assertThat(getJson("/api/v1/rollouts/" + v2).path("reason").asText()).contains("HEALTH_CHECK_FAILED");

        // a status that claims another device is dropped
        long lastOfB = b.accepted().get(b.accepted().size() - 1).getSequence();
        a.publishSpoofedStatus("it-b", "9.9.9", lastOfB);

        // restart mid-rollout (waiting for approval of wave 2): no decision is made twice, the rollout resumes
        HttpResponse<String> created = post("/api/v1/rollouts", """
                {"app":"web","version":"2.0.0","target":"device:it-b,it-c","waves":"1,100%","approveEachWave":true}""");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        String v3 = json.readTree(created.body()).path("id").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> getJson("/api/v1/rollouts/" + v3).path("reason").asText()
                .equals("waiting for approval to start wave 2"));
        int acceptedByB = b.accepted().size();
        int acceptedByC = c.accepted().size();
        assertThat(c.running()).isEqualTo("1.0.0");
        server.close();
        server = start(dataDir, brokerUrl);
        assertThat(state(v3)).isEqualTo("RUNNING");
        assertThat(b.accepted()).hasSize(acceptedByB);
        assertThat(c.accepted()).hasSize(acceptedByC);
        assertThat(post("/api/v1/rollouts/" + v3 + "/approve", "").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> state(v3).equals("SUCCEEDED"));
        assertThat(List.of(b.running(), c.running())).containsOnly("2.0.0");
        assertThat(getJson("/api/v1/rollouts").path("rollouts")).hasSize(3);
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void embeddedBrokerCarriesARollout() throws Exception {
        int mqttPort = Ports.free();
        server = TurnoutServer.start(new ServerOptions(work.resolve("embedded"), 0, mqttPort, "127.0.0.1", null, "127.0.0.1",
                Topics.DEFAULT_PREFIX));
        toClose.add(() -> server.close());
        assertThat(server.brokerUrl()).isEqualTo("tcp://127.0.0.1:" + mqttPort);
        JsonNode info = getJson("/api/v1/server");
        assertThat(info.path("brokerUrl").asText()).isEqualTo("tcp://127.0.0.1:" + mqttPort);
        PublicKey key = PublicKey.fromBase64(info.path("publicKey").asText());
        createReleases("1.0.0");
        JsonNode enrolled = enroll("{\"id\":\"emb-1\",\"labels\":{\"site\":\"attic\"}}");
        assertThat(enrolled.path("config").asText()).contains("brokerUrl: tcp://127.0.0.1:" + mqttPort);
        ScriptedDevice device = device("emb-1", key, Set.of());
        String id = rollout("1.0.0", "100%", "rollback", "label:site=attic");
        await().atMost(Duration.ofSeconds(30)).until(() -> state(id).equals("SUCCEEDED"));
        assertThat(device.running()).isEqualTo("1.0.0");
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aPartThatCannotStartIsNamedAndThePartsStartedBeforeItStopAgain() throws Exception {
        int mqttPort = Ports.free();
        Path dataDir = work.resolve("busy");
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.0.1"))) {
            ServerOptions busy = new ServerOptions(dataDir, taken.getLocalPort(), mqttPort, "127.0.0.1", null, "127.0.0.1",
                    Topics.DEFAULT_PREFIX);
            assertThatThrownBy(() -> TurnoutServer.start(busy).close())
                    .hasMessageStartingWith("HTTP API on 127.0.0.1:" + taken.getLocalPort() + ": ")
                    .hasRootCauseInstanceOf(java.net.BindException.class);
        }
        // the embedded broker, the MQTT client and the stores were stopped: the same data and broker port start again
        server = TurnoutServer.start(new ServerOptions(dataDir, 0, mqttPort, "127.0.0.1", null, "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(() -> server.close());
        assertThat(server.brokerUrl()).isEqualTo("tcp://127.0.0.1:" + mqttPort);
        assertThat(getJson("/api/v1/health").path("status").asText()).isEqualTo("ok");
    }

    private TurnoutServer start(Path dataDir, String brokerUrl) throws Exception {
        TurnoutServer s = TurnoutServer.start(new ServerOptions(dataDir, 0, 0, "127.0.0.1", brokerUrl, "127.0.0.1",
                Topics.DEFAULT_PREFIX));
        toClose.add(() -> {
            if (server != null) {
                server.close();
                server = null;
            }
        });
        return s;
    }

    private final java.util.Map<String, String> passwords = new java.util.HashMap<>();

    /** Enrolls over the API and keeps the device's broker secret from its config. */
    private JsonNode enroll(String body) throws Exception {
        HttpResponse<String> response = post("/api/v1/devices", body);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(201);
        JsonNode enrolled = json.readTree(response.body());
        passwords.put(enrolled.path("device").path("id").asText(), ScriptedDevice.passwordOf(enrolled.path("config").asText()));
        return enrolled;
    }

    private ScriptedDevice device(String id, PublicKey key, Set<String> failing) throws Exception {
        ScriptedDevice d = new ScriptedDevice(id, passwords.get(id), server.brokerUrl(), Topics.defaults(), key, failing);
        toClose.add(d);
        return d;
    }

    private void createReleases(String... versions) throws Exception {
        for (String version : versions) {
            HttpResponse<String> uploaded = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/artifacts")).header("Authorization", "Bearer " + server.operatorToken())
                    .POST(HttpRequest.BodyPublishers.ofByteArray(DockerSaveArchives.of("demo/web:" + version, version).bytes())).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(uploaded.statusCode()).as(uploaded.body()).isEqualTo(201);
            String digest = json.readTree(uploaded.body()).path("digest").asText();
            HttpResponse<String> created = post("/api/v1/releases", """
                    {"app":"web","version":"%s","images":[{"platform":"linux/arm64","digest":"%s"}],
                     "spec":{"container":{"command":["/bin/httpd"],"restart":"unless-stopped"}}}""".formatted(version, digest));
            assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        }
    }

    private String rollout(String version, String waves, String onFailure) throws Exception {
        return rollout(version, waves, onFailure, "all");
    }

    private String rollout(String version, String waves, String onFailure, String target) throws Exception {
        HttpResponse<String> created = post("/api/v1/rollouts", """
                {"app":"web","version":"%s","target":"%s","waves":"%s","onFailure":"%s","deviceTimeout":"30s"}"""
                .formatted(version, target, waves, onFailure));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        return json.readTree(created.body()).path("id").asText();
    }

    private String state(String rolloutId) throws Exception {
        return getJson("/api/v1/rollouts/" + rolloutId).path("state").asText();
    }

    private long countOnline() throws Exception {
        long online = 0;
        for (JsonNode d : getJson("/api/v1/devices").path("devices")) {
            online += d.path("online").asBoolean() ? 1 : 0;
        }
        return online;
    }

    private JsonNode getJson(String path) throws Exception {
        return json.readTree(http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString()).body());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }





    private String startMosquitto(Path dir) throws Exception {
        Mosquitto mosquitto = Mosquitto.anonymous(dir);
        toClose.add(mosquitto);
        return mosquitto.url();
    }
}
