package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.engine.DesiredStates;
import dev.turnout.orchestrator.engine.FakeFleetTransport;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.security.IdentityStore;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.proto.crypto.SigningKey;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

class HttpApiTest {

    @TempDir
    Path data;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final SigningKey key = SigningKey.generate();
    private Vertx vertx;
    private SqliteFleetStore store;
    private IdentityStore identities;
    private BrokerAccess access;
    private ExecutorService engineThread;
    private String base;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        store = SqliteFleetStore.open(data);
        engineThread = Executors.newSingleThreadExecutor();
        FakeFleetTransport transport = new FakeFleetTransport(key.publicKey());
        Clock clock = Clock.systemUTC();
        RolloutEngine engine = new RolloutEngine(store, new DesiredStates(store, key, transport, clock), transport, clock);
        engineThread.submit(engine::start).get();
        ServerInfo info = new ServerInfo(key.keyId(), key.publicKey().toBase64(), "tcp://10.0.0.5:1883",
                "http://10.0.0.5:8080", "turnout/v1", "0.1.0");
        HttpApi api = new HttpApi(vertx, store, new ArtifactRepository(data.resolve("artifacts"), store), engine, engineThread,
                () -> info, clock, access = new BrokerAccess(identities = IdentityStore.open(data),
                        new OrchestratorIdentity("turnout-orchestrator-test", "orchestrator-secret"), clock));
        int port = api.listen("127.0.0.1", 0).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).actualPort();
        base = "http://127.0.0.1:" + port;
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        engineThread.shutdownNow();
        identities.close();
        store.close();
    }

    @Test
    void enrollmentIssuesASecretStoredOnlyAsAHashAndRevocationRemovesIt() throws Exception {
        HttpResponse<String> enrolled = post("/api/v1/devices", "{\"id\":\"pi-7\"}");
        assertThat(enrolled.statusCode()).as(enrolled.body()).isEqualTo(201);
        JsonNode config = new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                .readTree(body(enrolled).path("config").asText());
        assertThat(config.path("mqttUsername").asText()).isEqualTo("pi-7");
        String secret = config.path("mqttPassword").asText();
        assertThat(secret).matches("[A-Za-z0-9_-]{43}");
        assertThat(java.util.Base64.getUrlDecoder().decode(secret)).hasSize(32);
        assertThat(identities.find("pi-7").orElseThrow().secretHash()).startsWith("$argon2id$").doesNotContain(secret);
        assertThat(access.authenticate("pi-7", secret.getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                .contains(dev.turnout.broker.Role.DEVICE);
        assertThat(access.authenticate("pi-7", "wrong".getBytes(java.nio.charset.StandardCharsets.UTF_8))).isEmpty();

        // the orchestrator's names and control characters are never a device
        assertThat(post("/api/v1/devices", "{\"id\":\"turnout-orchestrator-test\"}").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/devices", "{\"id\":\"turnout-orchestrator-other\"}").statusCode()).isEqualTo(409);
        for (String bad : java.util.List.of("#", "+", "a/b", "pi\\u0000x", "pi\\u0007", "pi 1", "pi:1")) {
            assertThat(post("/api/v1/devices", "{\"id\":\"" + bad + "\"}").statusCode()).as(bad).isEqualTo(400);
        }

        HttpResponse<String> revoked = post("/api/v1/devices/pi-7/revoke", "");
        assertThat(revoked.statusCode()).as(revoked.body()).isEqualTo(200);
        assertThat(access.authenticate("pi-7", secret.getBytes(java.nio.charset.StandardCharsets.UTF_8))).isEmpty();
        assertThat(body(post("/api/v1/devices/pi-7/revoke", "")).path("alreadyRevoked").asBoolean()).isTrue();
        assertThat(post("/api/v1/devices/nope/revoke", "").statusCode()).isEqualTo(404);

        // enrolling a revoked device again re-admits it with a new secret; the old one stays dead
        HttpResponse<String> again = post("/api/v1/devices", "{\"id\":\"pi-7\"}");
        assertThat(again.statusCode()).as(again.body()).isEqualTo(201);
        String newSecret = SimulatedDeviceConfig.password(body(again).path("config").asText());
        assertThat(newSecret).isNotEqualTo(secret);
        assertThat(access.authenticate("pi-7", newSecret.getBytes(java.nio.charset.StandardCharsets.UTF_8))).isPresent();
        assertThat(access.authenticate("pi-7", secret.getBytes(java.nio.charset.StandardCharsets.UTF_8))).isEmpty();
        assertThat(post("/api/v1/devices", "{\"id\":\"pi-7\"}").statusCode()).isEqualTo(409);
        assertThat(body(get("/api/v1/audit")).toString()).contains("device.revoke");
    }

    private static final class SimulatedDeviceConfig {
        static String password(String yaml) throws Exception {
            return new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                    .readTree(yaml).path("mqttPassword").asText();
        }
    }

    @Test
    void monitorUsersAreCreatedOnceAndNeverCollideWithDevices() throws Exception {
        post("/api/v1/devices", "{\"id\":\"pi-8\"}");
        HttpResponse<String> added = post("/api/v1/users", "{\"name\":\"grafana\",\"role\":\"monitor\"}");
        assertThat(added.statusCode()).as(added.body()).isEqualTo(201);
        String secret = body(added).path("password").asText();
        assertThat(access.authenticate("grafana", secret.getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                .contains(dev.turnout.broker.Role.MONITOR);
        assertThat(post("/api/v1/users", "{\"name\":\"grafana\",\"role\":\"monitor\"}").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/users", "{\"name\":\"pi-8\",\"role\":\"monitor\"}").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/devices", "{\"id\":\"grafana\"}").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/users", "{\"name\":\"x\",\"role\":\"orchestrator\"}").statusCode()).isEqualTo(400);
        assertThat(body(get("/api/v1/users")).toString()).contains("grafana", "monitor", "turnout-orchestrator-test")
                .doesNotContain(secret);
        assertThat(post("/api/v1/users/grafana/revoke", "").statusCode()).isEqualTo(200);
        assertThat(access.authenticate("grafana", secret.getBytes(java.nio.charset.StandardCharsets.UTF_8))).isEmpty();
    }

    @Test
    void healthAndServerInfo() throws Exception {
        assertThat(get("/api/v1/health").body()).contains("\"status\":\"ok\"");
        JsonNode server = body(get("/api/v1/server"));
        assertThat(server.path("keyId").asText()).isEqualTo(key.keyId());
        assertThat(server.path("publicKey").asText()).isEqualTo(key.publicKey().toBase64());
        assertThat(server.path("brokerUrl").asText()).isEqualTo("tcp://10.0.0.5:1883");
    }

    @Test
    void uploadsServesWithRangesAndDeduplicatesArtifacts() throws Exception {
        DockerSaveArchives.Archive archive = DockerSaveArchives.of("demo/web:1.0.0", "one");
        HttpResponse<String> created = upload(archive.bytes());
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        JsonNode artifact = body(created);
        String digest = "sha256:" + DockerSaveArchives.sha256(archive.bytes());
        assertThat(artifact.path("digest").asText()).isEqualTo(digest);
        assertThat(artifact.path("size").asLong()).isEqualTo(archive.bytes().length);
        assertThat(artifact.path("imageId").asText()).isEqualTo("sha256:" + archive.configSha256());
        assertThat(artifact.path("imageRef").asText()).isEqualTo("demo/web:1.0.0");
        assertThat(upload(archive.bytes()).statusCode()).isEqualTo(200);

        HttpResponse<byte[]> whole = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + digest)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(whole.body()).isEqualTo(archive.bytes());
        assertThat(whole.headers().firstValue("Accept-Ranges")).hasValue("bytes");

        HttpResponse<byte[]> rest = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + digest))
                .header("Range", "bytes=100-").build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(rest.statusCode()).isEqualTo(206);
        assertThat(rest.body()).isEqualTo(Arrays.copyOfRange(archive.bytes(), 100, archive.bytes().length));
        assertThat(rest.headers().firstValue("Content-Range"))
                .hasValue("bytes 100-" + (archive.bytes().length - 1) + "/" + archive.bytes().length);

        HttpResponse<Void> head = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + digest))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding());
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValueAsLong("Content-Length")).hasValue(archive.bytes().length);

        assertThat(get("/api/v1/artifacts/sha256:" + "0".repeat(64)).statusCode()).isEqualTo(404);
        assertThat(get("/api/v1/artifacts/nonsense").statusCode()).isEqualTo(404);
    }

    @Test
    void refusesWhatIsNotADockerSaveArchiveAndKeepsNothing() throws Exception {
        HttpResponse<String> refused = upload("just some text, not a tar".repeat(100).getBytes());
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(body(refused).path("error").asText()).contains("not a docker save archive");
        try (Stream<Path> files = Files.walk(data.resolve("artifacts"))) {
            assertThat(files.filter(Files::isRegularFile)).isEmpty();
        }
    }

    @Test
    void releasesDevicesAndRolloutsFollowTheContract() throws Exception {
        String digest = body(upload(DockerSaveArchives.of("demo/web:1.0.0", "one").bytes())).path("digest").asText();
        String release = """
                {"app":"web","version":"1.0.0","images":[{"platform":"linux/arm64","digest":"%s"}],
                 "spec":{"container":{"command":["/bin/httpd","-f"],"restart":"unless-stopped","network":"none"},
                         "health":{"exec":["/bin/true"],"interval":"1s","timeout":"2s","retries":3,"soak":"5s"}}}
                """.formatted(digest);
        HttpResponse<String> created = post("/api/v1/releases", release);
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        assertThat(body(created).path("images").get(0).path("imageRef").asText()).isEqualTo("demo/web:1.0.0");
        assertThat(post("/api/v1/releases", release).statusCode()).isEqualTo(409);
        assertThat(get("/api/v1/releases/web/1.0.0").statusCode()).isEqualTo(200);
        assertThat(get("/api/v1/releases/web/9.0.0").statusCode()).isEqualTo(404);

        HttpResponse<String> badSpec = post("/api/v1/releases", release.replace("1.0.0", "1.0.1").replace("unless-stopped", "sometimes"));
        assertThat(badSpec.statusCode()).isEqualTo(400);
        assertThat(body(badSpec).path("error").asText()).contains("spec.container.restart");
        HttpResponse<String> typo = post("/api/v1/releases", release.replace("1.0.0", "1.0.1").replace("\"retries\"", "\"retry\""));
        assertThat(typo.statusCode()).isEqualTo(400);
        assertThat(body(typo).path("error").asText()).contains("spec.health.retry");
        HttpResponse<String> unknownDigest = post("/api/v1/releases", release.replace("1.0.0", "1.0.1").replace(digest, "sha256:" + "9".repeat(64)));
        assertThat(unknownDigest.statusCode()).isEqualTo(400);
        assertThat(body(unknownDigest).path("error").asText()).contains("unknown artifact digest");
        assertThat(post("/api/v1/releases", release.replace("1.0.0", "one")).statusCode()).isEqualTo(400);
        assertThat(post("/api/v1/releases", "{not json").statusCode()).isEqualTo(400);

        HttpResponse<String> enrolled = post("/api/v1/devices", "{\"id\":\"pi-1\",\"labels\":{\"site\":\"attic\"},\"groups\":[\"yard\"]}");
        assertThat(enrolled.statusCode()).as(enrolled.body()).isEqualTo(201);
        String config = body(enrolled).path("config").asText();
        assertThat(config).contains("deviceId: pi-1", "brokerUrl: tcp://10.0.0.5:1883", "orchestratorUrl: http://10.0.0.5:8080",
                "topicPrefix: turnout/v1", "keyId: " + key.keyId(), key.publicKey().toBase64(), "site: attic");
        assertThat(body(enrolled).path("device").path("groups").get(0).asText()).isEqualTo("yard");
        assertThat(post("/api/v1/devices", "{\"id\":\"pi-1\"}").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/devices", "{\"id\":\"pi/1\"}").statusCode()).isEqualTo(400);
        assertThat(post("/api/v1/devices", "{\"id\":\"" + "x".repeat(65) + "\"}").statusCode()).isEqualTo(400);
        post("/api/v1/devices", "{\"id\":\"pi-0\"}");
        JsonNode devices = body(get("/api/v1/devices")).path("devices");
        assertThat(devices.get(0).path("id").asText()).isEqualTo("pi-0");
        assertThat(get("/api/v1/devices/pi-9").statusCode()).isEqualTo(404);

        HttpResponse<String> dryRun = post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"waves\":\"1,100%\",\"dryRun\":true}");
        assertThat(dryRun.statusCode()).as(dryRun.body()).isEqualTo(200);
        assertThat(body(dryRun).path("waves")).hasSize(2);
        assertThat(body(get("/api/v1/rollouts")).path("rollouts")).isEmpty();

        assertThat(post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"7.0.0\"}").statusCode()).isEqualTo(404);
        assertThat(post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"waves\":\"1,x\"}").statusCode()).isEqualTo(400);
        assertThat(post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"group:none\"}").statusCode()).isEqualTo(400);

        HttpResponse<String> rollout = post("/api/v1/rollouts",
                "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"all\",\"waves\":\"1,100%\",\"onFailure\":\"rollback\",\"soak\":\"1s\"}");
        assertThat(rollout.statusCode()).as(rollout.body()).isEqualTo(201);
        JsonNode r = body(rollout);
        String id = r.path("id").asText();
        assertThat(id).startsWith("r-");
        assertThat(r.path("state").asText()).isEqualTo("RUNNING");
        assertThat(r.path("terminal").asBoolean()).isFalse();
        assertThat(r.path("currentWave").asInt()).isEqualTo(1);
        assertThat(r.path("strategy").path("onFailure").asText()).isEqualTo("rollback");
        assertThat(r.path("waves").get(0).path("state").asText()).isEqualTo("ACTIVATING");
        assertThat(r.path("waves").get(0).path("counts").path("activating").asInt()).isEqualTo(1);
        assertThat(r.path("devices").get(0).path("id").asText()).isEqualTo("pi-0");
        assertThat(body(get("/api/v1/rollouts/" + id)).path("id").asText()).isEqualTo(id);
        assertThat(get("/api/v1/rollouts/r-nothing").statusCode()).isEqualTo(404);
        assertThat(body(get("/api/v1/devices/pi-0")).path("apps").get(0).path("phase").asText()).isEqualTo("ACTIVATE");

        assertThat(body(post("/api/v1/rollouts/" + id + "/pause", "")).path("state").asText()).isEqualTo("PAUSED");
        assertThat(post("/api/v1/rollouts/" + id + "/pause", "").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/rollouts/" + id + "/approve", "").statusCode()).isEqualTo(409);
        assertThat(body(post("/api/v1/rollouts/" + id + "/resume", "")).path("state").asText()).isEqualTo("RUNNING");
        JsonNode aborted = body(post("/api/v1/rollouts/" + id + "/abort", ""));
        assertThat(aborted.path("state").asText()).isEqualTo("ABORTED");
        assertThat(aborted.path("terminal").asBoolean()).isTrue();
        assertThat(post("/api/v1/rollouts/" + id + "/resume", "").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/rollouts/r-nothing/pause", "").statusCode()).isEqualTo(404);
    }

    private HttpResponse<String> upload(byte[] bytes) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts"))
                .header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void auditTrailFiltersByDeviceOrRollout() throws Exception {
        assertThat(post("/api/v1/devices", "{\"id\":\"pi-7\"}").statusCode()).isEqualTo(201);
        assertThat(post("/api/v1/devices", "{\"id\":\"pi-8\"}").statusCode()).isEqualTo(201);
        store.appendAudit(new dev.turnout.orchestrator.store.AuditEntry(java.time.Instant.now(), "pi-7", "device.status",
                "pi-7", "web:1.0.0 ACTIVE seq 1"));

        JsonNode all = body(get("/api/v1/audit"));
        assertThat(all.path("entries")).hasSize(3);
        JsonNode about = body(get("/api/v1/audit?subject=pi-7"));
        assertThat(about.path("entries")).hasSize(2);
        assertThat(about.path("entries").get(0).path("action").asText()).isEqualTo("device.status");
        assertThat(about.path("entries").get(1).path("action").asText()).isEqualTo("device.enroll");
        assertThat(body(get("/api/v1/audit?subject=nobody")).path("entries")).isEmpty();
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode body(HttpResponse<String> response) throws Exception {
        return json.readTree(response.body());
    }
}
