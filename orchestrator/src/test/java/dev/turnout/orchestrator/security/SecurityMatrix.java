package dev.turnout.orchestrator.security;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.testsupport.Closer;
import dev.turnout.orchestrator.app.ScriptedDevice;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.crypto.SigningKey;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The broker security matrix of docs/security.md, run against one broker by each subclass. Every
 * row makes an attempt that must fail and then checks that nothing changed: a monitoring
 * subscriber (the positive control receives a legitimate message sent after the attempt) saw
 * nothing forged, devices accepted nothing, the orchestrator's view is the same.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
abstract class SecurityMatrix {

    /** How long "nothing arrives" is watched for, after the positive control arrived. */
    private static final Duration QUIET = Duration.ofMillis(1500);

    protected final Topics topics = Topics.defaults();
    protected final ObjectMapper json = new ObjectMapper();
    protected TurnoutServer server;
    private PublicKey trusted;
    private MqttProbe watcher;
    private final Closer perTest = new Closer();
    private final SigningKey attackerKey = SigningKey.generate();

    /** Starts the broker (if external) and the orchestrator; the server's data directory is {@code data}. */
    protected abstract TurnoutServer startServer(Path work) throws Exception;

    protected abstract void stopBroker() throws Exception;

    /**
     * True when the broker refuses a client id that is not its user name at CONNECT (HiveMQ
     * extension); false when it replaces the id by the user name (Mosquitto
     * {@code use_username_as_clientid}).
     */
    protected abstract boolean refusesForeignClientIdsAtConnect();

