package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.webhook.RetryPolicy;
import dev.turnout.orchestrator.webhook.WebhookSignature;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Webhooks against real receivers (a Vert.x HTTP server in this test) while scripted devices take
 * real rollouts: signed events arrive in order; a receiver that is down, one that holds every request,
 * one that answers 410 and one that fails once neither hold up the rollout nor go unrecorded.
 */
class WebhookIT {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String SECRET = "a-receiver-secret-0123456789";
    /** Short retries: 3 attempts, 100 ms then 200 ms apart. */
    private static final RetryPolicy FAST = new RetryPolicy(3, Duration.ofMillis(100), 2, Duration.ofSeconds(10), 100);

    @TempDir
    Path work;

    private TestFleet fleet;
    private Vertx vertx;
    private String receiverUrl;
    private final List<Received> received = new CopyOnWriteArrayList<>();
    private final Promise<Void> releaseSlow = Promise.promise();
    private final Map<String, AtomicInteger> flakyTries = new ConcurrentHashMap<>();

    record Received(String path, MultiMap headers, String body, JsonNode json) {
        String event() {
            return headers.get("X-Turnout-Event");
        }
    }

    @BeforeEach
    void startReceiver() throws Exception {
        vertx = Vertx.vertx();
        HttpServer server = vertx.createHttpServer().requestHandler(this::receive).listen(0, "127.0.0.1")
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        receiverUrl = "http://127.0.0.1:" + server.actualPort();
    }

    private void receive(HttpServerRequest req) {
        req.body().onSuccess(buffer -> {
            String body = buffer.toString(StandardCharsets.UTF_8);
            JsonNode json;
            try {
                json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(body);
            } catch (Exception e) {
                json = null;
            }
            received.add(new Received(req.path(), MultiMap.caseInsensitiveMultiMap().addAll(req.headers()), body, json));
            String path = req.path();
            if (path.startsWith("/slow")) {
                releaseSlow.future().onComplete(done -> req.response().setStatusCode(200).end());
            } else if (path.startsWith("/gone")) {
                req.response().setStatusCode(410).end("gone");
            } else if (path.startsWith("/flaky")) {
                int tries = flakyTries.computeIfAbsent(req.getHeader("X-Turnout-Delivery"), k -> new AtomicInteger()).incrementAndGet();
                req.response().setStatusCode(tries == 1 ? 503 : 200).end();
            } else {
                req.response().setStatusCode(204).end();
            }
        });
    }

