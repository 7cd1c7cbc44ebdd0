package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.engine.DesiredStates;
import dev.turnout.orchestrator.engine.FakeFleetTransport;
import dev.turnout.orchestrator.engine.MutableClock;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.enroll.FleetEnrollment;
import dev.turnout.orchestrator.install.EdgePackage;
import dev.turnout.orchestrator.install.InstallTokens;
import dev.turnout.orchestrator.install.Installs;
import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.sim.DeviceEnrollment;
import dev.turnout.orchestrator.store.IdentityStore;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.proto.crypto.SigningKey;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One-line installs over real HTTP: {@code POST /api/v1/devices} with {@code install}, then the public
 * {@code /install/TOKEN} routes with no credential but the token: served while valid, the config once, 410 after
 * use or expiry, 404 for a token never issued, and nothing served by either.
 */
class InstallRoutesTest {

    private static final Pattern LINE = Pattern.compile(
            "curl -fsSL -o turnout-install\\.sh (http://\\S+/install/([A-Za-z0-9_-]{43})) && echo '([0-9a-f]{64})  turnout-install\\.sh'"
                    + " \\| sha256sum -c - && sudo sh turnout-install\\.sh");

    @TempDir
    Path data;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final SigningKey key = SigningKey.generate();
    private final MutableClock clock = new MutableClock(Instant.parse("2026-12-06T20:00:00.123456789Z"));
    private Vertx vertx;
    private SqliteFleetStore store;
    private IdentityStore identities;
    private BrokerAccess access;
    private ExecutorService engineThread;
    private String base;
    private dev.turnout.orchestrator.security.OperatorToken token;
    private Path deb;

