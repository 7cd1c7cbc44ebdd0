package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Webhook;
import dev.turnout.orchestrator.domain.WebhookDelivery;
import dev.turnout.orchestrator.security.Secrets;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.orchestrator.store.WebhookStore;
import dev.turnout.orchestrator.webhook.EventPatterns;
import dev.turnout.orchestrator.webhook.WebhookDispatcher;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.time.Clock;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Webhooks (docs/operations.md, "Webhooks"), the operator only (they name where fleet events go and
 * hold signing secrets; monitors may not read them): {@code GET/POST /api/v1/webhooks},
 * {@code DELETE /api/v1/webhooks/:id}, {@code POST /api/v1/webhooks/:id/test} (a {@code ping}),
 * {@code GET /api/v1/webhooks/deliveries} and {@code GET /api/v1/webhooks/:id/deliveries} (the
 * delivery log, newest first). A secret is never answered, but once when the orchestrator generated
 * it; adds and removes are audited as {@code webhook.add} and {@code webhook.remove}.
 */
public final class WebhookRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookRoutes.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int DEFAULT_LIMIT = 50;

    @JsonIgnoreProperties(ignoreUnknown = false)
    record AddBody(String url, List<String> events, String secret) {
    }

    private final ApiExchange exchange;
    private final FleetStore store;
    private final WebhookDispatcher webhooks;
    private final Clock clock;

    public WebhookRoutes(Vertx vertx, FleetStore store, WebhookDispatcher webhooks, Clock clock) {
        this.exchange = new ApiExchange(vertx, Runnable::run);
        this.store = store;
        this.webhooks = webhooks;
        this.clock = clock;
    }

    public void mountOn(Router router) {
        BodyHandler body = BodyHandler.create().setBodyLimit(64 * 1024).setHandleFileUploads(false);
        router.get("/api/v1/webhooks").handler(this::list);
        router.post("/api/v1/webhooks").handler(body).handler(this::add);
        router.get("/api/v1/webhooks/deliveries").handler(ctx -> deliveries(ctx, null));
        router.delete("/api/v1/webhooks/:id").handler(this::remove);
        router.get("/api/v1/webhooks/:id/deliveries")
                .handler(ctx -> deliveries(ctx, ctx.pathParam("id")));
        router.post("/api/v1/webhooks/:id/test").handler(this::test);
    }


    private void list(RoutingContext ctx) {
        exchange.blocking(ctx, () -> Map.of("webhooks", store.listWebhooks().stream().map(w -> view(w, null)).toList()),
                v -> exchange.ok(ctx, 200, v));
    }

    private void add(RoutingContext ctx) {
        exchange.withJsonBody(ctx, AddBody.class, body -> exchange.blocking(ctx, () -> {
            String url = Webhook.checkUrl(body.url());
            EventPatterns patterns = EventPatterns.parse(body.events());
            boolean generated = body.secret() == null;
            String secret = generated ? Secrets.newSecret() : Webhook.checkSecret(body.secret());
            Webhook w = new Webhook(newId(), url, patterns.patterns(), secret, clock.instant());
            store.insertWebhook(w);
            String detail = url + " events " + String.join(",", w.events());
            store.appendAudit(new AuditEntry(clock.instant(), ApiExchange.actor(ctx), "webhook.add", w.id(), detail));
            LOG.info("webhook {} added: {}", w.id(), detail);
            webhooks.reload();
            return view(w, generated ? secret : null);
        }, v -> exchange.ok(ctx, 201, v)));
    }

    private void remove(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        exchange.blocking(ctx, () -> {
            Webhook w = store.findWebhook(id).orElseThrow(() -> new NotFoundException("no webhook " + id));
            store.deleteWebhook(id);
            store.appendAudit(new AuditEntry(clock.instant(), ApiExchange.actor(ctx), "webhook.remove", id, w.url()));
            LOG.info("webhook {} removed ({})", id, w.url());
            webhooks.reload();
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("id", id);
            v.put("removed", true);
            return v;
        }, v -> exchange.ok(ctx, 200, v));
    }

    private void test(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        exchange.blocking(ctx, () -> {
            store.findWebhook(id).orElseThrow(() -> new NotFoundException("no webhook " + id));
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("webhookId", id);
            v.put("event", "ping");
            v.put("deliveryId", webhooks.ping(id));
            return v;
        }, v -> exchange.ok(ctx, 202, v));
    }

    private void deliveries(RoutingContext ctx, String id) {
        int limit;
        try {
            limit = limit(ctx.queryParams().get("limit"));
        } catch (InvalidInputException e) {
            exchange.fail(ctx, e);
            return;
        }
        exchange.blocking(ctx, () -> {
            if (id != null && store.findWebhook(id).isEmpty()) {
                throw new NotFoundException("no webhook " + id);
            }
            return Map.of("deliveries", store.deliveries(id, limit).stream().map(WebhookRoutes::view).toList());
        }, v -> exchange.ok(ctx, 200, v));
    }

    static int limit(String given) {
        if (given == null || given.isBlank()) {
            return DEFAULT_LIMIT;
        }
        try {
            int n = Integer.parseInt(given.strip());
            if (n >= 1 && n <= WebhookStore.DELIVERIES_KEPT) {
                return n;
            }
        } catch (NumberFormatException e) {
            // answered below
        }
        throw new InvalidInputException("limit must be a number from 1 to " + WebhookStore.DELIVERIES_KEPT);
    }

    private static String newId() {
        byte[] b = new byte[6];
        RANDOM.nextBytes(b);
        return "wh-" + HexFormat.of().formatHex(b);
    }

    private static Map<String, Object> view(Webhook w, String generatedSecret) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("id", w.id());
        v.put("url", w.url());
        v.put("events", w.events());
        v.put("createdAt", w.createdAt().toString());
        if (generatedSecret != null) {
            v.put("secret", generatedSecret);
        }
        return v;
    }

    private static Map<String, Object> view(WebhookDelivery d) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("webhookId", d.webhookId());
        v.put("deliveryId", d.deliveryId());
        v.put("event", d.event());
        v.put("result", d.result().name());
        v.put("statusCode", d.statusCode());
        v.put("error", d.error());
        v.put("attempts", d.attempts());
        v.put("durationMs", d.durationMillis());
        v.put("at", d.at().toString());
        return v;
    }
}
