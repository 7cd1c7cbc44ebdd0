package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.testsupport.TestImageArchives;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.domain.ImageBlob;
import dev.turnout.orchestrator.engine.DesiredStates;
import dev.turnout.orchestrator.engine.FakeFleetTransport;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.enroll.FleetEnrollment;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.store.IdentityStore;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.sim.DeviceEnrollment;
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
import java.util.List;
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
    private dev.turnout.orchestrator.security.OperatorToken token;
    /** What the server serves: null as in the moment between listening and knowing its port. */
    private final java.util.concurrent.atomic.AtomicReference<ServerInfo> served = new java.util.concurrent.atomic.AtomicReference<>();

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
        served.set(info);
        token = dev.turnout.orchestrator.security.OperatorToken.loadOrCreate(data);
        access = new BrokerAccess(identities = IdentityStore.open(data),
                new OrchestratorIdentity("turnout-orchestrator-test", "orchestrator-secret"), clock);
        ApiAuth auth = new ApiAuth(vertx, token, new dev.turnout.orchestrator.security.BasicCredentials(identities),
                new dev.turnout.orchestrator.security.OperatorAccounts(store, store, clock), clock);
        HttpApi api = new HttpApi(vertx, store, new ArtifactRepository(data.resolve("artifacts"), store), engine, engineThread,
                served::get, clock, new FleetEnrollment(store, access, clock), auth);
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
        assertThat(identities.find("pi-7").orElseThrow().secretHash()).startsWith("$hmac-sha256$v=1$").doesNotContain(secret);
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
        String newSecret = DeviceEnrollment.parse(body(again).path("config").asText()).mqttPassword();
        assertThat(newSecret).isNotEqualTo(secret);
        assertThat(access.authenticate("pi-7", newSecret.getBytes(java.nio.charset.StandardCharsets.UTF_8))).isPresent();
        assertThat(access.authenticate("pi-7", secret.getBytes(java.nio.charset.StandardCharsets.UTF_8))).isEmpty();
        assertThat(post("/api/v1/devices", "{\"id\":\"pi-7\"}").statusCode()).isEqualTo(409);
        assertThat(body(get("/api/v1/audit")).toString()).contains("device.revoke");
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
    void aRequestWhileTheServerStartsIsToldToComeBackNotFailed() throws Exception {
        ServerInfo info = served.getAndSet(null);
        HttpResponse<String> health = get("/api/v1/health");
        assertThat(health.statusCode()).isEqualTo(503);
        assertThat(health.headers().firstValue("Retry-After")).hasValue("1");
        assertThat(health.body()).contains("starting");
        assertThat(get("/api/v1/server").statusCode()).isEqualTo(503);

        served.set(info);
        assertThat(get("/api/v1/health").statusCode()).isEqualTo(200);
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
        String digest = artifact.path("digest").asText();
        assertThat(artifact.path("platform").asText()).isEqualTo("linux/arm64");
        assertThat(artifact.path("imageId").asText()).isEqualTo("sha256:" + archive.configSha256());
        assertThat(artifact.path("manifestDigest").asText()).matches("sha256:[0-9a-f]{64}");
        assertThat(artifact.path("layers")).hasSize(1);
        assertThat(artifact.path("imageRef").asText()).isEqualTo("demo/web:1.0.0");
        assertThat(artifact.path("images")).singleElement().satisfies(i -> assertThat(i.path("digest").asText()).isEqualTo(digest));
        assertThat(upload(archive.bytes()).statusCode()).as("the same image again").isEqualTo(200);

        HttpResponse<byte[]> whole = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + digest)).header("Authorization", "Bearer " + token.value()).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat("sha256:" + DockerSaveArchives.sha256(whole.body())).as("content-addressed").isEqualTo(digest);
        assertThat(whole.body().length).isEqualTo(artifact.path("size").asLong());
        assertThat(new String(whole.body(), java.nio.charset.StandardCharsets.ISO_8859_1))
                .as("stored as the OCI layout both image stores load").contains("oci-layout", "index.json", "manifest.json");
        assertThat(whole.headers().firstValue("Accept-Ranges")).hasValue("bytes");
        byte[] stored = whole.body();

        HttpResponse<byte[]> rest = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + digest)).header("Authorization", "Bearer " + token.value())
                .header("Range", "bytes=100-").build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(rest.statusCode()).isEqualTo(206);
        assertThat(rest.body()).isEqualTo(Arrays.copyOfRange(stored, 100, stored.length));
        assertThat(rest.headers().firstValue("Content-Range"))
                .hasValue("bytes 100-" + (stored.length - 1) + "/" + stored.length);

        HttpResponse<Void> head = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + digest)).header("Authorization", "Bearer " + token.value())
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding());
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValueAsLong("Content-Length")).hasValue(stored.length);

        assertThat(get("/api/v1/artifacts/sha256:" + "0".repeat(64)).statusCode()).isEqualTo(404);
        assertThat(get("/api/v1/artifacts/nonsense").statusCode()).isEqualTo(404);
    }

    @Test
    void aMultiPlatformArchiveBecomesOneArtifactPerPlatformAndAReleaseTakesEachForItsOwnPlatform() throws Exception {
        TestImageArchives.Built amd64 = TestImageArchives.image("linux/amd64", "x86 build", true);
        TestImageArchives.Built armv7 = TestImageArchives.image("linux/arm/v7", "pi build", true);
        Path multi = TestImageArchives.write(TestImageArchives.multiPlatform("trains/controller:2.0.0", List.of(amd64, armv7),
                List.of("linux/amd64", "linux/arm/v7")), data.resolve("multi.tar"));
        JsonNode uploaded = body(upload(Files.readAllBytes(multi)));
        assertThat(uploaded.path("images")).extracting(i -> i.path("platform").asText()).containsExactly("linux/amd64", "linux/arm/v7");
        assertThat(uploaded.path("images")).extracting(i -> i.path("manifestDigest").asText())
                .as("each platform keeps the manifest digest it was built with").containsExactly(amd64.manifestDigest(), armv7.manifestDigest());
        String amd64Digest = uploaded.path("images").get(0).path("digest").asText();
        String armDigest = uploaded.path("images").get(1).path("digest").asText();

        String release = """
                {"app":"trains","version":"2.0.0","images":[{"platform":"%s","digest":"%s"},{"platform":"%s","digest":"%s"}],
                 "spec":{"container":{"network":"none"}}}
                """;
        HttpResponse<String> swapped = post("/api/v1/releases", release.formatted("linux/amd64", armDigest, "linux/arm/v7", amd64Digest));
        assertThat(swapped.statusCode()).isEqualTo(400);
        assertThat(body(swapped).path("error").asText()).contains("holds an image for linux/arm/v7, not linux/amd64");
        HttpResponse<String> created = post("/api/v1/releases", release.formatted("linux/amd64", amd64Digest, "linux/arm/v7", armDigest));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        assertThat(body(created).path("images").get(1).path("imageId").asText()).isEqualTo(armv7.configDigest());

        HttpResponse<byte[]> armPart = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + armDigest))
                .header("Authorization", "Bearer " + token.value()).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(new String(armPart.body(), java.nio.charset.StandardCharsets.ISO_8859_1))
                .as("a Pi downloads its own platform's part, never the other's layers")
                .contains(TestImageArchives.blob(armv7.configDigest())).doesNotContain(TestImageArchives.blob(amd64.configDigest()));
    }

    @Test
    void refusesWhatIsNotAnImageArchiveAndKeepsNothing() throws Exception {
        HttpResponse<String> refused = upload("just some text, not a tar".repeat(100).getBytes());
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(body(refused).path("error").asText()).contains("not an image archive");
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

    @Test
    void removingAnAppSignsARemovalForTheDevicesThatHaveItAndRefusesBadInputChangingNothing() throws Exception {
        release("web", "1.0.0");
        enroll("pi-1");
        enroll("pi-2");
        assertThat(send("POST", "/api/v1/apps/web/remove", "{\"target\":\"all\"}", null).statusCode()).isEqualTo(401);
        HttpResponse<String> nobody = post("/api/v1/apps/web/remove", "{\"target\":\"all\"}");
        assertThat(nobody.statusCode()).as("no device has web yet").isEqualTo(404);
        assertThat(post("/api/v1/apps/web/remove", "{}").statusCode()).as("the target is required").isEqualTo(400);
        assertThat(post("/api/v1/apps/web/remove", "{\"target\":\"planet:mars\"}").statusCode()).isEqualTo(400);
        assertThat(store.findDesired("pi-1")).as("nothing signed").isEmpty();

        HttpResponse<String> deploy = post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"waves\":\"100%\"}");
        assertThat(deploy.statusCode()).as(deploy.body()).isEqualTo(201);
        HttpResponse<String> busy = post("/api/v1/apps/web/remove", "{\"target\":\"device:pi-1\"}");
        assertThat(busy.statusCode()).as("the rollout holds pi-1").isEqualTo(409);
        assertThat(body(busy).path("error").asText()).contains("abort it first");
        post("/api/v1/rollouts/" + body(deploy).path("id").asText() + "/abort", "");

        HttpResponse<String> removed = send("POST", "/api/v1/apps/web/remove", "{\"target\":\"device:pi-1\"}", "Bearer " + token.value(),
                "ana");
        assertThat(removed.statusCode()).as(removed.body()).isEqualTo(200);
        assertThat(body(removed).path("devices").toString()).isEqualTo("[\"pi-1\"]");
        assertThat(store.findDesired("pi-1").orElseThrow().app("web").removes()).isTrue();
        assertThat(store.findDesired("pi-2").orElseThrow().app("web").removes()).isFalse();
        JsonNode pi1 = body(get("/api/v1/devices/pi-1"));
        assertThat(pi1.path("apps").get(0).path("phase").asText()).isEqualTo("REMOVE");
        assertThat(pi1.path("apps").get(0).path("desiredVersion").isNull()).isTrue();
        assertThat(body(post("/api/v1/apps/web/remove", "{\"target\":\"device:pi-1\"}")).path("alreadyRemoved").toString())
                .isEqualTo("[\"pi-1\"]");
    }

    @Test
    void theRollbackFloorOnlyRisesRefusesOlderRolloutsAndIsSignedIntoDesiredStates() throws Exception {
        release("web", "1.0.0");
        release("web", "2.0.0");
        release("web", "3.0.0");
        enroll("pi-1");
        assertThat(body(get("/api/v1/apps/web/floor")).path("floor").isNull()).isTrue();
        assertThat(send("PUT", "/api/v1/apps/web/floor", "{\"version\":\"2.0.0\"}", null).statusCode()).isEqualTo(401);

        // a deployer raises the floor; the audit names her
        assertThat(post("/api/v1/operators", "{\"name\":\"ana\",\"role\":\"deployer\",\"password\":\"ana-long-password\"}")
                .statusCode()).isEqualTo(201);
        String ana = "Bearer " + body(send("POST", "/api/v1/tokens", "{\"name\":\"ana\",\"password\":\"ana-long-password\"}", null))
                .path("token").asText();
        HttpResponse<String> set = send("PUT", "/api/v1/apps/web/floor", "{\"version\":\"2.0.0\"}", ana, null);
        assertThat(set.statusCode()).as(set.body()).isEqualTo(200);
        assertThat(body(set).path("floor").asText()).isEqualTo("2.0.0");
        assertThat(body(set).path("changed").asBoolean()).isTrue();
        assertThat(body(get("/api/v1/apps/web/floor")).path("floor").asText()).isEqualTo("2.0.0");
        assertThat(body(send("PUT", "/api/v1/apps/web/floor", "{\"version\":\"2.0.0\"}", "Bearer " + token.value()))
                .path("changed").asBoolean()).isFalse();
        assertThat(send("PUT", "/api/v1/apps/web/floor", "{\"version\":\"9.0.0\"}", "Bearer " + token.value()).statusCode())
                .as("a floor names a release").isEqualTo(404);
        assertThat(send("PUT", "/api/v1/apps/web/floor", "{\"version\":\"two\"}", "Bearer " + token.value()).statusCode()).isEqualTo(400);
        HttpResponse<String> lower = send("PUT", "/api/v1/apps/web/floor", "{\"version\":\"1.0.0\"}", "Bearer " + token.value());
        assertThat(lower.statusCode()).isEqualTo(409);
        assertThat(body(lower).path("error").asText()).contains("the rollback floor of web is 2.0.0", "--force");

        HttpResponse<String> rollback = post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"rollback\":true}");
        assertThat(rollback.statusCode()).isEqualTo(409);
        assertThat(body(rollback).path("error").asText()).isEqualTo("rollback to web:1.0.0 is below the rollback floor 2.0.0 of web"
                + " (turnout app floor); choose 2.0.0 or newer");
        HttpResponse<String> deploy = post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\"}");
        assertThat(deploy.statusCode()).isEqualTo(409);
        assertThat(body(deploy).path("error").asText()).startsWith("deploy of web:1.0.0 is below the rollback floor 2.0.0");
        assertThat(store.findDesired("pi-1")).as("nothing signed for the device").isEmpty();
        assertThat(body(get("/api/v1/rollouts")).path("rollouts")).isEmpty();

        HttpResponse<String> upgrade = post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"3.0.0\",\"waves\":\"100%\"}");
        assertThat(upgrade.statusCode()).as(upgrade.body()).isEqualTo(201);
        byte[] envelope = store.findDesired("pi-1").orElseThrow().envelope();
        dev.turnout.proto.DesiredState signed = dev.turnout.proto.DesiredState.parseFrom(
                dev.turnout.proto.SignedEnvelope.parseFrom(envelope).getPayload());
        assertThat(signed.getApps(0).getMinVersion()).as("the floor travels signed with the app").isEqualTo("2.0.0");

        HttpResponse<String> forced = send("PUT", "/api/v1/apps/web/floor", "{\"version\":\"1.0.0\",\"force\":true}",
                "Bearer " + token.value());
        assertThat(forced.statusCode()).as(forced.body()).isEqualTo(200);
        JsonNode audit = body(get("/api/v1/audit?subject=web")).path("entries");
        assertThat(audit).hasSize(2);
        assertThat(audit.get(0).path("action").asText()).isEqualTo("app.floor");
        assertThat(audit.get(0).path("detail").asText()).isEqualTo("2.0.0 -> 1.0.0 (forced)");
        assertThat(audit.get(1).path("detail").asText()).isEqualTo("none -> 2.0.0");
        assertThat(audit.get(1).path("actor").asText()).isEqualTo("ana");
        assertThat(audit.get(0).path("actor").asText()).as("the operator token acts as the built-in admin").isEqualTo("admin");
    }

    private HttpResponse<String> upload(byte[] bytes) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts")).header("Authorization", "Bearer " + token.value())
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

    // ---- authentication and authorisation (docs/security.md, "HTTP API") ------------------------

    @Test
    void everyRouteButLivenessAndServerInfoRefusesACallerWithoutTheOperatorToken() throws Exception {
        ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logs = new ch.qos.logback.core.read.ListAppender<>();
        logs.start();
        root.addAppender(logs);
        String wrong = dev.turnout.orchestrator.security.Secrets.newSecret();
        try {
            String[][] routes = {
                    {"POST", "/api/v1/devices", "{\"id\":\"intruder\"}"}, {"GET", "/api/v1/devices", null},
                    {"GET", "/api/v1/devices/pi-1", null}, {"POST", "/api/v1/devices/pi-1/revoke", ""},
                    {"POST", "/api/v1/users", "{\"name\":\"spy\",\"role\":\"monitor\"}"}, {"GET", "/api/v1/users", null},
                    {"POST", "/api/v1/users/spy/revoke", ""}, {"POST", "/api/v1/artifacts", "not a tar"},
                    {"GET", "/api/v1/artifacts/sha256:" + "0".repeat(64), null},
                    {"POST", "/api/v1/releases", "{\"app\":\"web\",\"version\":\"1.0.0\"}"}, {"GET", "/api/v1/releases", null},
                    {"GET", "/api/v1/releases/web/1.0.0", null}, {"GET", "/api/v1/releases/web/1.0.0/bundle", null},
                    {"POST", "/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"all\"}"},
                    {"GET", "/api/v1/rollouts", null}, {"GET", "/api/v1/rollouts/r-1", null},
                    {"POST", "/api/v1/rollouts/r-1/pause", ""}, {"GET", "/api/v1/audit", null},
                    {"GET", "/api/v1/nothing-here", null}, {"GET", "/api/v1/../v1/devices", null}};
            for (String[] route : routes) {
                for (String authorization : new String[] {null, "Bearer " + wrong, "Bearer ", "Basic " + java.util.Base64.getEncoder()
                        .encodeToString("operator:x".getBytes()), "Token " + token.value()}) {
                    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + route[1]))
                            .method(route[0], route[2] == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(route[2]));
                    if (authorization != null) {
                        request.header("Authorization", authorization);
                    }
                    HttpResponse<String> refused = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
                    String what = route[0] + " " + route[1] + " with " + (authorization == null ? "nothing" : authorization.split(" ")[0]);
                    assertThat(refused.statusCode()).as(what + ": " + refused.body()).isEqualTo(401);
                    assertThat(refused.headers().firstValue("WWW-Authenticate")).as(what).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
                    assertThat(body(refused).path("error").asText()).as(what).contains("operator token");
                    assertThat(refused.body()).doesNotContain(token.value());
                }
            }
            // nothing changed
            assertThat(store.listDevices()).isEmpty();
            assertThat(identities.list()).isEmpty();
            assertThat(store.listReleases()).isEmpty();
            assertThat(store.listRollouts()).isEmpty();
            assertThat(store.audit(100)).isEmpty();
            try (Stream<Path> files = Files.walk(data.resolve("artifacts"))) {
                assertThat(files.filter(Files::isRegularFile)).isEmpty();
            }
            // liveness and the public key stay open, and say nothing secret
            for (String open : new String[] {"/api/v1/health", "/api/v1/server"}) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + open)).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(open).isEqualTo(200);
                assertThat(r.body()).doesNotContain(token.value()).doesNotContain("orchestrator-secret").doesNotContain("private");
            }
            assertThat(body(http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/server")).build(), HttpResponse.BodyHandlers.ofString()))
                    .fieldNames()).toIterable().containsExactlyInAnyOrder("keyId", "publicKey", "trustedKeys", "brokerUrl", "orchestratorUrl", "topicPrefix");
            // the right token opens every route
            assertThat(get("/api/v1/devices").statusCode()).isEqualTo(200);
        } finally {
            root.detachAppender(logs);
        }
        assertThat(logs.list).isNotEmpty();
        assertThat(logs.list).allSatisfy(e -> assertThat(e.getFormattedMessage()).doesNotContain(token.value()).doesNotContain(wrong));
    }

    @Test
    void theTokenFileIsCreatedOncePrivateAndKeptAcrossRestarts() throws Exception {
        Path file = data.resolve("operator.token");
        assertThat(java.nio.file.Files.getPosixFilePermissions(file)).containsExactlyInAnyOrder(
                java.nio.file.attribute.PosixFilePermission.OWNER_READ, java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        assertThat(token.value()).matches("[A-Za-z0-9_-]{43}");
        assertThat(java.util.Base64.getUrlDecoder().decode(token.value())).hasSize(32);
        dev.turnout.orchestrator.security.OperatorToken again = dev.turnout.orchestrator.security.OperatorToken.loadOrCreate(data);
        assertThat(again.value()).isEqualTo(token.value());
        assertThat(again.created()).isFalse();
        assertThat(again.toString()).doesNotContain(token.value());
        Path other = data.resolve("elsewhere");
        assertThat(dev.turnout.orchestrator.security.OperatorToken.loadOrCreate(other).value()).isNotEqualTo(token.value());
    }

    @Test
    void devicesDownloadOnlyArtifactsOfTheirOwnDesiredStateWithTheirOwnCredentials() throws Exception {
        String secretA = enroll("pi-a");
        String secretB = enroll("pi-b");
        DockerSaveArchives.Archive one = DockerSaveArchives.of("demo/web:1.0.0", "one");
        DockerSaveArchives.Archive two = DockerSaveArchives.of("demo/web:2.0.0", "two");
        String digest1 = body(upload(one.bytes())).path("digest").asText();
        String digest2 = body(upload(two.bytes())).path("digest").asText();
        for (String[] r : new String[][] {{"1.0.0", digest1}, {"2.0.0", digest2}}) {
            assertThat(post("/api/v1/releases", """
                    {"app":"web","version":"%s","images":[{"platform":"linux/arm64","digest":"%s"}],
                     "spec":{"container":{"command":["/bin/httpd"]}}}""".formatted(r[0], r[1])).statusCode()).isEqualTo(201);
        }
        // web 1.0.0 goes to pi-a only; nothing is targeted at pi-b
        assertThat(post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"device:pi-a\"}").statusCode()).isEqualTo(201);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> store.findDesired("pi-a").isPresent());

        HttpResponse<byte[]> whole = download(digest1, basic("pi-a", secretA), null);
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat("sha256:" + DockerSaveArchives.sha256(whole.body())).isEqualTo(digest1);
        HttpResponse<byte[]> rest = download(digest1, basic("pi-a", secretA), "bytes=100-");
        assertThat(rest.statusCode()).isEqualTo(206);
        assertThat(rest.body()).isEqualTo(Arrays.copyOfRange(whole.body(), 100, whole.body().length));

        // not in its desired state: 403, and not one byte of the archive
        HttpResponse<byte[]> notTargeted = download(digest2, basic("pi-a", secretA), null);
        assertThat(notTargeted.statusCode()).isEqualTo(403);
        assertThat(new String(notTargeted.body())).contains("not part of a release in the desired state of device pi-a");
        assertThat(notTargeted.body().length).isLessThan(whole.body().length / 2);
        HttpResponse<byte[]> otherDevice = download(digest1, basic("pi-b", secretB), "bytes=0-");
        assertThat(otherDevice.statusCode()).isEqualTo(403);
        assertThat(indexOf(otherDevice.body(), Arrays.copyOfRange(whole.body(), 0, 64))).isNegative();

        // wrong secret, someone else's secret, unknown device: 401
        assertThat(download(digest1, basic("pi-a", secretB), null).statusCode()).isEqualTo(401);
        assertThat(download(digest1, basic("pi-a", secretA + "x"), null).statusCode()).isEqualTo(401);
        assertThat(download(digest1, basic("ghost", secretA), null).statusCode()).isEqualTo(401);

        // a device's credentials never reach operator routes, and change nothing
        assertThat(send("GET", "/api/v1/devices", null, basic("pi-a", secretA)).statusCode()).isEqualTo(403);
        assertThat(send("GET", "/api/v1/releases/web/1.0.0/bundle", null, basic("pi-a", secretA)).statusCode()).isEqualTo(403);
        HttpResponse<String> enrollAttempt = send("POST", "/api/v1/devices", "{\"id\":\"pi-evil\"}", basic("pi-a", secretA));
        assertThat(enrollAttempt.statusCode()).isEqualTo(401);
        assertThat(send("POST", "/api/v1/devices/pi-b/revoke", "", basic("pi-a", secretA)).statusCode()).isEqualTo(401);
        assertThat(store.findDevice("pi-evil")).isEmpty();
        assertThat(identities.find("pi-b")).isPresent();

        // revoked: refused at once, although its last check is still remembered
        assertThat(post("/api/v1/devices/pi-a/revoke", "").statusCode()).isEqualTo(200);
        assertThat(download(digest1, basic("pi-a", secretA), null).statusCode()).isEqualTo(401);
        // re-enrolled: the new secret works, the old one stays dead
        String newSecret = enroll("pi-a");
        assertThat(download(digest1, basic("pi-a", secretA), null).statusCode()).isEqualTo(401);
        assertThat(download(digest1, basic("pi-a", newSecret), null).statusCode()).isEqualTo(200);
        // the operator may fetch anything
        assertThat(download(digest2, "Bearer " + token.value(), null).statusCode()).isEqualTo(200);
    }

    @Test
    void devicesFetchTheBlobsOfTheirOwnDesiredStateGzippedOnTheWireAndTheyMakeTheArchive() throws Exception {
        String secret = enroll("pi-a");
        String digest1 = body(upload(DockerSaveArchives.of("demo/web:1.0.0", "one").bytes())).path("digest").asText();
        String digest2 = body(upload(DockerSaveArchives.of("demo/web:2.0.0", "two").bytes())).path("digest").asText();
        for (String[] r : new String[][] {{"1.0.0", digest1}, {"2.0.0", digest2}}) {
            assertThat(post("/api/v1/releases", """
                    {"app":"web","version":"%s","images":[{"platform":"linux/arm64","digest":"%s"}],
                     "spec":{"container":{"command":["/bin/httpd"]}}}""".formatted(r[0], r[1])).statusCode()).isEqualTo(201);
        }
        assertThat(post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"device:pi-a\"}").statusCode()).isEqualTo(201);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> store.findDesired("pi-a").isPresent());
        List<ImageBlob> blobs = store.findRelease("web", "1.0.0").orElseThrow().images().get(0).blobs();
        assertThat(blobs).extracting(ImageBlob::path).endsWith("index.json", "manifest.json", "oci-layout");

        java.util.Map<String, byte[]> fetched = new java.util.HashMap<>();
        for (ImageBlob blob : blobs) {
            HttpResponse<byte[]> got = blob(blob.digest(), basic("pi-a", secret), null, true);
            assertThat(got.statusCode()).as(blob.path()).isEqualTo(200);
            assertThat(got.headers().firstValue("Content-Encoding")).hasValue("gzip");
            byte[] stored = gunzip(got.body());
            assertThat("sha256:" + DockerSaveArchives.sha256(stored)).isEqualTo(blob.digest());
            assertThat((long) stored.length).isEqualTo(blob.size());
            fetched.put(blob.digest(), stored);
        }
        java.io.ByteArrayOutputStream archive = new java.io.ByteArrayOutputStream();
        dev.turnout.proto.image.ArchiveBlobs.join(blobs.stream().map(b -> new dev.turnout.proto.image.ArchiveBlobs.Part(b.path(),
                b.digest(), b.size())).toList(), p -> new java.io.ByteArrayInputStream(fetched.get(p.digest())), archive);
        assertThat("sha256:" + DockerSaveArchives.sha256(archive.toByteArray())).as("the blobs make the signed archive").isEqualTo(digest1);

        ImageBlob layer = blobs.get(0);
        HttpResponse<byte[]> rest = blob(layer.digest(), basic("pi-a", secret), "bytes=100-", true);
        assertThat(rest.statusCode()).isEqualTo(206);
        assertThat(gunzip(rest.body())).as("the range counts the stored bytes").isEqualTo(Arrays.copyOfRange(fetched.get(layer.digest()), 100, (int) layer.size()));
        // zstd where the client takes it (the device asks "zstd, gzip"); the range still counts stored bytes
        HttpRequest zstdAsked = HttpRequest.newBuilder(URI.create(base + "/api/v1/blobs/" + layer.digest()))
                .header("Authorization", basic("pi-a", secret)).header("Accept-Encoding", "zstd, gzip").header("Range", "bytes=100-").build();
        HttpResponse<byte[]> zstd = http.send(zstdAsked, HttpResponse.BodyHandlers.ofByteArray());
        assertThat(zstd.statusCode()).isEqualTo(206);
        assertThat(zstd.headers().firstValue("Content-Encoding")).hasValue("zstd");
        try (var in = new com.github.luben.zstd.ZstdInputStreamNoFinalizer(new java.io.ByteArrayInputStream(zstd.body()))) {
            assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOfRange(fetched.get(layer.digest()), 100, (int) layer.size()));
        }
        HttpResponse<byte[]> plain = blob(layer.digest(), basic("pi-a", secret), null, false);
        assertThat(plain.headers().firstValue("Content-Encoding")).isEmpty();
        assertThat(plain.body()).isEqualTo(fetched.get(layer.digest()));

        ImageBlob onlyInTwo = store.findRelease("web", "2.0.0").orElseThrow().images().get(0).blobs().stream()
                .filter(b -> blobs.stream().noneMatch(mine -> mine.digest().equals(b.digest()))).findFirst().orElseThrow();
        HttpResponse<byte[]> refused = blob(onlyInTwo.digest(), basic("pi-a", secret), null, true);
        assertThat(refused.statusCode()).isEqualTo(403);
        assertThat(new String(refused.body())).contains("not part of a release in the desired state of device pi-a");
        assertThat(blob("nonsense", basic("pi-a", secret), null, true).statusCode()).isEqualTo(400);
        assertThat(blob(onlyInTwo.digest(), "Bearer " + token.value(), null, true).statusCode()).as("the operator may fetch any").isEqualTo(200);
    }

    @Test
    void aLayerEditedSinceThePreviousReleaseIsServedAsABinaryDeltaToTheDevicesItTargets() throws Exception {
        String secret = enroll("pi-a");
        java.util.Random random = new java.util.Random(16);
        byte[] text = new byte[200_000];
        for (int i = 0; i < text.length; i++) {
            text[i] = (byte) ('a' + random.nextInt(26));
        }
        byte[] base = TestImageArchives.layerTar(java.util.Map.of("bin/tool", "the base\n".repeat(500).getBytes()));
        byte[][] apps = new byte[2][];
        for (int v = 1; v <= 2; v++) {
            byte[] edited = text.clone();
            for (int i = 50_000 * v; i < 50_000 * v + 2_000; i++) {
                edited[i] = (byte) ('A' + random.nextInt(26)); // each version rewrites its own 1 %
            }
            apps[v - 1] = TestImageArchives.layerTar(java.util.Map.of("www/data.txt", edited));
            TestImageArchives.Built image = TestImageArchives.layered("linux/arm64", List.of(base, apps[v - 1]), List.of("/bin/tool"));
            Path archive = TestImageArchives.write(TestImageArchives.ociLayout("demo/web:" + v + ".0.0", image), data.resolve("web-" + v + ".tar"));
            String digest = body(upload(Files.readAllBytes(archive))).path("digest").asText();
            assertThat(post("/api/v1/releases", """
                    {"app":"web","version":"%d.0.0","images":[{"platform":"linux/arm64","digest":"%s"}],
                     "spec":{"container":{"command":["/bin/tool"]}}}""".formatted(v, digest)).statusCode()).isEqualTo(201);
        }
        String app1 = TestImageArchives.sha256(apps[0]);
        String app2 = TestImageArchives.sha256(apps[1]);
        assertThat(store.findRelease("web", "2.0.0").orElseThrow().images().get(0).blobs())
                .as("only the edited layer names a base: the layer at its position in 1.0.0")
                .filteredOn(b -> b.deltaBase() != null).extracting(ImageBlob::digest, ImageBlob::deltaBase)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(app2, app1));
        assertThat(post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"2.0.0\",\"target\":\"device:pi-a\"}").statusCode()).isEqualTo(201);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> store.findDesired("pi-a").isPresent());

        HttpResponse<byte[]> delta = blob(app2 + "?base=" + app1, basic("pi-a", secret), null, true);

        assertThat(delta.statusCode()).isEqualTo(200);
        assertThat(delta.headers().firstValue("Turnout-Delta-Base")).hasValue(app1);
        assertThat(delta.headers().firstValue("Content-Encoding")).as("a zstd frame is not gzipped again").isEmpty();
        assertThat(delta.body().length).as("1 %% of a %d-byte layer", apps[1].length).isLessThan(apps[1].length / 20);
        java.io.ByteArrayOutputStream made = new java.io.ByteArrayOutputStream();
        dev.turnout.proto.image.LayerDelta.apply(Files.write(data.resolve("held"), apps[0]), new java.io.ByteArrayInputStream(delta.body()),
                made, apps[1].length);
        assertThat(TestImageArchives.sha256(made.toByteArray())).as("the delta makes the signed layer").isEqualTo(app2);
        HttpResponse<byte[]> resumed = blob(app2 + "?base=" + app1, basic("pi-a", secret), "bytes=10-", true);
        assertThat(resumed.statusCode()).isEqualTo(206);
        assertThat(resumed.body()).isEqualTo(Arrays.copyOfRange(delta.body(), 10, delta.body().length));

        String other = TestImageArchives.sha256(base);
        HttpResponse<byte[]> unnamed = blob(app2 + "?base=" + other, basic("pi-a", secret), null, true);
        assertThat(unnamed.statusCode()).as("a pair the desired state does not name").isEqualTo(403);
        assertThat(new String(unnamed.body())).contains("a delta of blob " + app2 + " against " + other);
        HttpResponse<byte[]> notWorthIt = blob(app2 + "?base=" + other, "Bearer " + token.value(), null, true);
        assertThat(notWorthIt.statusCode()).as("a delta not smaller than the layer is not offered").isEqualTo(404);
        assertThat(new String(notWorthIt.body())).contains("fetch the blob whole");
        assertThat(blob(app2 + "?base=nonsense", basic("pi-a", secret), null, true).statusCode()).isEqualTo(400);

        // a delta bundle for a device that holds 1.0.0: the shared base layer left out, the edited layer as the delta
        HttpResponse<byte[]> full = bundle("/api/v1/releases/web/2.0.0/bundle");
        HttpResponse<byte[]> against = bundle("/api/v1/releases/web/2.0.0/bundle?against=1.0.0");
        assertThat(against.statusCode()).isEqualTo(200);
        assertThat(against.headers().firstValue("Content-Disposition")).hasValueSatisfying(v -> v.contains("web-2.0.0-from-1.0.0.tar"));
        java.util.Map<String, byte[]> entries = tarEntries(against.body());
        assertThat(entries.keySet()).first().isEqualTo("manifest.bin");
        assertThat(entries).containsKey("deltas/" + app2.replace(':', '-'))
                .doesNotContainKey("blobs/" + other.replace(':', '-')).doesNotContainKey("blobs/" + app2.replace(':', '-'))
                .doesNotContainKey("deltas/" + other.replace(':', '-'));
        assertThat(entries.keySet()).allMatch(n -> n.equals("manifest.bin") || n.startsWith("blobs/") || n.startsWith("deltas/"));
        dev.turnout.proto.BundleManifest manifest = dev.turnout.proto.BundleManifest.parseFrom(
                dev.turnout.proto.SignedEnvelope.parseFrom(entries.get("manifest.bin")).getPayload());
        assertThat(manifest.getAgainstVersion()).isEqualTo("1.0.0");
        assertThat(manifest.getRelease().getVersion()).isEqualTo("2.0.0");
        System.out.printf("bundle of web 2.0.0: full %,d bytes, against 1.0.0 %,d bytes%n", full.body().length, against.body().length);
        assertThat(against.body().length).isLessThan(full.body().length / 5);
        HttpResponse<byte[]> unknown = bundle("/api/v1/releases/web/2.0.0/bundle?against=0.9.0");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(new String(unknown.body())).contains("release web:0.9.0 does not exist");
        assertThat(bundle("/api/v1/releases/web/2.0.0/bundle?against=2.0.0").statusCode()).isEqualTo(400);
        assertThat(bundle("/api/v1/releases/web/2.0.0/bundle?against=latest").statusCode()).isEqualTo(400);
    }

    private HttpResponse<byte[]> bundle(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + token.value()).build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    private static java.util.Map<String, byte[]> tarEntries(byte[] tar) throws java.io.IOException {
        java.util.Map<String, byte[]> entries = new java.util.LinkedHashMap<>();
        try (var in = new org.apache.commons.compress.archivers.tar.TarArchiveInputStream(new java.io.ByteArrayInputStream(tar))) {
            org.apache.commons.compress.archivers.tar.TarArchiveEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                entries.put(entry.getName(), in.readAllBytes());
            }
        }
        return entries;
    }

    private HttpResponse<byte[]> blob(String digest, String authorization, String range, boolean gzip) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + "/api/v1/blobs/" + digest)).header("Authorization", authorization);
        if (range != null) {
            request.header("Range", range);
        }
        if (gzip) {
            request.header("Accept-Encoding", "gzip");
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private static byte[] gunzip(byte[] body) throws java.io.IOException {
        try (java.util.zip.GZIPInputStream in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(body))) {
            return in.readAllBytes();
        }
    }

    private HttpResponse<String> uploadAgent(String version, byte[] bytes) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/agent/releases/" + version))
                .header("Authorization", "Bearer " + token.value()).header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** An edge daemon distribution: a runnable turnout-edge.jar and jvm.options in a tar.gz. */
    private static byte[] agentDistribution(String mainClass) throws Exception {
        java.util.jar.Manifest manifest = new java.util.jar.Manifest();
        manifest.getMainAttributes().put(java.util.jar.Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().put(java.util.jar.Attributes.Name.MAIN_CLASS, mainClass);
        java.io.ByteArrayOutputStream jar = new java.io.ByteArrayOutputStream();
        new java.util.jar.JarOutputStream(jar, manifest).close();
        java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
        try (var tar = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(new java.util.zip.GZIPOutputStream(gz))) {
            for (var e : java.util.Map.of("turnout-edge.jar", jar.toByteArray(), "jvm.options", "-Xmx64m\n".getBytes()).entrySet()) {
                var entry = new org.apache.commons.compress.archivers.tar.TarArchiveEntry(e.getKey());
                entry.setSize(e.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
        }
        return gz.toByteArray();
    }

    @Test
    void anAgentReleaseIsTheDaemonsDistributionUnderTheReservedAppNameAndDevicesMayFetchItWhenTargeted() throws Exception {
        String secret = enroll("pi-a");
        byte[] distribution = agentDistribution("dev.turnout.edge.app.EdgeMain");
        HttpResponse<String> created = uploadAgent("0.2.0", distribution);
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        JsonNode release = body(created);
        String digest = release.path("agent").path("digest").asText();
        assertThat(release.path("app").asText()).isEqualTo("turnout-edge");
        assertThat(digest).isEqualTo("sha256:" + DockerSaveArchives.sha256(distribution));
        assertThat(release.path("agent").path("size").asLong()).isEqualTo(distribution.length);
        assertThat(release.path("images")).isEmpty();
        assertThat(body(get("/api/v1/releases/turnout-edge/0.2.0")).path("agent").path("digest").asText()).isEqualTo(digest);
        assertThat(store.auditByAction("agent.release", java.time.Instant.EPOCH)).singleElement()
                .satisfies(a -> assertThat(a.subject()).isEqualTo("turnout-edge:0.2.0"));

        // refused: the same version again, a version that is none, a file that is no distribution, the name for an app release
        assertThat(uploadAgent("0.2.0", distribution).statusCode()).isEqualTo(409);
        assertThat(uploadAgent("latest", distribution).statusCode()).isEqualTo(400);
        HttpResponse<String> notOne = uploadAgent("0.3.0", "just text".getBytes());
        assertThat(notOne.statusCode()).isEqualTo(400);
        assertThat(body(notOne).path("error").asText()).contains("not an edge daemon distribution", "not gzip-compressed");
        HttpResponse<String> reserved = post("/api/v1/releases", """
                {"app":"turnout-edge","version":"0.3.0","images":[{"platform":"linux/arm64","digest":"%s"}]}""".formatted(digest));
        assertThat(reserved.statusCode()).isEqualTo(400);
        assertThat(body(reserved).path("error").asText()).contains("reserved for the edge daemon", "turnout agent release");
        assertThat(get("/api/v1/releases/turnout-edge/0.2.0/bundle").statusCode()).isEqualTo(400);
        assertThat(get("/api/v1/releases/turnout-edge/0.3.0").statusCode()).isEqualTo(404);

        // a device fetches the distribution once its desired state names the release, as an image archive
        assertThat(download(digest, basic("pi-a", secret), null).statusCode()).isEqualTo(403);
        assertThat(post("/api/v1/rollouts", "{\"app\":\"turnout-edge\",\"version\":\"0.2.0\",\"target\":\"device:pi-a\"}")
                .statusCode()).isEqualTo(201);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> store.findDesired("pi-a").isPresent());
        HttpResponse<byte[]> fetched = download(digest, basic("pi-a", secret), null);
        assertThat(fetched.statusCode()).isEqualTo(200);
        assertThat(fetched.body()).isEqualTo(distribution);
    }

    @Test
    void monitorUsersReadWithBasicCredentialsButChangeAndDownloadNothing() throws Exception {
        String secret = body(post("/api/v1/users", "{\"name\":\"grafana\",\"role\":\"monitor\"}")).path("password").asText();
        String digest = body(upload(DockerSaveArchives.of("demo/web:1.0.0", "one").bytes())).path("digest").asText();
        assertThat(send("GET", "/api/v1/devices", null, basic("grafana", secret)).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/api/v1/rollouts", null, basic("grafana", secret)).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/api/v1/devices", null, basic("grafana", secret + "x")).statusCode()).isEqualTo(401);
        assertThat(download(digest, basic("grafana", secret), null).statusCode()).isEqualTo(403);
        assertThat(send("POST", "/api/v1/devices", "{\"id\":\"pi-m\"}", basic("grafana", secret)).statusCode()).isEqualTo(401);
        assertThat(send("POST", "/api/v1/users/grafana/revoke", "", basic("grafana", secret)).statusCode()).isEqualTo(401);
        assertThat(store.findDevice("pi-m")).isEmpty();
        assertThat(identities.find("grafana")).isPresent();
    }

    @Test
    void theDashboardSignsInWithTheTokenIntoAnHttpOnlyStrictSessionCookieAndSignsOut() throws Exception {
        HttpResponse<String> status = send("GET", "/api/v1/session", null, null);
        assertThat(body(status).path("authenticated").asBoolean()).isFalse();

        HttpResponse<String> wrong = send("POST", "/api/v1/session", "{\"token\":\"not-it\"}", null);
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(wrong.headers().firstValue("Set-Cookie")).isEmpty();
        assertThat(body(wrong).path("error").asText()).contains("wrong operator token");

        HttpResponse<String> login = send("POST", "/api/v1/session", "{\"token\":\"" + token.value() + "\"}", null);
        assertThat(login.statusCode()).as(login.body()).isEqualTo(200);
        String setCookie = login.headers().firstValue("Set-Cookie").orElseThrow();
        assertThat(setCookie).startsWith(ApiAuth.COOKIE + "=").containsIgnoringCase("HttpOnly").containsIgnoringCase("SameSite=Strict")
                .contains("Path=/").doesNotContain(token.value());
        String cookie = setCookie.substring(0, setCookie.indexOf(';'));

        HttpResponse<String> withCookie = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/devices")).header("Cookie", cookie).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(withCookie.statusCode()).isEqualTo(200);
        HttpResponse<String> forged = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/devices"))
                .header("Cookie", ApiAuth.COOKIE + "=" + token.value()).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(forged.statusCode()).isEqualTo(401);

        HttpResponse<String> logout = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/session")).header("Cookie", cookie)
                .DELETE().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(logout.statusCode()).isEqualTo(200);
        assertThat(logout.headers().firstValue("Set-Cookie").orElseThrow()).contains("Max-Age=0");
        HttpResponse<String> after = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/devices")).header("Cookie", cookie).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(after.statusCode()).isEqualTo(401);
    }

    @Test
    void rotatingTheTokenRetiresTheOldOneAndEverySessionAtOnce() throws Exception {
        String old = token.value();
        String monitor = body(post("/api/v1/users", "{\"name\":\"grafana\",\"role\":\"monitor\"}")).path("password").asText();
        HttpResponse<String> login = send("POST", "/api/v1/session", "{\"token\":\"" + old + "\"}", null);
        String cookie = login.headers().firstValue("Set-Cookie").orElseThrow().split(";")[0];

        assertThat(send("POST", "/api/v1/token/rotate", "{}", null).statusCode()).isEqualTo(401);
        assertThat(send("POST", "/api/v1/token/rotate", "{}", basic("grafana", monitor)).statusCode()).isEqualTo(401);
        assertThat(dev.turnout.orchestrator.security.OperatorToken.read(data.resolve("operator.token"))).isEqualTo(old);

        HttpResponse<String> rotated = send("POST", "/api/v1/token/rotate", "{}", "Bearer " + old);
        assertThat(rotated.statusCode()).as(rotated.body()).isEqualTo(200);
        String fresh = body(rotated).path("token").asText();
        assertThat(fresh).matches("[A-Za-z0-9_-]{43}").isNotEqualTo(old);
        assertThat(dev.turnout.orchestrator.security.OperatorToken.read(data.resolve("operator.token"))).isEqualTo(fresh);
        assertThat(java.nio.file.Files.getPosixFilePermissions(data.resolve("operator.token")))
                .isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        assertThat(send("GET", "/api/v1/devices", null, "Bearer " + old).statusCode()).isEqualTo(401);
        assertThat(send("GET", "/api/v1/devices", null, "Bearer " + fresh).statusCode()).isEqualTo(200);
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/devices")).header("Cookie", cookie).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
        assertThat(body(get("/api/v1/devices")).has("devices")).isTrue(); // the helpers read the token in force
        String audit = get("/api/v1/audit").body();
        assertThat(audit).contains("token.rotate").doesNotContain(old).doesNotContain(fresh);
    }

    @Test
    void repeatedWrongPasswordsMakeTheNextSignInWaitWithoutCheckingIt() throws Exception {
        assertThat(post("/api/v1/operators", "{\"name\":\"gus\",\"role\":\"viewer\",\"password\":\"gus-long-password\"}")
                .statusCode()).isEqualTo(201);
        for (int i = 0; i <= dev.turnout.orchestrator.security.SignInThrottle.FREE_PER_NAME; i++) {
            assertThat(send("POST", "/api/v1/tokens", "{\"name\":\"gus\",\"password\":\"guess-number-" + i + "\"}", null)
                    .statusCode()).isEqualTo(401);
        }
        // the right password now waits too (it is not even checked), on both sign-in routes, with Retry-After
        HttpResponse<String> right = send("POST", "/api/v1/tokens", "{\"name\":\"gus\",\"password\":\"gus-long-password\"}", null);
        assertThat(right.statusCode()).isEqualTo(429);
        assertThat(right.headers().firstValue("Retry-After").map(Integer::parseInt).orElseThrow()).isBetween(1, 30);
        assertThat(body(right).path("error").asText()).contains("too many wrong sign-ins for gus");
        assertThat(send("POST", "/api/v1/session", "{\"name\":\"GUS\",\"password\":\"gus-long-password\"}", null).statusCode())
                .isEqualTo(429);
        // another account, and the operator token, are not held up by gus's guesser
        assertThat(post("/api/v1/operators", "{\"name\":\"ida\",\"role\":\"viewer\",\"password\":\"ida-long-password\"}")
                .statusCode()).isEqualTo(201);
        assertThat(send("POST", "/api/v1/tokens", "{\"name\":\"ida\",\"password\":\"ida-long-password\"}", null).statusCode())
                .isEqualTo(201);
        assertThat(get("/api/v1/devices").statusCode()).isEqualTo(200);
    }

    @Test
    void operatorAccountsActWithinTheirRoleUnderTheirOwnNameUntilRevokedOrLoggedOut() throws Exception {
        HttpResponse<String> added = post("/api/v1/operators", "{\"name\":\"vera\",\"role\":\"viewer\",\"password\":\"vera-long-password\"}");
        assertThat(added.statusCode()).as(added.body()).isEqualTo(201);
        assertThat(body(added).has("password")).as("a chosen password is never echoed").isFalse();
        HttpResponse<String> dora = post("/api/v1/operators", "{\"name\":\"dora\",\"role\":\"deployer\"}");
        assertThat(dora.statusCode()).as(dora.body()).isEqualTo(201);
        String doraPassword = body(dora).path("password").asText();
        assertThat(doraPassword).hasSizeGreaterThanOrEqualTo(32);
        // bad input changes nothing
        assertThat(post("/api/v1/operators", "{\"name\":\"admin\",\"role\":\"viewer\"}").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/operators", "{\"name\":\"vera\",\"role\":\"admin\"}").statusCode()).isEqualTo(409);
        assertThat(post("/api/v1/operators", "{\"name\":\"x\",\"role\":\"root\"}").statusCode()).isEqualTo(400);
        assertThat(post("/api/v1/operators", "{\"name\":\"a b\",\"role\":\"viewer\"}").statusCode()).isEqualTo(400);
        assertThat(post("/api/v1/operators", "{\"name\":\"sam\",\"role\":\"viewer\",\"password\":\"short\"}").statusCode()).isEqualTo(400);
        assertThat(body(get("/api/v1/operators")).path("operators")).extracting(o -> o.path("name").asText() + "=" + o.path("role").asText())
                .containsExactly("admin=admin", "dora=deployer", "vera=viewer");

        assertThat(send("POST", "/api/v1/tokens", "{\"name\":\"vera\",\"password\":\"wrong-long-password\"}", null).statusCode()).isEqualTo(401);
        assertThat(send("POST", "/api/v1/tokens", "{\"name\":\"nobody\",\"password\":\"vera-long-password\"}", null).statusCode()).isEqualTo(401);
        HttpResponse<String> issued = send("POST", "/api/v1/tokens", "{\"name\":\"vera\",\"password\":\"vera-long-password\"}", null);
        assertThat(issued.statusCode()).as(issued.body()).isEqualTo(201);
        String vera = "Bearer " + body(issued).path("token").asText();
        assertThat(java.time.Instant.parse(body(issued).path("expiresAt").asText()))
                .isAfter(java.time.Instant.now().plus(java.time.Duration.ofDays(29)));
        String doraToken = "Bearer " + body(send("POST", "/api/v1/tokens", "{\"name\":\"dora\",\"password\":\"" + doraPassword + "\"}", null))
                .path("token").asText();

        // a viewer reads and is told why it may not change anything; a deployer deploys but enrolls nothing
        JsonNode session = body(send("GET", "/api/v1/session", null, vera));
        assertThat(session.path("name").asText()).isEqualTo("vera");
        assertThat(session.path("role").asText()).isEqualTo("viewer");
        assertThat(send("GET", "/api/v1/devices", null, vera).statusCode()).isEqualTo(200);
        HttpResponse<String> refused = send("POST", "/api/v1/devices", "{\"id\":\"pi-v\"}", vera);
        assertThat(refused.statusCode()).isEqualTo(403);
        assertThat(body(refused).path("error").asText()).contains("vera is a viewer", "needs the admin role");
        assertThat(send("POST", "/api/v1/rollouts/r-1/abort", "{}", vera).statusCode()).isEqualTo(403);
        assertThat(send("GET", "/api/v1/operators", null, vera).statusCode()).isEqualTo(403);
        assertThat(send("GET", "/api/v1/backup", null, doraToken).statusCode()).isEqualTo(403);
        assertThat(send("POST", "/api/v1/devices", "{\"id\":\"pi-d\"}", doraToken).statusCode()).isEqualTo(403);
        assertThat(send("POST", "/api/v1/rollouts/r-1/abort", "{}", doraToken).statusCode()).as("allowed, and no such rollout").isEqualTo(404);
        assertThat(store.listDevices()).isEmpty();

        // one's own password with the current one; nobody else's
        assertThat(send("POST", "/api/v1/operators/dora/password", "{\"password\":\"taken-over-by-vera\"}", vera).statusCode()).isEqualTo(403);
        assertThat(send("POST", "/api/v1/operators/vera/password", "{\"password\":\"vera-new-password\",\"currentPassword\":\"wrong-long-password\"}",
                vera).statusCode()).isEqualTo(403);
        assertThat(send("GET", "/api/v1/devices", null, vera).statusCode()).as("a refused change ends nothing").isEqualTo(200);
        HttpResponse<String> changed = send("POST", "/api/v1/operators/vera/password",
                "{\"password\":\"vera-new-password\",\"currentPassword\":\"vera-long-password\"}", vera);
        assertThat(changed.statusCode()).as(changed.body()).isEqualTo(200);
        assertThat(send("GET", "/api/v1/devices", null, vera).statusCode()).as("a new password ends the old tokens").isEqualTo(401);
        vera = "Bearer " + body(send("POST", "/api/v1/tokens", "{\"name\":\"vera\",\"password\":\"vera-new-password\"}", null))
                .path("token").asText();
        assertThat(send("GET", "/api/v1/devices", null, vera).statusCode()).isEqualTo(200);

        // tokens are stored only hashed
        String rawToken = vera.substring(7);
        assertThat(new String(Files.readAllBytes(data.resolve("turnout.db")), java.nio.charset.StandardCharsets.ISO_8859_1))
                .doesNotContain(rawToken).doesNotContain("vera-new-password");

        // logout ends that token; revoking ends every token of the account
        assertThat(send("DELETE", "/api/v1/tokens/current", null, vera).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/api/v1/devices", null, vera).statusCode()).isEqualTo(401);
        assertThat(send("GET", "/api/v1/devices", null, doraToken).statusCode()).isEqualTo(200);
        assertThat(post("/api/v1/operators/dora/revoke", "").statusCode()).isEqualTo(200);
        assertThat(send("GET", "/api/v1/devices", null, doraToken).statusCode()).isEqualTo(401);
        assertThat(post("/api/v1/operators/dora/revoke", "").statusCode()).isEqualTo(404);
        assertThat(post("/api/v1/operators/admin/revoke", "").statusCode()).isEqualTo(400);

        String audit = get("/api/v1/audit").body();
        assertThat(audit).contains("operator.add", "operator.login", "operator.password", "operator.logout", "operator.revoke")
                .doesNotContain(rawToken).doesNotContain(doraPassword);
    }

    @Test
    void aPersonSignsInToTheDashboardByNameAndTheSessionEndsWhenTheAccountIsRevoked() throws Exception {
        assertThat(post("/api/v1/operators", "{\"name\":\"vic\",\"role\":\"viewer\",\"password\":\"vic-long-password\"}").statusCode())
                .isEqualTo(201);
        assertThat(send("POST", "/api/v1/session", "{\"name\":\"vic\",\"password\":\"not-vic-password\"}", null).statusCode()).isEqualTo(401);
        assertThat(send("POST", "/api/v1/session", "{\"name\":\"vic\",\"secret\":\"x\"}", null).statusCode()).isEqualTo(400);
        HttpResponse<String> login = send("POST", "/api/v1/session", "{\"name\":\"vic\",\"password\":\"vic-long-password\"}", null);
        assertThat(login.statusCode()).as(login.body()).isEqualTo(200);
        assertThat(body(login).path("role").asText()).isEqualTo("viewer");
        String cookie = login.headers().firstValue("Set-Cookie").orElseThrow().split(";")[0];
        HttpResponse<String> status = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/session")).header("Cookie", cookie).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(body(status).path("name").asText()).isEqualTo("vic");
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/rollouts")).header("Cookie", cookie).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/rollouts/r-1/pause")).header("Cookie", cookie)
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(403);
        assertThat(post("/api/v1/operators/vic/revoke", "").statusCode()).isEqualTo(200);
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/rollouts")).header("Cookie", cookie).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
    }

    @Test
    void labelsAndGroupsChangeOverTheApiAndTargetsSeeThemAtOnce() throws Exception {
        assertThat(post("/api/v1/devices", "{\"id\":\"pi-1\",\"labels\":{\"site\":\"attic\"},\"groups\":[\"yard\"]}").statusCode())
                .isEqualTo(201);
        assertThat(post("/api/v1/devices", "{\"id\":\"pi-2\",\"labels\":{\"site\":\"attic\"}}").statusCode()).isEqualTo(201);
        release("web", "1.0.0");
        String plannedForCellar = "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"label:site=cellar\",\"dryRun\":true}";
        assertThat(post("/api/v1/rollouts", plannedForCellar).statusCode()).isEqualTo(400);

        // the audit names the account that signed in, whatever the client claims to be
        assertThat(post("/api/v1/operators", "{\"name\":\"alice\",\"role\":\"admin\",\"password\":\"alice-long-password\"}")
                .statusCode()).isEqualTo(201);
        String alice = body(send("POST", "/api/v1/tokens", "{\"name\":\"alice\",\"password\":\"alice-long-password\"}", null))
                .path("token").asText();
        HttpResponse<String> relabeled = send("POST", "/api/v1/devices/pi-1/labels",
                "{\"set\":{\"site\":\"cellar\",\"tier\":\"2\"}}", "Bearer " + alice, "mallory");
        assertThat(relabeled.statusCode()).as(relabeled.body()).isEqualTo(200);
        assertThat(body(relabeled).path("changed").asBoolean()).isTrue();
        assertThat(body(relabeled).path("device").path("labels").toString()).isEqualTo("{\"site\":\"cellar\",\"tier\":\"2\"}");
        // a rollout planned now targets by the new labels
        JsonNode plan = body(post("/api/v1/rollouts", plannedForCellar));
        assertThat(plan.path("devices")).extracting(d -> d.path("id").asText()).containsExactly("pi-1");
        JsonNode attic = body(post("/api/v1/rollouts", plannedForCellar.replace("cellar", "attic")));
        assertThat(attic.path("devices")).extracting(d -> d.path("id").asText()).containsExactly("pi-2");

        HttpResponse<String> regrouped = post("/api/v1/devices/pi-2/groups", "{\"add\":[\"yard\",\"canary\"]}");
        assertThat(regrouped.statusCode()).as(regrouped.body()).isEqualTo(200);
        assertThat(body(post("/api/v1/devices/pi-1/groups", "{\"remove\":[\"yard\"]}")).path("device").path("groups")).isEmpty();
        JsonNode yard = body(post("/api/v1/rollouts", plannedForCellar.replace("label:site=cellar", "group:yard")));
        assertThat(yard.path("devices")).extracting(d -> d.path("id").asText()).containsExactly("pi-2");
        assertThat(body(post("/api/v1/devices/pi-2/groups", "{\"add\":[\"yard\"]}")).path("changed").asBoolean()).isFalse();

        // a running rollout of a group takes a device added to the group, as it takes one enrolled later
        JsonNode running = body(post("/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"group:canary\"}"));
        assertThat(running.path("devices")).hasSize(1);
        assertThat(post("/api/v1/devices/pi-1/groups", "{\"add\":[\"canary\"]}").statusCode()).isEqualTo(200);
        String runningId = running.path("id").asText();
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() ->
                body(get("/api/v1/rollouts/" + runningId)).path("devices").size() == 2);

        // refusals: the enrollment's rules, unknown fields, unknown devices; nothing changes
        for (String bad : List.of("{\"set\":{\"a=b\":\"c\"}}", "{\"set\":{\"site\":\" x\"}}", "{}", "{\"labels\":{\"a\":\"b\"}}",
                "{\"set\":{\"site\":\"x\"},\"remove\":[\"site\"]}", "{\"set\":[\"site\"]}")) {
            HttpResponse<String> refused = post("/api/v1/devices/pi-1/labels", bad);
            assertThat(refused.statusCode()).as(bad + " -> " + refused.body()).isEqualTo(400);
            assertThat(body(refused).path("error").asText()).as(bad).isNotBlank();
        }
        assertThat(post("/api/v1/devices/pi-1/groups", "{\"add\":[\"no spaces\"]}").statusCode()).isEqualTo(400);
        HttpResponse<String> unknown = post("/api/v1/devices/pi-9/labels", "{\"set\":{\"site\":\"x\"}}");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(body(unknown).path("error").asText()).isEqualTo("device pi-9 is not enrolled");
        assertThat(post("/api/v1/devices/pi-9/groups", "{\"add\":[\"yard\"]}").statusCode()).isEqualTo(404);
        assertThat(body(get("/api/v1/devices/pi-1")).path("labels").toString()).isEqualTo("{\"site\":\"cellar\",\"tier\":\"2\"}");
        // monitors read, never change
        assertThat(send("POST", "/api/v1/devices/pi-1/labels", "{\"set\":{\"site\":\"x\"}}", basic("nobody", "x"), null)
                .statusCode()).isEqualTo(401);

        JsonNode audit = body(get("/api/v1/audit?subject=pi-1")).path("entries");
        assertThat(audit.toString()).contains("device.labels", "labels {site=attic} -> {site=cellar, tier=2}", "alice",
                "device.groups", "groups [yard] -> []").doesNotContain("mallory");
    }

    /** Uploads an archive and registers release APP:VERSION of it. */
    private void release(String app, String version) throws Exception {
        String digest = body(upload(DockerSaveArchives.of("demo/" + app + ":" + version, version).bytes())).path("digest").asText();
        HttpResponse<String> created = post("/api/v1/releases", """
                {"app":"%s","version":"%s","images":[{"platform":"linux/arm64","digest":"%s"}],
                 "spec":{"container":{"command":["/bin/httpd","-f"],"network":"none"},"health":{"exec":["/bin/true"]}}}
                """.formatted(app, version, digest));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    }

    private HttpResponse<String> send(String method, String path, String body, String authorization, String user) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
                .method(method, HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json")
                .header("Authorization", authorization);
        if (user != null) {
            request.header("X-Turnout-User", user);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private String enroll(String id) throws Exception {
        HttpResponse<String> enrolled = post("/api/v1/devices", "{\"id\":\"" + id + "\"}");
        assertThat(enrolled.statusCode()).as(enrolled.body()).isEqualTo(201);
        return DeviceEnrollment.parse(body(enrolled).path("config").asText()).mqttPassword();
    }

    private static String basic(String user, String secret) {
        return "Basic " + java.util.Base64.getEncoder().encodeToString((user + ":" + secret).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private HttpResponse<byte[]> download(String digest, String authorization, String range) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts/" + digest)).header("Authorization", authorization);
        if (range != null) {
            request.header("Range", range);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private HttpResponse<String> send(String method, String path, String body, String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            request.header("Content-Type", "application/json");
        }
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + token.value()).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + token.value()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode body(HttpResponse<String> response) throws Exception {
        return json.readTree(response.body());
    }
}