    private void start(boolean withEdgePackage) throws Exception {
        vertx = Vertx.vertx();
        store = SqliteFleetStore.open(data);
        engineThread = Executors.newSingleThreadExecutor();
        FakeFleetTransport transport = new FakeFleetTransport(key.publicKey());
        RolloutEngine engine = new RolloutEngine(store, new DesiredStates(store, key, transport, clock), transport, clock);
        engineThread.submit(engine::start).get();
        token = dev.turnout.orchestrator.security.OperatorToken.loadOrCreate(data);
        access = new BrokerAccess(identities = IdentityStore.open(data),
                new OrchestratorIdentity("turnout-orchestrator-test", "orchestrator-secret"), clock);
        ApiAuth auth = new ApiAuth(vertx, token, new dev.turnout.orchestrator.security.BasicCredentials(identities),
                new dev.turnout.orchestrator.security.OperatorAccounts(store, store, clock), clock);
        deb = data.resolve("turnout-edge_1.0_all.deb");
        Files.write(deb, "!<arch>\nnot really a package, but its bytes are what counts\n".getBytes(StandardCharsets.US_ASCII));
        Installs installs = new Installs(withEdgePackage ? new EdgePackage(deb) : null, new InstallTokens(store, clock), "");
        int[] port = new int[1];
        java.util.function.Supplier<ServerInfo> info = () -> new ServerInfo(key.keyId(), key.publicKey().toBase64(),
                "tcp://127.0.0.1:1883", "http://127.0.0.1:" + port[0], "turnout/v1", "0.1.0");
        HttpApi api = new HttpApi(vertx, store, new ArtifactRepository(data.resolve("artifacts"), store), engine, engineThread,
                info, clock, new FleetEnrollment(store, access, clock), auth, installs);
        port[0] = api.listen("127.0.0.1", 0).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).actualPort();
        base = "http://127.0.0.1:" + port[0];
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        engineThread.shutdownNow();
        identities.close();
        store.close();
    }

    @Test
    void theLinkServesScriptAndPackageWhileValidAndTheConfigOnceThen410() throws Exception {
        start(true);
        HttpResponse<String> enrolled = post("/api/v1/devices", "{\"id\":\"pi-3\",\"labels\":{\"site\":\"attic\"},\"install\":{}}");
        assertThat(enrolled.statusCode()).as(enrolled.body()).isEqualTo(201);
        JsonNode answer = json.readTree(enrolled.body());
        assertThat(answer.has("config")).as("the config goes to the device alone").isFalse();
        String command = answer.path("install").path("command").asText();
        Matcher line = LINE.matcher(command);
        assertThat(line.matches()).as(command).isTrue();
        String url = line.group(1);
        String secretToken = line.group(2);
        assertThat(url).isEqualTo(base + "/install/" + secretToken).isEqualTo(answer.path("install").path("url").asText());
        assertThat(Instant.parse(answer.path("install").path("expiresAt").asText())).isEqualTo(Instant.parse("2026-12-06T21:00:00Z"));

        // at rest: the token's hash only; the sealed config does not show the secret
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"));
             ResultSet rs = c.createStatement().executeQuery("SELECT token_hash, sealed_config FROM install_tokens")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).matches("[0-9a-f]{64}").isNotEqualTo(secretToken)
                    .isEqualTo(InstallTokens.sha256Hex(secretToken.getBytes(StandardCharsets.US_ASCII)));
            assertThat(new String(rs.getBytes(2), StandardCharsets.ISO_8859_1)).doesNotContain("mqttPassword", "pi-3", secretToken);
        }

        // the script, with no credential: the hash in the line is its hash; it pins the package's hash
        HttpResponse<String> script = anonymous("/install/" + secretToken);
        assertThat(script.statusCode()).isEqualTo(200);
        assertThat(script.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/x-shellscript"));
        assertThat(InstallTokens.sha256Hex(script.body().getBytes(StandardCharsets.UTF_8))).isEqualTo(line.group(3));
        assertThat(script.body()).startsWith("#!/bin/sh").contains("set -eu", "DEVICE='pi-3'", "BASE='" + url + "'",
                "DEB_SHA256='" + InstallTokens.sha256Hex(Files.readAllBytes(deb)) + "'");
        assertThat(anonymous("/install/" + secretToken).body()).as("the same script each time").isEqualTo(script.body());
        HttpResponse<byte[]> debFile = anonymousBytes("/install/" + secretToken + "/turnout-edge.deb");
        assertThat(debFile.statusCode()).isEqualTo(200);
        assertThat(debFile.body()).isEqualTo(Files.readAllBytes(deb));

        // the config, once: its hash is the script's, its secret works on the broker
        HttpResponse<String> config = anonymous("/install/" + secretToken + "/edge.yaml");
        assertThat(config.statusCode()).isEqualTo(200);
        assertThat(script.body()).contains("CONFIG_SHA256='" + InstallTokens.sha256Hex(config.body().getBytes(StandardCharsets.UTF_8)) + "'");
        DeviceEnrollment device = DeviceEnrollment.parse(config.body());
        assertThat(config.body()).contains("deviceId: pi-3", "site: attic");
        assertThat(access.authenticate("pi-3", device.mqttPassword().getBytes(StandardCharsets.UTF_8))).isPresent();

        // spent: 410 with a message on every route, nothing served
        for (String path : List.of("", "/turnout-edge.deb", "/edge.yaml")) {
            HttpResponse<String> gone = anonymous("/install/" + secretToken + path);
            assertThat(gone.statusCode()).as(path).isEqualTo(410);
            assertThat(json.readTree(gone.body()).path("error").asText()).contains("used already", "pi-3");
            assertThat(gone.body()).doesNotContain("mqttPassword", "!<arch>", "#!/bin/sh");
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"));
             ResultSet rs = c.createStatement().executeQuery("SELECT length(sealed_config), used_at FROM install_tokens")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getInt(1)).as("the sealed config is dropped once spent").isZero();
            assertThat(rs.getLong(2)).isEqualTo(clock.instant().toEpochMilli());
        }
        assertThat(get("/api/v1/audit").body()).contains("device.install");

        // a token never issued (or one character off): 404, nothing served
        String wrong = (secretToken.charAt(0) == 'A' ? "B" : "A") + secretToken.substring(1);
        for (String t : List.of(wrong, "short")) {
            for (String path : List.of("", "/turnout-edge.deb", "/edge.yaml")) {
                HttpResponse<String> none = anonymous("/install/" + t + path);
                assertThat(none.statusCode()).as(t + path).isEqualTo(404);
                assertThat(none.body()).doesNotContain("mqttPassword", "!<arch>", "#!/bin/sh");
            }
        }
    }

    @Test
    void anExpiredLinkAnswers410AndNeverHandsOutTheConfig() throws Exception {
        start(true);
        HttpResponse<String> enrolled = post("/api/v1/devices", "{\"id\":\"pi-4\",\"install\":{\"expiresInSeconds\":600}}");
        assertThat(enrolled.statusCode()).as(enrolled.body()).isEqualTo(201);
        Matcher line = LINE.matcher(json.readTree(enrolled.body()).path("install").path("command").asText());
        assertThat(line.matches()).isTrue();
        String secretToken = line.group(2);
        clock.advance(Duration.ofSeconds(599)); // issued at 20:00:00 (whole seconds), now 20:09:59.12
        assertThat(anonymous("/install/" + secretToken).statusCode()).isEqualTo(200);
        clock.advance(Duration.ofSeconds(1));
        for (String path : List.of("", "/turnout-edge.deb", "/edge.yaml")) {
            HttpResponse<String> gone = anonymous("/install/" + secretToken + path);
            assertThat(gone.statusCode()).as(path).isEqualTo(410);
            assertThat(json.readTree(gone.body()).path("error").asText()).contains("expired", "--install-command");
        }
        assertThat(store.findInstallToken(InstallTokens.sha256Hex(secretToken.getBytes(StandardCharsets.US_ASCII))).orElseThrow().usedAt())
                .as("an expired token is never spent").isNull();
    }

    @Test
    void withoutAnEdgePackageNothingIsEnrolled() throws Exception {
        start(false);
        HttpResponse<String> refused = post("/api/v1/devices", "{\"id\":\"pi-5\",\"install\":{}}");
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(json.readTree(refused.body()).path("error").asText()).contains("--edge-package");
        assertThat(get("/api/v1/devices/pi-5").statusCode()).isEqualTo(404);
        assertThat(identities.find("pi-5")).isEmpty();
    }

    @Test
    void aLifetimeOfNothingOrOverAWeekIsRefusedAndNothingIsEnrolled() throws Exception {
        start(true);
        for (String bad : List.of("0", "-5", "604801")) {
            HttpResponse<String> r = post("/api/v1/devices", "{\"id\":\"pi-5\",\"install\":{\"expiresInSeconds\":" + bad + "}}");
            assertThat(r.statusCode()).as(bad).isEqualTo(400);
            assertThat(json.readTree(r.body()).path("error").asText()).contains("7 days");
        }
        assertThat(get("/api/v1/devices/pi-5").statusCode()).isEqualTo(404);
        assertThat(identities.find("pi-5")).isEmpty();
    }

    private HttpResponse<String> anonymous(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<byte[]> anonymousBytes(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + token.value()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + token.value())
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