    @AfterEach
    void tearDown() throws Exception {
        releaseSlow.tryComplete();
        if (fleet != null) {
            fleet.close();
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aReceiverGetsSignedEventsOfARolloutAndOfOneThatIsRolledBack() throws Exception {
        fleet = TestFleet.start(work.resolve("server"), FAST);
        JsonNode rollouts = add(receiverUrl + "/good/rollouts", "[\"rollout.*\", \"device.failed\"]", SECRET);
        assertThat(rollouts.has("secret")).as("a given secret is never answered").isFalse();
        JsonNode presence = add(receiverUrl + "/good/presence", "[\"device.online\"]", null);
        String generated = presence.path("secret").asText();
        assertThat(generated).hasSize(43);
        assertThat(fleet.getJson("/api/v1/webhooks").toString()).doesNotContain(SECRET).doesNotContain(generated);

        fleet.createReleases("1.0.0", "2.0.0");
        fleet.device("wh-a", Map.of(), Set.of("2.0.0"));
        fleet.device("wh-b", Map.of(), Set.of());
        fleet.device("wh-c", Map.of(), Set.of());
        await().atMost(WAIT).until(() -> at("/good/presence").size() == 3);
        assertThat(at("/good/presence")).extracting(r -> r.json().path("data").path("deviceId").asText())
                .containsExactlyInAnyOrder("wh-a", "wh-b", "wh-c");

        String v1 = fleet.rollout("1.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(v1).equals("SUCCEEDED"));
        String v2 = fleet.rollout("2.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(v2).equals("ROLLED_BACK"));
        await().atMost(WAIT).until(() -> at("/good/rollouts").stream().anyMatch(r -> r.event().equals("rollout.rolled_back")));

        List<Received> events = at("/good/rollouts");
        assertThat(events).extracting(Received::event).containsSubsequence("rollout.started", "rollout.wave_started",
                "rollout.wave_completed", "rollout.wave_started", "rollout.completed", "rollout.started", "device.failed",
                "rollout.rolling_back", "rollout.rolled_back");
        assertThat(events).extracting(Received::event).allMatch(e -> e.startsWith("rollout.") || e.equals("device.failed"));
        Received failed = events.stream().filter(r -> r.event().equals("device.failed")).findFirst().orElseThrow();
        assertThat(failed.json().path("data").path("deviceId").asText()).isEqualTo("wh-a");
        assertThat(failed.json().path("data").path("rolloutId").asText()).isEqualTo(v2);
        Received completed = events.stream().filter(r -> r.event().equals("rollout.completed")).findFirst().orElseThrow();
        assertThat(completed.json().path("data").path("rolloutId").asText()).isEqualTo(v1);
        assertThat(completed.json().path("data").path("version").asText()).isEqualTo("1.0.0");
        assertThat(completed.json().path("data").path("state").asText()).isEqualTo("SUCCEEDED");

        Set<String> ids = new HashSet<>();
        for (Received r : received) {
            String secret = r.path().equals("/good/rollouts") ? SECRET : generated;
            long timestamp = Long.parseLong(r.headers().get("X-Turnout-Timestamp"));
            assertThat(Math.abs(Instant.now().getEpochSecond() - timestamp)).isLessThan(300);
            assertThat(WebhookSignature.verify(secret, timestamp, r.body().getBytes(StandardCharsets.UTF_8),
                    r.headers().get("X-Turnout-Signature"))).as("signature of " + r.event()).isTrue();
            assertThat(WebhookSignature.verify(secret, timestamp + 1, r.body().getBytes(StandardCharsets.UTF_8),
                    r.headers().get("X-Turnout-Signature"))).isFalse();
            assertThat(r.headers().get("Content-Type")).isEqualTo("application/json");
            assertThat(r.json().path("event").asText()).isEqualTo(r.event());
            assertThat(r.json().path("id").asText()).isEqualTo(r.headers().get("X-Turnout-Delivery"));
            assertThat(Instant.parse(r.json().path("time").asText())).isBefore(Instant.now().plusSeconds(1));
            assertThat(ids.add(r.json().path("id").asText())).as("unique delivery ids").isTrue();
        }

        String id = rollouts.path("id").asText();
        await().atMost(WAIT).until(() -> deliveries(id).size() == events.size());
        assertThat(deliveries(id)).allSatisfy(d -> {
            assertThat(d.path("result").asText()).isEqualTo("DELIVERED");
            assertThat(d.path("statusCode").asInt()).isEqualTo(204);
            assertThat(d.path("attempts").asInt()).isEqualTo(1);
        });
        assertThat(deliveries(id).get(0).path("event").asText()).isEqualTo("rollout.rolled_back");
        PrometheusScrape metrics = PrometheusScrape.parse(fleet.get("/metrics"));
        assertThat(metrics.value("turnout_webhook_deliveries_total", "result", "delivered").orElseThrow())
                .isGreaterThanOrEqualTo(events.size() + 3);
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void downSlowGoneAndFlakyReceiversNeitherHoldUpTheRolloutNorGoUnrecorded() throws Exception {
        fleet = TestFleet.start(work.resolve("server"), FAST);
        String down = add(closedPortUrl() + "/down", "[\"rollout.*\"]", SECRET).path("id").asText();
        String slow = add(receiverUrl + "/slow", "[\"rollout.*\"]", SECRET).path("id").asText();
        String gone = add(receiverUrl + "/gone", "[\"rollout.completed\"]", SECRET).path("id").asText();
        String flaky = add(receiverUrl + "/flaky", "[\"rollout.completed\"]", SECRET).path("id").asText();
        fleet.createReleases("1.0.0");
        fleet.device("wh-x", Map.of(), Set.of());
        fleet.device("wh-y", Map.of(), Set.of());
        await().atMost(WAIT).until(() -> fleet.countOnline() == 2);

        String v1 = fleet.rollout("1.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(v1).equals("SUCCEEDED"));
        // the slow receiver still holds its first request: the rollout did not wait for it
        assertThat(at("/slow")).hasSizeLessThanOrEqualTo(1);
        assertThat(deliveries(slow)).isEmpty();
        Instant released = Instant.now();
        releaseSlow.complete();

        await().atMost(WAIT).until(() -> deliveries(slow).stream().anyMatch(d -> d.path("event").asText().equals("rollout.completed")));
        List<JsonNode> slowLog = deliveries(slow);
        assertThat(slowLog).allSatisfy(d -> assertThat(d.path("result").asText()).isEqualTo("DELIVERED"));
        assertThat(slowLog.get(slowLog.size() - 1).path("event").asText()).isEqualTo("rollout.started");
        assertThat(Instant.parse(slowLog.get(slowLog.size() - 1).path("at").asText())).isAfterOrEqualTo(released.minusMillis(1));

        await().atMost(WAIT).until(() -> deliveries(down).stream().anyMatch(d -> d.path("event").asText().equals("rollout.completed")));
        assertThat(deliveries(down)).allSatisfy(d -> {
            assertThat(d.path("result").asText()).isEqualTo("FAILED");
            assertThat(d.path("attempts").asInt()).isEqualTo(3);
            assertThat(d.path("statusCode").isNull()).isTrue();
            assertThat(d.path("error").asText()).contains("connection refused");
            assertThat(d.path("durationMs").asLong()).as("waited 100 ms and 200 ms between attempts").isGreaterThanOrEqualTo(300);
        });

        await().atMost(WAIT).until(() -> deliveries(gone).size() == 1 && deliveries(flaky).size() == 1);
        JsonNode goneOne = deliveries(gone).get(0);
        assertThat(goneOne.path("result").asText()).isEqualTo("FAILED");
        assertThat(goneOne.path("statusCode").asInt()).isEqualTo(410);
        assertThat(goneOne.path("attempts").asInt()).as("a 4xx is final").isEqualTo(1);
        assertThat(goneOne.path("error").asText()).isEqualTo("HTTP 410 (not retried)");
        JsonNode flakyOne = deliveries(flaky).get(0);
        assertThat(flakyOne.path("result").asText()).isEqualTo("DELIVERED");
        assertThat(flakyOne.path("attempts").asInt()).as("a 503 is tried again").isEqualTo(2);
        assertThat(at("/flaky")).hasSize(2).extracting(r -> r.headers().get("X-Turnout-Delivery")).containsOnly(flakyOne.path("deliveryId").asText());

        PrometheusScrape metrics = PrometheusScrape.parse(fleet.get("/metrics"));
        assertThat(metrics.value("turnout_webhook_deliveries_total", "result", "failed").orElseThrow())
                .isEqualTo(deliveries(down).size() + 1);
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void theApiRefusesBadWebhooksAndMonitorsAndTheCliManagesThem() throws Exception {
        fleet = TestFleet.start(work.resolve("server"), FAST);
        for (String[] bad : new String[][] {
            {"{\"url\":\"ftp://example.test/x\",\"events\":[\"*\"]}", "must start with http:// or https://"},
            {"{\"url\":\"http://user:pw@example.test/x\",\"events\":[\"*\"]}", "must not carry credentials"},
            {"{\"url\":\"http:///x\",\"events\":[\"*\"]}", "names no host"},
            {"{\"url\":\"http://example.test/x\",\"events\":[\"rollout.finished\"]}", "matches no event"},
            {"{\"url\":\"http://example.test/x\",\"events\":[]}", "at least one event pattern"},
            {"{\"url\":\"http://example.test/x\",\"events\":[\"*\"],\"secret\":\"short\"}", "at least 16 characters"},
            {"{\"url\":\"http://example.test/x\",\"events\":[\"*\"],\"colour\":\"red\"}", "unknown field colour"},
        }) {
            HttpResponse<String> refused = fleet.post("/api/v1/webhooks", bad[0]);
            assertThat(refused.statusCode()).as(bad[0]).isEqualTo(400);
            assertThat(refused.body()).as(bad[0]).contains(bad[1]);
        }
        assertThat(fleet.getJson("/api/v1/webhooks").path("webhooks")).isEmpty();
        assertThat(fleet.getJson("/api/v1/audit").toString()).doesNotContain("webhook.add");

        String password = fleet.json.readTree(fleet.post("/api/v1/users", "{\"name\":\"grafana\",\"role\":\"monitor\"}").body())
                .path("password").asText();
        HttpResponse<String> monitor = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/api/v1/webhooks"))
                .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(("grafana:" + password).getBytes(StandardCharsets.UTF_8)))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(monitor.statusCode()).isEqualTo(403);

        Path secretFile = work.resolve("hook.secret");
        Files.writeString(secretFile, SECRET + "\n");
        Cli added = cli("webhook", "add", receiverUrl + "/good/cli", "--events", "rollout.*,device.failed", "--secret-file", secretFile.toString());
        assertThat(added.code()).as(added.err()).isZero();
        assertThat(added.out()).startsWith("added webhook wh-").contains("rollout.*,device.failed").doesNotContain(SECRET);
        String id = added.out().split(" ")[2].replace(":", "");
        assertThat(cli("webhook", "list").out()).contains(id, receiverUrl + "/good/cli", "rollout.*,device.failed").doesNotContain(SECRET);

        Cli tested = cli("webhook", "test", id);
        assertThat(tested.code()).as(tested.out() + tested.err()).isZero();
        assertThat(tested.out()).contains("DELIVERED (HTTP 204, 1 attempt(s)");
        Received ping = at("/good/cli").get(0);
        assertThat(ping.event()).isEqualTo("ping");
        assertThat(ping.json().path("data").path("webhookId").asText()).isEqualTo(id);
        long timestamp = Long.parseLong(ping.headers().get("X-Turnout-Timestamp"));
        assertThat(WebhookSignature.verify(SECRET, timestamp, ping.body().getBytes(StandardCharsets.UTF_8),
                ping.headers().get("X-Turnout-Signature"))).isTrue();
        assertThat(cli("webhook", "deliveries", id).out()).contains("ping", "DELIVERED", "204");
        assertThat(cli("webhook", "deliveries").out()).contains(id, "ping");

        Cli generated = cli("webhook", "add", receiverUrl + "/good/generated", "--events", "*");
        assertThat(generated.code()).isZero();
        String printed = generated.out().strip();
        assertThat(printed).as("only the secret on stdout").hasSize(43).doesNotContain(" ");
        assertThat(generated.err()).startsWith("added webhook wh-").contains("shown once");
        String generatedId = generated.err().split(" ")[2].replace(":", "");
        assertThat(cli("webhook", "test", generatedId).code()).isZero();
        Received signedWithIt = at("/good/generated").get(0);
        assertThat(WebhookSignature.verify(printed, Long.parseLong(signedWithIt.headers().get("X-Turnout-Timestamp")),
                signedWithIt.body().getBytes(StandardCharsets.UTF_8), signedWithIt.headers().get("X-Turnout-Signature")))
                .as("signed with the secret printed once").isTrue();

        Cli down = cli("webhook", "add", closedPortUrl() + "/x", "--events", "*", "--secret-file", secretFile.toString());
        assertThat(down.code()).isZero();
        String downId = down.out().split(" ")[2].replace(":", "");
        Cli failedTest = cli("webhook", "test", downId);
        assertThat(failedTest.code()).isEqualTo(1);
        assertThat(failedTest.out()).contains("FAILED", "3 attempt(s)", "connection refused");

        Cli badUrl = cli("webhook", "add", "ftp://example.test", "--events", "*");
        assertThat(badUrl.code()).isEqualTo(1);
        assertThat(badUrl.err()).contains("must start with http:// or https://");
        Cli badLimit = cli("webhook", "deliveries", "--limit", "0");
        assertThat(badLimit.code()).isEqualTo(2);

        assertThat(cli("webhook", "remove", id).out()).contains("removed webhook " + id);
        assertThat(cli("webhook", "list").out()).doesNotContain(id).contains(downId);
        Cli gone = cli("webhook", "deliveries", id);
        assertThat(gone.code()).isEqualTo(1);
        assertThat(gone.err()).contains("no webhook " + id);
        assertThat(fleet.getJson("/api/v1/audit").toString()).contains("webhook.add", "webhook.remove").doesNotContain(SECRET);
    }

    record Cli(int code, String out, String err) {
    }

    private Cli cli(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] full = java.util.stream.Stream.concat(java.util.Arrays.stream(args), java.util.stream.Stream.of("--server", fleet.url()))
                .toArray(String[]::new);
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of("TURNOUT_TOKEN", fleet.server.operatorToken()), full);
        return new Cli(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private JsonNode add(String url, String events, String secret) throws Exception {
        String body = "{\"url\":\"" + url + "\",\"events\":" + events + (secret == null ? "" : ",\"secret\":\"" + secret + "\"") + "}";
        HttpResponse<String> added = fleet.post("/api/v1/webhooks", body);
        assertThat(added.statusCode()).as(added.body()).isEqualTo(201);
        return fleet.json.readTree(added.body());
    }

    private List<Received> at(String path) {
        return received.stream().filter(r -> r.path().equals(path)).toList();
    }

    private List<JsonNode> deliveries(String webhookId) throws Exception {
        List<JsonNode> list = new java.util.ArrayList<>();
        fleet.getJson("/api/v1/webhooks/" + webhookId + "/deliveries?limit=1000").path("deliveries").forEach(list::add);
        return list;
    }

    /** A URL nothing listens on: a port taken from the system, then closed. */
    private static String closedPortUrl() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return "http://127.0.0.1:" + s.getLocalPort();
        }
    }
}