    @BeforeAll
    void startAll() throws Exception {
        // The matrix makes brokers drop clients on purpose; Paho 1.2.5 can then die with an NPE on
        // one of its own background threads. Awaitility would report that as this test's failure.
        org.awaitility.Awaitility.doNotCatchUncaughtExceptionsByDefault();
        // Mosquitto started as root drops to its own user: it must be able to enter this directory
        Path work = Files.createTempDirectory("security-matrix",
                java.nio.file.attribute.PosixFilePermissions.asFileAttribute(java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x")));
        server = startServer(work);
        trusted = PublicKey.fromBase64(api("/api/v1/server").path("publicKey").asText());
        JsonNode user = cliJson("user", "add", "watcher", "--role", "monitor");
        watcher = connectWithRetry(() -> MqttProbe.connect(server.brokerUrl(), "watcher", "watcher", user.path("password").asText()));
        assertThat(watcher.subscribe(topics.allStatus())).isTrue();
        assertThat(watcher.subscribe(topics.allPresence())).isTrue();
    }

    @AfterAll
    void stopAll() throws Exception {
        org.awaitility.Awaitility.reset();
        if (watcher != null) {
            watcher.close();
        }
        if (server != null) {
            server.close();
        }
        stopBroker();
    }

    @AfterEach
    void closePerTest() {
        perTest.close();
    }

    @Test
    void aDeviceCannotPublishAnotherDevicesStatus() throws Exception {
        Enrolled a = enroll("st-a");
        Enrolled b = enroll("st-b");
        ScriptedDevice victim = device(b);
        MqttProbe attacker = probe(a);

        attacker.publish(topics.status(b.id), status(b.id, "6.6.6"), false);
        attacker.publish(topics.health(b.id), status(b.id, "6.6.6"), false);

        victim.reportStatus("1.0.0");
        awaitWatcherSees(b.id, "1.0.0");
        assertNothingDuringQuiet(() -> watcherSaw(e -> e.getVersion().equals("6.6.6")));
        assertThat(api("/api/v1/devices/" + b.id).path("apps").toString()).doesNotContain("6.6.6");
    }

    @Test
    void aDeviceCannotPublishADesiredState() throws Exception {
        Enrolled a = enroll("ds-a");
        Enrolled b = enroll("ds-b");
        ScriptedDevice victim = device(b);
        MqttProbe attacker = probe(a);

        attacker.publish(topics.desired(b.id), forgedDesired(b.id, attackerKey), true);
        attacker.publish(topics.desired(a.id), forgedDesired(a.id, attackerKey), true);

        victim.reportStatus("1.0.0");
        awaitWatcherSees(b.id, "1.0.0");
        assertNothingDuringQuiet(() -> victim.rejected() > 0 || !victim.accepted().isEmpty());
        // nothing was retained either: a fresh connection of the victim gets nothing
        victim.close();
        ScriptedDevice again = device(b);
        assertNothingDuringQuiet(() -> again.rejected() > 0 || !again.accepted().isEmpty());
    }

    @Test
    void aDeviceSubscribingToEverythingReceivesNothingOfOthers() throws Exception {
        Enrolled a = enroll("sub-a");
        Enrolled b = enroll("sub-b");
        MqttProbe attacker = probe(a);
        attacker.subscribe("turnout/#");
        attacker.subscribe("#");
        attacker.subscribe(topics.allStatus());
        attacker.subscribe(topics.desired(b.id));

        ScriptedDevice victim = device(b);
        victim.reportStatus("1.0.0");
        awaitWatcherSees(b.id, "1.0.0");
        assertNothingDuringQuiet(() -> attacker.received.stream().anyMatch(m -> !m.topic().startsWith(topics.prefix() + "/devices/" + a.id + "/")));
    }

    @Test
    void clientIdsThatAreNotTheUserNameGainNothing() throws Exception {
        Enrolled a = enroll("cid-a");
        Enrolled b = enroll("cid-b");
        ScriptedDevice victim = device(b);
        for (String clientId : List.of("#", "+", "a/b", b.id)) {
            MqttProbe attempt;
            try {
                attempt = MqttProbe.connect(server.brokerUrl(), clientId, a.id, a.password);
            } catch (MqttException refused) {
                continue;
            }
            perTest.add(attempt);
            assertThat(refusesForeignClientIdsAtConnect()).as("client id %s was accepted", clientId).isFalse();
            attempt.subscribe(topics.desired(b.id));
            attempt.subscribe("turnout/#");
            attempt.publish(topics.status(b.id), status(b.id, "6.6.6"), false);
        }
        victim.reportStatus("1.0.0");
        awaitWatcherSees(b.id, "1.0.0");
        assertNothingDuringQuiet(() -> watcherSaw(e -> e.getVersion().equals("6.6.6")) || !victim.isConnected());
        // and no such id can be enrolled in the first place
        for (String id : List.of("#", "+", "a/b", "x\u0007")) {
            assertThat(cli("device", "enroll", id).code).as(id).isEqualTo(1);
        }
        assertThat(api("/api/v1/devices").toString()).doesNotContain("\"a/b\"", "\"#\"");
    }

    @Test
    void aWrongPasswordNoPasswordOrAnUnknownUserIsRefused() throws Exception {
        Enrolled a = enroll("pw-a");
        assertThatThrownBy(() -> MqttProbe.connect(server.brokerUrl(), a.id, a.id, a.password + "x")).isInstanceOf(MqttException.class);
        assertThatThrownBy(() -> MqttProbe.connect(server.brokerUrl(), a.id, null, null)).isInstanceOf(MqttException.class);
        assertThatThrownBy(() -> MqttProbe.connect(server.brokerUrl(), "nobody", "nobody", a.password)).isInstanceOf(MqttException.class);
        assertThat(api("/api/v1/devices/" + a.id).path("online").asBoolean()).isFalse();
    }

    @Test
    void aRevokedDeviceIsDroppedAndCannotComeBack() throws Exception {
        Enrolled d = enroll("rv-a");
        ScriptedDevice device = device(d);
        await().atMost(Duration.ofSeconds(20)).until(() -> api("/api/v1/devices/" + d.id).path("online").asBoolean());

        Result revoked = cli("device", "revoke", d.id);
        assertThat(revoked.code).as(revoked.toString()).isZero();
        assertThat(revoked.out).contains("revoked " + d.id);
        await().atMost(Duration.ofSeconds(15)).until(() -> !device.isConnected());
        assertThatThrownBy(() -> MqttProbe.connect(server.brokerUrl(), d.id, d.id, d.password)).isInstanceOf(MqttException.class);
        assertThat(api("/api/v1/audit").toString()).contains("device.revoke");
        assertThat(cli("device", "revoke", d.id).out).contains("revoked already");
    }

    @Test
    void aMonitorCannotPublish() throws Exception {
        Enrolled b = enroll("mon-b");
        ScriptedDevice victim = device(b);
        JsonNode user = cliJson("user", "add", "snoop", "--role", "monitor");
        MqttProbe snoop = connectWithRetry(() -> MqttProbe.connect(server.brokerUrl(), "snoop", "snoop", user.path("password").asText()));
        perTest.add(snoop);

        snoop.publish(topics.status(b.id), status(b.id, "6.6.6"), false);
        snoop.publish(topics.desired(b.id), forgedDesired(b.id, attackerKey), true);
        snoop.publish(topics.status("snoop"), status("snoop", "6.6.6"), false);
        snoop.publish(topics.presence("snoop"), Presence.newBuilder().setDeviceId("snoop").setOnline(true).build().toByteArray(), true);
        snoop.publish(topics.rolloutEvents("r-forged"), new byte[] {1, 2, 3}, false);

        victim.reportStatus("1.0.0");
        awaitWatcherSees(b.id, "1.0.0");
        assertNothingDuringQuiet(() -> watcherSaw(e -> e.getVersion().equals("6.6.6"))
                || watcher.received.stream().anyMatch(m -> m.topic().contains("/snoop/"))
                || victim.rejected() > 0 || !victim.accepted().isEmpty());
    }

    @Test
    void aDesiredStateForgedWithTheOrchestratorsOwnBrokerCredentialsIsRefusedByTheDevice() throws Exception {
        Enrolled b = enroll("forge-b");
        ScriptedDevice victim = device(b);
        String name = server.brokerAccess().orchestrator().name();
        String secret = server.brokerAccess().orchestrator().secret();

        // the broker lets the orchestrator's identity publish a desired state: only the signature stands in the way
        try (MqttProbe thief = MqttProbe.connect(server.brokerUrl(), name, name, secret)) {
            thief.publish(topics.desired(b.id), forgedDesired(b.id, attackerKey), false);
            thief.publish(topics.desired(b.id), new byte[] {0x0a, 0x03, 'b', 'a', 'd'}, false);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> victim.rejected() == 2);
        assertThat(victim.accepted()).isEmpty();
        assertThat(victim.running()).isEmpty();

        // the orchestrator takes its session back and still hears the fleet
        Enrolled c = enroll("forge-c");
        device(c);
        await().atMost(Duration.ofSeconds(30)).until(() -> api("/api/v1/devices/" + c.id).path("online").asBoolean());
    }

    // ---- container logs (docs/security.md, "Container logs leave the device") ----------------

    @Test
    void aDeviceCannotReadAnotherDevicesLogsAndAMonitorReadsNone() throws Exception {
        Enrolled a = enroll("lr-a");
        Enrolled b = enroll("lr-b");
        ScriptedDevice victim = device(b);
        MqttProbe attacker = probe(a);
        String p = topics.prefix();
        for (String filter : List.of(topics.logResponse(b.id), topics.logRequest(b.id), p + "/devices/+/logs/response",
                p + "/devices/+/logs/request", p + "/devices/+/logs/#", p + "/devices/" + b.id + "/#", "#")) {
            attacker.subscribe(filter);
        }
        JsonNode user = cliJson("user", "add", "lr-snoop", "--role", "monitor");
        MqttProbe snoop = connectWithRetry(() -> MqttProbe.connect(server.brokerUrl(), "lr-snoop", "lr-snoop", user.path("password").asText()));
        perTest.add(snoop);
        for (String filter : List.of(topics.allLogResponses(), topics.logResponse(b.id), topics.logRequest(b.id), p + "/devices/+/logs/#")) {
            snoop.subscribe(filter);
        }

        // positive control: the orchestrator asks b, b answers (it has no app web: its answer says so), the orchestrator reads it
        java.net.http.HttpResponse<String> asked = http("GET", "/api/v1/devices/" + b.id + "/logs/web", null, bearer());
        assertThat(asked.statusCode()).as(asked.body()).isEqualTo(404);
        assertThat(asked.body()).contains("device " + b.id + ": no app 'web' on device " + b.id);
        assertThat(victim.logRequestsAnswered()).isEqualTo(1);
        assertNothingDuringQuiet(() -> attacker.received.stream().anyMatch(m -> !m.topic().startsWith(p + "/devices/" + a.id + "/"))
                || !snoop.received.isEmpty());
    }

    @Test
    void aDeviceCannotForgeALogRequestAndOneSignedByAnotherKeyIsNotAnswered() throws Exception {
        Enrolled a = enroll("lf-a");
        Enrolled b = enroll("lf-b");
        ScriptedDevice victim = device(b);
        byte[] forged = attackerKey.seal(logRequest(b.id, "forged-1")).toByteArray();
        byte[] unsigned = logRequest(b.id, "forged-2").toByteArray();
        // each attempt on a connection of its own: a broker may drop the client after a refused publish
        for (String topic : List.of(topics.logRequest(b.id), topics.logRequest(a.id))) {
            for (byte[] payload : List.of(forged, unsigned)) {
                probe(a).publish(topic, payload, false);
            }
        }
        probe(a).publish(topics.logResponse(b.id), dev.turnout.proto.LogResponse.newBuilder().setRequestId("forged-1").setDeviceId(b.id)
                .setApp("web").addLines(dev.turnout.proto.LogLine.newBuilder().setText("6.6.6 forged")).build().toByteArray(), false);
        victim.reportStatus("1.0.0");
        awaitWatcherSees(b.id, "1.0.0");
        assertNothingDuringQuiet(() -> victim.logRequestsRefused() > 0 || victim.logRequestsAnswered() > 0);

        // the broker lets the orchestrator's identity publish a request: only the signature stands in the way
        String name = server.brokerAccess().orchestrator().name();
        String secret = server.brokerAccess().orchestrator().secret();
        try (MqttProbe thief = MqttProbe.connect(server.brokerUrl(), name, name, secret)) {
            thief.publish(topics.logRequest(b.id), forged, false);
            thief.publish(topics.logRequest(b.id), unsigned, false);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> victim.logRequestsRefused() == 2);
        assertThat(victim.logRequestsAnswered()).as("a refused request gets no answer").isZero();

        // and the orchestrator's own request, signed, is answered (once it has its session back)
        await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(1500)).until(() ->
                http("GET", "/api/v1/devices/" + b.id + "/logs/web", null, bearer()).statusCode() == 404);
        assertThat(victim.logRequestsAnswered()).isGreaterThanOrEqualTo(1);
    }

    private static dev.turnout.proto.LogRequest logRequest(String deviceId, String requestId) {
        long now = System.currentTimeMillis();
        return dev.turnout.proto.LogRequest.newBuilder().setRequestId(requestId).setDeviceId(deviceId).setApp("web").setTailLines(10)
                .setIssuedAtMs(now).setExpiresAtMs(now + 30_000).build();
    }

    // ---- the HTTP API (docs/security.md, "HTTP API") -----------------------------------------

    @Test
    void anApiCallWithoutTheTokenOrWithAWrongOneIsRefusedAndChangesNothing() throws Exception {
        Enrolled kept = enroll("tok-kept");
        int rolloutsBefore = api("/api/v1/rollouts").path("rollouts").size();
        int usersBefore = api("/api/v1/users").path("users").size();
        for (String authorization : new String[] {null, "Bearer " + Secrets.newSecret(), "Bearer " + server.operatorToken() + "x"}) {
            assertThat(http("POST", "/api/v1/devices", "{\"id\":\"tok-intruder\"}", authorization).statusCode()).isEqualTo(401);
            assertThat(http("POST", "/api/v1/devices/" + kept.id + "/revoke", "{}", authorization).statusCode()).isEqualTo(401);
            assertThat(http("POST", "/api/v1/users", "{\"name\":\"tok-spy\",\"role\":\"monitor\"}", authorization).statusCode()).isEqualTo(401);
            assertThat(http("POST", "/api/v1/rollouts", "{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"all\"}", authorization)
                    .statusCode()).isEqualTo(401);
            java.net.http.HttpResponse<String> read = http("GET", "/api/v1/devices", null, authorization);
            assertThat(read.statusCode()).isEqualTo(401);
            assertThat(read.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
            assertThat(read.body()).doesNotContain(kept.id);
        }
        // the CLI with a wrong token: one line, exit 1, nothing enrolled
        Result cli = cliWith(Map.of("TURNOUT_TOKEN", Secrets.newSecret()), "device", "enroll", "tok-intruder");
        assertThat(cli.code).isEqualTo(1);
        assertThat(cli.err).contains("refused the token from TURNOUT_TOKEN");

        assertThat(http("GET", "/api/v1/devices/tok-intruder", null, bearer()).statusCode()).isEqualTo(404);
        assertThat(api("/api/v1/users").toString()).doesNotContain("tok-spy").doesNotContain("tok-intruder");
        assertThat(api("/api/v1/users").path("users").size()).isEqualTo(usersBefore);
        assertThat(api("/api/v1/rollouts").path("rollouts").size()).isEqualTo(rolloutsBefore);
        assertThat(server.brokerAccess().find(kept.id)).isPresent();
        probe(kept); // still admitted by the broker
    }

    @Test
    void aDeviceCannotDownloadAnArtifactOfAReleaseNotTargetedAtIt() throws Exception {
        Enrolled a = enroll("dl-a");
        Enrolled b = enroll("dl-b");
        String digest = release("dl-web", "1.0.0");
        assertThat(cli("deploy", "dl-web:1.0.0", "--target", "device:" + a.id).code).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> download(digest, a).statusCode() == 200); // positive control

        java.net.http.HttpResponse<byte[]> refused = download(digest, b);
        assertThat(refused.statusCode()).isEqualTo(403);
        assertThat(new String(refused.body(), StandardCharsets.UTF_8)).startsWith("{\"error\"").contains("desired state of device dl-b");
        java.net.http.HttpResponse<byte[]> ranged = downloadRange(digest, b, "bytes=0-");
        assertThat(ranged.statusCode()).isEqualTo(403);
        assertThat(ranged.headers().firstValue("Content-Range")).isEmpty();
        // another release of the same app, never deployed: not even device a gets it
        String other = release("dl-web", "2.0.0");
        assertThat(download(other, a).statusCode()).isEqualTo(403);
    }

    @Test
    void aRevokedDeviceCannotDownload() throws Exception {
        Enrolled a = enroll("dlr-a");
        String digest = release("dlr-web", "1.0.0");
        assertThat(cli("deploy", "dlr-web:1.0.0", "--target", "device:" + a.id).code).isZero();
        await().atMost(Duration.ofSeconds(10)).until(() -> download(digest, a).statusCode() == 200);
        assertThat(cli("device", "revoke", a.id).code).isZero();
        java.net.http.HttpResponse<byte[]> refused = download(digest, a);
        assertThat(refused.statusCode()).isEqualTo(401);
        assertThat(new String(refused.body(), StandardCharsets.UTF_8)).contains("wrong or revoked");
    }

    @Test
    void aDevicesCredentialsCannotCallOperatorRoutes() throws Exception {
        Enrolled a = enroll("op-a");
        Enrolled b = enroll("op-b");
        String basic = basic(a);
        assertThat(http("GET", "/api/v1/devices", null, basic).statusCode()).isEqualTo(403);
        assertThat(http("GET", "/api/v1/audit", null, basic).statusCode()).isEqualTo(403);
        assertThat(http("GET", "/metrics", null, basic).statusCode()).isEqualTo(403);
        assertThat(http("GET", "/api/events", null, basic).statusCode()).isEqualTo(403);
        assertThat(http("POST", "/api/v1/devices", "{\"id\":\"op-evil\"}", basic).statusCode()).isEqualTo(401);
        assertThat(http("POST", "/api/v1/devices/" + b.id + "/revoke", "{}", basic).statusCode()).isEqualTo(401);
        assertThat(http("POST", "/api/v1/users", "{\"name\":\"op-spy\",\"role\":\"monitor\"}", basic).statusCode()).isEqualTo(401);
        assertThat(http("POST", "/api/v1/session", "{\"token\":\"" + a.password + "\"}", null).statusCode()).isEqualTo(401);

        assertThat(http("GET", "/api/v1/devices/op-evil", null, bearer()).statusCode()).isEqualTo(404);
        assertThat(server.brokerAccess().find(b.id)).isPresent();
        assertThat(api("/api/v1/users").toString()).doesNotContain("op-spy");
    }

    /** Uploads a docker-save archive and registers APP:VERSION with it; returns the archive's digest. */
    private String release(String app, String version) throws Exception {
        Path archive = Files.createTempFile("matrix-" + app, ".tar");
        Files.write(archive, dev.turnout.orchestrator.http.DockerSaveArchives.of("demo/" + app + ":" + version, app + version).bytes());
        Path spec = Files.writeString(Files.createTempFile("matrix-spec", ".yaml"), "container:\n  command: [\"/bin/httpd\"]\n");
        Result created = cli("release", "create", app + ":" + version, "--image", "linux/arm64=" + archive, "--spec", spec.toString());
        assertThat(created.code).as(created.toString()).isZero();
        return api("/api/v1/releases/" + app + "/" + version).path("images").get(0).path("digest").asText();
    }

    private java.net.http.HttpResponse<byte[]> download(String digest, Enrolled device) throws Exception {
        return downloadRange(digest, device, null);
    }

    private java.net.http.HttpResponse<byte[]> downloadRange(String digest, Enrolled device, String range) throws Exception {
        java.net.http.HttpRequest.Builder request = java.net.http.HttpRequest.newBuilder(java.net.URI.create(server.url()
                + "/api/v1/artifacts/" + digest)).header("Authorization", basic(device));
        if (range != null) {
            request.header("Range", range);
        }
        return HTTP.send(request.build(), java.net.http.HttpResponse.BodyHandlers.ofByteArray());
    }

    private static String basic(Enrolled device) {
        return "Basic " + java.util.Base64.getEncoder().encodeToString((device.id + ":" + device.password).getBytes(StandardCharsets.UTF_8));
    }

    private String bearer() {
        return "Bearer " + server.operatorToken();
    }

    private java.net.http.HttpResponse<String> http(String method, String path, String body, String authorization) throws Exception {
        java.net.http.HttpRequest.Builder request = java.net.http.HttpRequest.newBuilder(java.net.URI.create(server.url() + path))
                .method(method, body == null ? java.net.http.HttpRequest.BodyPublishers.noBody()
                        : java.net.http.HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            request.header("Content-Type", "application/json");
        }
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        if (path.equals("/api/events")) {
            // a stream that is let in never ends: only the status line matters here
            java.net.http.HttpResponse<java.io.InputStream> r = HTTP.send(request.build(), java.net.http.HttpResponse.BodyHandlers.ofInputStream());
            r.body().close();
            return new java.net.http.HttpResponse<>() {
                public int statusCode() { return r.statusCode(); }
                public java.net.http.HttpRequest request() { return r.request(); }
                public java.util.Optional<java.net.http.HttpResponse<String>> previousResponse() { return java.util.Optional.empty(); }
                public java.net.http.HttpHeaders headers() { return r.headers(); }
                public String body() { return ""; }
                public java.util.Optional<javax.net.ssl.SSLSession> sslSession() { return r.sslSession(); }
                public java.net.URI uri() { return r.uri(); }
                public java.net.http.HttpClient.Version version() { return r.version(); }
            };
        }
        return HTTP.send(request.build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    }

    // ---- helpers ----

    protected record Enrolled(String id, String password) {
    }

    protected record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    /** Enrolls with the CLI, as an operator does, and keeps the secret from the config it prints. */
    private Enrolled enroll(String id) throws Exception {
        JsonNode answer = cliJson("device", "enroll", id);
        return new Enrolled(id, ScriptedDevice.passwordOf(answer.path("config").asText()));
    }

    private ScriptedDevice device(Enrolled e) throws Exception {
        ScriptedDevice d = connectWithRetry(() -> new ScriptedDevice(e.id, e.password, server.brokerUrl(), topics, trusted, Set.of()));
        perTest.add(d);
        return d;
    }

    private MqttProbe probe(Enrolled e) throws MqttException {
        MqttProbe p = connectWithRetry(() -> MqttProbe.connect(server.brokerUrl(), e.id, e.id, e.password));
        perTest.add(p);
        return p;
    }

    /**
     * A legitimate connect right after an enrollment: a Mosquitto rereads its password file on
     * SIGHUP asynchronously, so a new identity may need a moment (real devices retry too).
     */
    protected static <T> T connectWithRetry(java.util.concurrent.Callable<T> connect) {
        java.util.concurrent.atomic.AtomicReference<T> connected = new java.util.concurrent.atomic.AtomicReference<>();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                .until(() -> {
                    connected.set(connect.call());
                    return true;
                });
        return connected.get();
    }

    private static byte[] status(String deviceId, String version) {
        return StatusEvent.newBuilder().setDeviceId(deviceId).setApp("web").setVersion(version).setState(UpdateState.ACTIVE)
                .setSequence(1_000_000).setTimestampMs(System.currentTimeMillis()).build().toByteArray();
    }

    private static byte[] forgedDesired(String deviceId, SigningKey key) {
        long now = System.currentTimeMillis();
        DesiredState state = DesiredState.newBuilder().setDeviceId(deviceId).setSequence(1_000_000)
                .setIssuedAtMs(now).setExpiresAtMs(now + 3_600_000)
                .addApps(AppDesired.newBuilder().setApp("web").setPhase(Phase.ACTIVATE)
                        .setRelease(Release.newBuilder().setApp("web").setVersion("6.6.6").build()).build())
                .build();
        return key.seal(state).toByteArray();
    }

    private void awaitWatcherSees(String deviceId, String version) {
        await().atMost(Duration.ofSeconds(15)).until(() -> watcherSaw(e -> e.getDeviceId().equals(deviceId) && e.getVersion().equals(version)));
    }

    private boolean watcherSaw(Predicate<StatusEvent> match) {
        return watcher.received.stream().filter(m -> m.topic().endsWith("/status")).anyMatch(m -> {
            try {
                return match.test(StatusEvent.parseFrom(m.payload()));
            } catch (InvalidProtocolBufferException e) {
                return true; // garbage on a status topic counts as forged
            }
        });
    }

    private static void assertNothingDuringQuiet(java.util.concurrent.Callable<Boolean> somethingHappened) {
        await().during(QUIET).atMost(QUIET.plusSeconds(5)).until(() -> !somethingHappened.call());
    }

    protected Result cli(String... args) {
        return cliWith(server == null ? Map.of() : Map.of("TURNOUT_TOKEN", server.operatorToken()), args);
    }

    protected Result cliWith(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> full = new ArrayList<>(List.of(args));
        if (server != null) {
            full.add("--server");
            full.add(server.url());
        }
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env, full.toArray(String[]::new));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private JsonNode cliJson(String... args) throws Exception {
        List<String> full = new ArrayList<>(List.of(args));
        full.add("--output");
        full.add("json");
        Result r = cli(full.toArray(String[]::new));
        assertThat(r.code).as(r.toString()).isZero();
        return json.readTree(r.out);
    }

    private static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newHttpClient();

    /** GET with the operator token, as the operator's tools do. */
    private JsonNode api(String path) throws Exception {
        java.net.http.HttpResponse<String> r = http("GET", path, null, bearer());
        assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }
}
