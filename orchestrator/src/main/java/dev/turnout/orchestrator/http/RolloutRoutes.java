package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.engine.RolloutRequest;
import dev.turnout.orchestrator.store.FleetStore;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Rollouts: {@code POST /api/v1/rollouts} (create, or plan with {@code dryRun}), {@code GET
 * /api/v1/rollouts[/:id]} and {@code POST /api/v1/rollouts/:id/:action} (pause, resume, abort,
 * approve, rollback). Commands run on the engine's thread; reads go to the store.
 */
final class RolloutRoutes {

    @JsonIgnoreProperties(ignoreUnknown = true)
    record RolloutBody(String app, String version, String target, JsonNode waves, JsonNode soak, JsonNode maxFailures,
                       String onFailure, JsonNode deviceTimeout, Boolean dryRun, Boolean approveEachWave,
                       Boolean offlineCountsAsFailure, @JsonProperty("static") Boolean staticTarget,
                       Boolean rollback, String emergency, JsonNode canary, Boolean supersede, Boolean force, JsonNode lockTimeout,
                       JsonNode rateLimit) {
    }

    private final ApiExchange exchange;
    private final FleetStore store;
    private final RolloutEngine engine;

    private final java.time.Clock clock;

    RolloutRoutes(ApiExchange exchange, FleetStore store, RolloutEngine engine, java.time.Clock clock) {
        this.clock = clock;
        this.exchange = exchange;
        this.store = store;
        this.engine = engine;
    }

    void mountOn(Router router, BodyHandler body) {
        router.post("/api/v1/rollouts").handler(body).handler(this::createRollout);
        router.get("/api/v1/rollouts").handler(this::listRollouts);
        router.get("/api/v1/rollouts/:id").handler(this::getRollout);
        router.post("/api/v1/rollouts/:id/:action").handler(body).handler(this::rolloutAction);
    }

    private void createRollout(RoutingContext ctx) {
        exchange.withJsonBody(ctx, RolloutBody.class, body -> {
            RolloutRequest request;
            try { // checked here, on the event loop: the engine takes typed requests only
                request = RolloutRequest.parse(body.app(), body.version(), body.target(), text(body.waves()), text(body.soak()),
                        text(body.maxFailures()), body.onFailure(), text(body.deviceTimeout()), body.dryRun(),
                        body.approveEachWave(), body.offlineCountsAsFailure(), body.staticTarget(), body.rollback(), body.emergency(),
                        text(body.canary()), body.supersede(), body.force(), text(body.lockTimeout()))
                        .withRateLimit(text(body.rateLimit()));
            } catch (RuntimeException e) {
                exchange.fail(ctx, e);
                return;
            }
            String actor = ApiExchange.actor(ctx);
            exchange.onEngine(ctx, request.dryRun() ? 200 : 201, () -> view(engine.create(request, actor)));
        });
    }

    private void listRollouts(RoutingContext ctx) {
        exchange.blocking(ctx, () -> {
            Set<String> offline = offlineDevices();
            return Map.of("rollouts", store.listRollouts().stream()
                    .map(r -> JsonViews.rollout(r, offline, engine.downloads(), clock.instant())).toList());
        }, v -> exchange.ok(ctx, 200, v));
    }

    private void getRollout(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        exchange.blocking(ctx, () -> view(store.findRollout(id)
                .orElseThrow(() -> new NotFoundException("rollout " + id + " does not exist"))), v -> exchange.ok(ctx, 200, v));
    }

    private void rolloutAction(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        String action = ctx.pathParam("action");
        String actor = ApiExchange.actor(ctx);
        Supplier<Rollout> command = switch (action) {
            case "pause" -> () -> engine.pause(id, actor);
            case "resume" -> () -> engine.resume(id, actor);
            case "abort" -> () -> engine.abort(id, actor);
            case "approve" -> () -> engine.approve(id, actor);
            case "rollback" -> () -> engine.rollBack(id, actor);
            default -> null;
        };
        if (command == null) {
            exchange.error(ctx, 404, "unknown rollout action '" + action + "': use pause, resume, abort, approve or rollback");
            return;
        }
        exchange.onEngine(ctx, 200, () -> view(command.get()));
    }

    private Map<String, Object> view(Rollout r) {
        return JsonViews.rollout(r, offlineDevices(), engine.downloads(), clock.instant());
    }

    private Set<String> offlineDevices() {
        Set<String> offline = new HashSet<>();
        store.listDevices().stream().filter(d -> !d.online()).forEach(d -> offline.add(d.id()));
        return offline;
    }

    /** A field given as a string, a number or a list (waves {@code [1, "10%"]}) as the engine's request takes it. */
    private static String text(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isArray()) {
            List<String> parts = new ArrayList<>();
            node.forEach(n -> parts.add(n.asText()));
            return String.join(",", parts);
        }
        return node.asText();
    }
}
