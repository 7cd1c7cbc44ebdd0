package dev.turnout.orchestrator.webhook;

import dev.turnout.orchestrator.domain.Webhook;
import dev.turnout.orchestrator.domain.WebhookDelivery;
import dev.turnout.orchestrator.port.FleetEvents;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.RolloutEventType;
import dev.turnout.proto.RolloutState;
import dev.turnout.proto.StatusEvent;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The dispatcher against a real local receiver and a real SQLite store: a full queue drops its oldest
 * delivery (recorded, counted) and never blocks the publisher; presence is announced on changes only.
 */
class WebhookDispatcherTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path data;

    private Vertx vertx;
    private String url;
    private final List<String> received = new CopyOnWriteArrayList<>();
    private final Promise<Void> release = Promise.promise();
    private SqliteFleetStore store;
    private WebhookDispatcher dispatcher;
    private final Map<WebhookDelivery.Result, AtomicInteger> counted = new ConcurrentHashMap<>();

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        HttpServer server = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
            received.add(req.getHeader("X-Turnout-Event") + " " + new io.vertx.core.json.JsonObject(body).getJsonObject("data").getValue("wave"));
            if (req.path().equals("/held")) {
                release.future().onComplete(done -> req.response().setStatusCode(200).end());
            } else {
                req.response().setStatusCode(200).end();
            }
        })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        url = "http://127.0.0.1:" + server.actualPort();
        store = SqliteFleetStore.open(data);
    }

    @AfterEach
    void stop() throws Exception {
        release.tryComplete();
        if (dispatcher != null) {
            dispatcher.close();
        }
        store.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private void startDispatcher(RetryPolicy policy, Map<String, Boolean> presence) {
        dispatcher = WebhookDispatcher.start(store, policy, Clock.systemUTC(),
                r -> counted.computeIfAbsent(r, k -> new AtomicInteger()).incrementAndGet(), presence);
    }

    @Test
    void aFullQueueDropsItsOldestDeliveryRecordsItAndNeverBlocksThePublisher() {
        store.insertWebhook(new Webhook("wh-held", url + "/held", List.of("rollout.*"), "s".repeat(43), Instant.now()));
        startDispatcher(new RetryPolicy(1, Duration.ZERO, 1, Duration.ofSeconds(30), 2), Map.of());
        FleetTransport transport = dispatcher.observe(new NoTransport());

        transport.publishRolloutEvent(wave(1));
        await().atMost(WAIT).until(() -> received.size() == 1); // the receiver holds the first
        long before = System.nanoTime();
        for (int n = 2; n <= 5; n++) {
            transport.publishRolloutEvent(wave(n));
        }
        assertThat(Duration.ofNanos(System.nanoTime() - before)).as("publishing waits for no receiver").isLessThan(Duration.ofSeconds(1));
        // waves 2 and 3 waited, 4 and 5 pushed them out
        await().atMost(WAIT).until(() -> store.deliveries("wh-held", 10).size() == 2);
        assertThat(store.deliveries("wh-held", 10)).allSatisfy(d -> {
            assertThat(d.result()).isEqualTo(WebhookDelivery.Result.DROPPED);
            assertThat(d.attempts()).isZero();
            assertThat(d.error()).contains("dropped: 2 deliveries were waiting");
        });
        release.complete();
        await().atMost(WAIT).until(() -> store.deliveries("wh-held", 10).size() == 5);
        assertThat(received).containsExactly("rollout.wave_started 1", "rollout.wave_started 4", "rollout.wave_started 5");
        assertThat(store.deliveries("wh-held", 10)).extracting(WebhookDelivery::result).containsExactly(
                WebhookDelivery.Result.DELIVERED, WebhookDelivery.Result.DELIVERED, WebhookDelivery.Result.DELIVERED,
                WebhookDelivery.Result.DROPPED, WebhookDelivery.Result.DROPPED);
        assertThat(counted.get(WebhookDelivery.Result.DROPPED)).hasValue(2);
        assertThat(counted.get(WebhookDelivery.Result.DELIVERED)).hasValue(3);
    }

    @Test
    void presenceIsAnnouncedOnChangesOnlyFromWhatTheStoreKnewAtStart() {
        store.insertWebhook(new Webhook("wh-p", url + "/presence", List.of("device.*"), "s".repeat(43), Instant.now()));
        startDispatcher(RetryPolicy.DEFAULT, Map.of("pi-a", true, "pi-b", false));
        FleetEvents events = dispatcher.observe(new NoEvents());

        events.onPresence("pi-a", Presence.newBuilder().setDeviceId("pi-a").setOnline(true).build()); // as before the restart
        events.onPresence("pi-b", Presence.newBuilder().setDeviceId("pi-b").setOnline(true).build());
        events.onPresence("pi-b", Presence.newBuilder().setDeviceId("pi-b").setOnline(true).build()); // a repeat
        events.onPresence("pi-c", Presence.newBuilder().setDeviceId("pi-c").setOnline(true).build()); // enrolled since
        events.onPresence("pi-a", Presence.newBuilder().setDeviceId("pi-a").setOnline(false).build());
        events.onPresence("pi-a", Presence.newBuilder().setDeviceId("pi-b").setOnline(false).build()); // another device's: dropped
        await().atMost(WAIT).until(() -> store.deliveries("wh-p", 10).size() == 3);
        assertThat(store.deliveries("wh-p", 10)).extracting(WebhookDelivery::event)
                .containsExactly("device.offline", "device.online", "device.online");
        assertThat(received).hasSize(3);
    }

    private static RolloutEvent wave(int n) {
        return RolloutEvent.newBuilder().setRolloutId("r-1").setApp("web").setVersion("1.0.0").setType(RolloutEventType.WAVE_STARTED)
                .setState(RolloutState.ROLLOUT_RUNNING).setWave(n).setTimestampMs(System.currentTimeMillis()).build();
    }

    private static final class NoTransport implements FleetTransport {
        @Override
        public void publishDesired(String deviceId, byte[] signedEnvelope) {
        }

        @Override
        public void publishRolloutEvent(RolloutEvent event) {
        }
    }

    private static final class NoEvents implements FleetEvents {
        @Override
        public void onStatus(String topicDeviceId, StatusEvent event) {
        }

        @Override
        public void onPresence(String topicDeviceId, Presence presence) {
        }

        @Override
        public void onHealth(String topicDeviceId, HealthReport report) {
        }
    }
}
