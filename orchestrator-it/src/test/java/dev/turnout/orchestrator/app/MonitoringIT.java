package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import org.hawkular.agent.prometheus.types.Histogram;
import org.hawkular.agent.prometheus.types.MetricType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

/**
 * What a monitoring team sees: {@code /metrics} read by a Prometheus text-format parser, and the
 * SSE stream at {@code /api/events}, while simulated devices take a release and roll another back.
 */
class MonitoringIT {

    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path work;

    private TestFleet fleet;

    @AfterEach
    void tearDown() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void metricsFollowTheFleetThroughARolloutAndARollback() throws Exception {
        fleet = TestFleet.start(work.resolve("server"));
        fleet.createReleases("1.0.0", "2.0.0");
        fleet.device("mon-a", Map.of("site", "attic"), Set.of("2.0.0"));
        fleet.device("mon-b", Map.of("site", "yard"), Set.of());
        ScriptedDevice c = fleet.device("mon-c", Map.of("site", "yard"), Set.of());
        await().atMost(WAIT).until(() -> fleet.countOnline() == 3);

        HttpResponse<String> raw = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/metrics")).header("Authorization", "Bearer " + fleet.server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(raw.statusCode()).isEqualTo(200);
        assertThat(raw.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain; version=0.0.4");
        PrometheusScrape before = PrometheusScrape.parse(raw.body());
        assertThat(before.value("turnout_devices", "state", "online")).contains(3.0);
        assertThat(before.value("turnout_devices", "state", "offline")).contains(0.0);
        assertThat(before.valueOrZero("turnout_status_events_total", "state", "ACTIVE", "reason", "none")).isZero();
        assertThat(before.value("turnout_rollbacks_total")).contains(0.0);
        assertThat(before.value("turnout_dora_deployments_total")).contains(0.0);
        assertThat(before.value("turnout_dora_lead_time_seconds")).isEmpty();
        assertThat(before.value("turnout_dora_change_failure_rate")).isEmpty();
        assertThat(before.type("jvm_memory_used_bytes")).isEqualTo(MetricType.GAUGE);
        assertThat(before.value("process_uptime_seconds").orElseThrow()).isPositive();

        String v1 = fleet.rollout("1.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(v1).equals("SUCCEEDED"));
        PrometheusScrape deployed = scrape();
        assertThat(deployed.value("turnout_app_devices", "app", "web", "version", "1.0.0")).contains(3.0);
        assertThat(deployed.value("turnout_status_events_total", "state", "STAGED", "reason", "none")).contains(3.0);
        assertThat(deployed.value("turnout_status_events_total", "state", "ACTIVE", "reason", "none")).contains(3.0);
        assertThat(deployed.value("turnout_rollouts", "state", "SUCCEEDED")).contains(1.0);
        assertThat(deployed.value("turnout_rollout_wave_devices", "rollout", v1, "app", "web", "version", "1.0.0",
                "wave", "1", "state", "ACTIVE")).contains(1.0);
        assertThat(deployed.value("turnout_rollout_wave_devices", "rollout", v1, "app", "web", "version", "1.0.0",
                "wave", "2", "state", "ACTIVE")).contains(2.0);
        assertThat(deployed.value("turnout_rollout_wave_devices", "rollout", v1, "app", "web", "version", "1.0.0",
                "wave", "2", "state", "ACTIVATING")).contains(0.0);
        assertThat(deployed.type("turnout_activation_seconds")).isEqualTo(MetricType.HISTOGRAM);
        Histogram activation = deployed.histogram("turnout_activation_seconds", "app", "web").orElseThrow();
        assertThat(activation.getSampleCount()).isEqualTo(3);
        assertThat(activation.getBuckets()).anySatisfy(b -> {
            assertThat(b.getUpperBound()).isEqualTo(15.0);
            assertThat(b.getCumulativeCount()).isEqualTo(3);
        });
        assertThat(deployed.value("turnout_dora_deployments_total")).contains(1.0);
        assertThat(deployed.value("turnout_dora_deployment_frequency_per_day").orElseThrow()).isCloseTo(1 / 30.0, within(1e-9));
        assertThat(deployed.value("turnout_dora_lead_time_seconds").orElseThrow()).isPositive().isLessThan(60);
        assertThat(deployed.value("turnout_dora_change_failure_rate")).contains(0.0);
        assertThat(deployed.value("turnout_dora_time_to_restore_seconds")).isEmpty();

        // the canary fails health on 2.0.0 and the rollout rolls it back
        String v2 = fleet.rollout("2.0.0", "1,100%", "rollback", false);
        await().atMost(WAIT).until(() -> fleet.state(v2).equals("ROLLED_BACK"));
        PrometheusScrape rolledBack = scrape();
        assertThat(rolledBack.value("turnout_status_events_total", "state", "ROLLED_BACK", "reason", "HEALTH_CHECK_FAILED"))
                .contains(1.0);
        assertThat(rolledBack.value("turnout_rollbacks_total")).contains(1.0);
        assertThat(rolledBack.value("turnout_rollouts", "state", "ROLLED_BACK")).contains(1.0);
        assertThat(rolledBack.value("turnout_rollout_wave_devices", "rollout", v2, "app", "web", "version", "2.0.0",
                "wave", "1", "state", "ROLLED_BACK")).contains(1.0);
        assertThat(rolledBack.value("turnout_dora_deployments_total")).contains(1.0);
        assertThat(rolledBack.value("turnout_dora_change_failure_rate")).contains(0.5);
        assertThat(rolledBack.value("turnout_dora_time_to_restore_seconds").orElseThrow()).isGreaterThanOrEqualTo(0).isLessThan(60);
        assertThat(rolledBack.value("turnout_dora_unrestored_failures")).contains(0.0);
        assertThat(rolledBack.value("turnout_app_devices", "app", "web", "version", "1.0.0")).contains(3.0);
        assertThat(rolledBack.value("turnout_app_devices", "app", "web", "version", "2.0.0")).isEmpty();
        // the rollback put the canary back on 1.0.0: one more activation, but not counted as an activation
        assertThat(rolledBack.histogram("turnout_activation_seconds", "app", "web").orElseThrow().getSampleCount()).isEqualTo(3);

        java.nio.file.Files.writeString(Path.of("target", "metrics-sample.txt"), fleet.get("/metrics"));
        c.publishOffline();
        await().atMost(WAIT).until(() -> fleet.countOnline() == 2);
        PrometheusScrape oneOffline = scrape();
        assertThat(oneOffline.value("turnout_devices", "state", "online")).contains(2.0);
        assertThat(oneOffline.value("turnout_devices", "state", "offline")).contains(1.0);
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void eventStreamMirrorsStatusHealthPresenceAndRolloutEvents() throws Exception {
        fleet = TestFleet.start(work.resolve("server"));
        fleet.createReleases("1.0.0");
        try (SseClient all = new SseClient(fleet.http, fleet.url() + "/api/events", null, fleet.server.operatorToken())) {
            assertThat(all.response.statusCode()).isEqualTo(200);
            assertThat(all.response.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
            ScriptedDevice a = fleet.device("sse-a", Map.of(), Set.of());
            fleet.device("sse-b", Map.of(), Set.of());

            SseClient.Frame online = all.await(f -> f.event().equals("presence")
                    && f.data().path("payload").path("deviceId").asText().equals("sse-a"), WAIT);
            assertThat(online.data().path("topic").asText()).isEqualTo("turnout/v1/devices/sse-a/presence");
            assertThat(online.data().path("payload").path("online").asBoolean()).isTrue();
            assertThat(online.data().path("payload").path("platform").asText()).isEqualTo("linux/arm64");
            await().atMost(WAIT).until(() -> fleet.countOnline() == 2);

            String id = fleet.rollout("1.0.0", "1,100%", "pause", false);
            try (SseClient onlyThisRollout = new SseClient(fleet.http,
                    fleet.url() + "/api/events?kinds=rollout&subject=" + id, "0", fleet.server.operatorToken())) {
                await().atMost(WAIT).until(() -> fleet.state(id).equals("SUCCEEDED"));
                SseClient.Frame succeeded = all.await(f -> f.event().equals("rollout")
                        && f.data().path("payload").path("type").asText().equals("STATE_CHANGED")
                        && f.data().path("payload").path("state").asText().equals("SUCCEEDED"), WAIT);
                assertThat(succeeded.data().path("topic").asText()).isEqualTo("turnout/v1/rollouts/" + id + "/events");
                SseClient.Frame active = all.await(f -> f.event().equals("status")
                        && f.data().path("payload").path("deviceId").asText().equals("sse-a")
                        && f.data().path("payload").path("state").asText().equals("ACTIVE"), WAIT);
                assertThat(active.data().path("payload").path("version").asText()).isEqualTo("1.0.0");
                assertThat(active.data().path("payload").path("rolloutId").asText()).isEqualTo(id);
                assertThat(active.data().path("payload").path("sequence").isNumber()).isTrue();

                // the filtered stream replayed the events before it connected and carries only this rollout's
                onlyThisRollout.await(f -> f.data().path("payload").path("state").asText().equals("SUCCEEDED"), WAIT);
                List<String> types = onlyThisRollout.frames().stream().map(f -> f.data().path("payload").path("type").asText()).toList();
                assertThat(types.get(0)).isEqualTo("CREATED");
                assertThat(types).containsSubsequence("CREATED", "WAVE_STARTED", "DEVICE_SUCCEEDED", "WAVE_COMPLETED",
                        "WAVE_STARTED", "DEVICE_SUCCEEDED", "STATE_CHANGED");
                assertThat(onlyThisRollout.frames()).allSatisfy(f -> {
                    assertThat(f.event()).isEqualTo("rollout");
                    assertThat(f.data().path("payload").path("rolloutId").asText()).isEqualTo(id);
                });
            }

            a.publishHealth(42.5, 61.0);
            SseClient.Frame health = all.await(f -> f.event().equals("health"), WAIT);
            assertThat(health.data().path("payload").path("cpuPercent").asDouble()).isEqualTo(42.5);
            assertThat(health.data().path("payload").path("temperatureCelsius").asDouble()).isEqualTo(61.0);
            JsonNode fleetHealth = fleet.getJson("/api/v1/fleet/health");
            assertThat(fleetHealth.path("devices").path("sse-a").path("cpuPercent").asDouble()).isEqualTo(42.5);

            // a client that reconnects with Last-Event-ID gets exactly what came after it
            List<SseClient.Frame> seen = all.frames();
            long resumeAfter = seen.get(seen.size() / 2).id();
            try (SseClient resumed = new SseClient(fleet.http, fleet.url() + "/api/events", Long.toString(resumeAfter), fleet.server.operatorToken())) {
                await().atMost(WAIT).until(() -> resumed.frames().size() >= seen.size() - seen.size() / 2 - 1);
                assertThat(resumed.frames().get(0).id()).isEqualTo(resumeAfter + 1);
                assertThat(resumed.frames().stream().map(SseClient.Frame::id).toList())
                        .startsWith(seen.subList(seen.size() / 2 + 1, seen.size()).stream().map(SseClient.Frame::id).toArray(Long[]::new));
            }
        }
        HttpResponse<String> bad = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/api/events?kinds=desired")).header("Authorization", "Bearer " + fleet.server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("unknown event kind 'desired'");

        // the dashboard's catch-all route serves its page but leaves unknown API paths a JSON 404
        HttpResponse<String> page = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/")).header("Authorization", "Bearer " + fleet.server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type").orElse("")).startsWith("text/html");
        assertThat(page.body()).contains("<title>Turnout</title>");
        HttpResponse<String> unknown = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/api/v1/nothing")).header("Authorization", "Bearer " + fleet.server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("\"error\"");
    }

    private PrometheusScrape scrape() throws Exception {
        return PrometheusScrape.parse(fleet.get("/metrics"));
    }
}
