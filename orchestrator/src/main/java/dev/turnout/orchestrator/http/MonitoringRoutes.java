package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.observe.FleetMetrics;
import dev.turnout.orchestrator.observe.FleetObserver;
import dev.turnout.orchestrator.observe.LiveEvent;
import dev.turnout.orchestrator.observe.LiveEvents;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.StaticHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What monitors and people read: {@code GET /metrics} (Prometheus text format),
 * {@code GET /api/events} (server-sent events mirroring the MQTT topics),
 * {@code GET /api/v1/fleet/health} and the dashboard at {@code /}.
 */
public final class MonitoringRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(MonitoringRoutes.class);
    private static final long KEEP_ALIVE_MILLIS = 15_000;

    private final Vertx vertx;
    private final FleetMetrics metrics;
    private final LiveEvents live;
    private final FleetObserver observer;
    private final ObjectMapper json = new ObjectMapper();

    public MonitoringRoutes(Vertx vertx, FleetMetrics metrics, LiveEvents live, FleetObserver observer) {
        this.vertx = vertx;
        this.metrics = metrics;
        this.live = live;
        this.observer = observer;
    }

    /** Adds the routes; the dashboard's catch-all comes last, so call this after the API routes. */
    public void mountOn(Router router) {
        router.get("/metrics").handler(this::scrape);
        router.get("/api/events").handler(this::stream);
        router.get("/api/v1/fleet/health").handler(this::fleetHealth);
        router.get("/*").handler(StaticHandler.create("dashboard").setCachingEnabled(false).setIndexPage("index.html"));
    }

    private void scrape(RoutingContext ctx) {
        vertx.executeBlocking(metrics::scrape, false)
                .onSuccess(text -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, FleetMetrics.contentType()).end(text))
                .onFailure(e -> {
                    LOG.error("metrics scrape failed", e);
                    ctx.response().setStatusCode(500).end("scrape failed: " + e);
                });
    }

    private void fleetHealth(RoutingContext ctx) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("devices", observer.latestHealth());
        try {
            ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(Buffer.buffer(json.writeValueAsBytes(body)));
        } catch (JsonProcessingException e) {
            ctx.fail(e);
        }
    }

    /**
     * One SSE stream. Query {@code kinds=status,rollout} keeps those kinds, {@code subject=ID} one
     * device or rollout; {@code Last-Event-ID} (or {@code lastEventId=N}) replays what was missed.
     */
    private void stream(RoutingContext ctx) {
        Set<String> kinds = csv(ctx.queryParams().get("kinds"));
        for (String kind : kinds) {
            if (!LiveEvent.KINDS.contains(kind)) {
                ctx.response().setStatusCode(400).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
                        .end("{\"error\":\"unknown event kind '" + kind.replace("\"", "") + "': use " + String.join(", ", LiveEvent.KINDS) + "\"}");
                return;
            }
        }
        String subject = ctx.queryParams().get("subject");
        long after = lastEventId(ctx);
        HttpServerResponse response = ctx.response();
        response.setChunked(true)
                .putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache")
                .putHeader("X-Accel-Buffering", "no");
        response.write(": turnout live events\nretry: 2000\n\n");
        Context context = vertx.getOrCreateContext();
        AutoCloseable subscription = live.subscribe(after, event -> {
            if ((!kinds.isEmpty() && !kinds.contains(event.kind())) || (subject != null && !subject.equals(event.subject()))) {
                return;
            }
            context.runOnContext(ignored -> send(response, event));
        });
        long keepAlive = vertx.setPeriodic(KEEP_ALIVE_MILLIS, id -> {
            if (!response.closed() && !response.ended()) {
                response.write(": keep-alive\n\n");
            }
        });
        response.closeHandler(ignored -> {
            vertx.cancelTimer(keepAlive);
            try {
                subscription.close();
            } catch (Exception e) {
                LOG.debug("unsubscribe: {}", e.toString());
            }
        });
    }

    private static void send(HttpServerResponse response, LiveEvent event) {
        if (response.closed() || response.ended()) {
            return;
        }
        if (response.writeQueueFull()) {
            // a reader this slow reconnects and gets what it missed through Last-Event-ID
            response.reset();
            return;
        }
        response.write("id: " + event.id() + "\nevent: " + event.kind() + "\ndata: " + event.json() + "\n\n");
    }

    private static long lastEventId(RoutingContext ctx) {
        String header = ctx.request().getHeader("Last-Event-ID");
        String value = header != null ? header : ctx.queryParams().get("lastEventId");
        if (value == null || !value.trim().matches("\\d{1,18}")) {
            return -1;
        }
        return Long.parseLong(value.trim());
    }

    private static Set<String> csv(String value) {
        if (value == null || value.isBlank()) {
            return Set.of();
        }
        return Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).collect(Collectors.toSet());
    }
}
