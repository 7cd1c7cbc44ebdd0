package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Target;
import dev.turnout.orchestrator.engine.AppRemovals;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.rules.SemVer;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An app's rollback floor (docs/security.md): {@code GET /api/v1/apps/:app/floor} and {@code PUT} with
 * {@code {"version": "2.0.0", "force": false}} (operator only, like every write). The floor names a release that
 * exists; it only rises unless {@code force}; each change is audited as {@code app.floor}. And the app's removal from
 * devices: {@code POST /api/v1/apps/:app/remove} with {@code {"target": "..."}} (audited as {@code app.remove}).
 */
final class AppRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(AppRoutes.class);

    @JsonIgnoreProperties(ignoreUnknown = true)
    record FloorBody(String version, Boolean force) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record RemoveBody(String target, Boolean force, String lockTimeout) {
    }

    private final ApiExchange exchange;
    private final FleetStore store;
    private final RolloutEngine engine;
    private final Clock clock;

    AppRoutes(ApiExchange exchange, FleetStore store, RolloutEngine engine, Clock clock) {
        this.exchange = exchange;
        this.store = store;
        this.engine = engine;
        this.clock = clock;
    }

    void mountOn(Router router, BodyHandler body) {
        router.get("/api/v1/apps/:app/floor").handler(this::getFloor);
        router.put("/api/v1/apps/:app/floor").handler(body).handler(this::setFloor);
        router.post("/api/v1/apps/:app/remove").handler(body).handler(this::removeApp);
    }

    /**
     * Removes the app from the targeted devices that have it ({@code {"target": "all"}}, the deploy syntax; required):
     * a signed removal entry each, on the engine's thread. 200 with the devices told and those already told before.
     */
    private void removeApp(RoutingContext ctx) {
        String app = ctx.pathParam("app");
        exchange.withJsonBody(ctx, RemoveBody.class, body -> {
            Target target;
            java.time.Duration lockTimeout;
            try {
                if (body.target() == null || body.target().isBlank()) {
                    throw new InvalidInputException("target is required (all, device:ID[,ID...], group:NAME or label:KEY=VALUE)");
                }
                target = Target.parse(body.target());
                lockTimeout = dev.turnout.orchestrator.domain.RolloutStrategy.lockTimeout(body.lockTimeout());
            } catch (RuntimeException e) {
                exchange.fail(ctx, e);
                return;
            }
            String actor = ApiExchange.actor(ctx);
            exchange.onEngine(ctx, 200, () -> {
                AppRemovals.Removal removal = engine.removeApp(app, target, actor, Boolean.TRUE.equals(body.force()), lockTimeout);
                Map<String, Object> v = new LinkedHashMap<>();
                v.put("app", removal.app());
                v.put("target", removal.target());
                v.put("devices", removal.devices());
                v.put("alreadyRemoved", removal.alreadyRemoved());
                return v;
            });
        });
    }

    private void getFloor(RoutingContext ctx) {
        String app = ctx.pathParam("app");
        exchange.blocking(ctx, () -> view(app, store.findFloor(app).orElse(null), null, false), v -> exchange.ok(ctx, 200, v));
    }

    private void setFloor(RoutingContext ctx) {
        String app = ctx.pathParam("app");
        exchange.withJsonBody(ctx, FloorBody.class, body -> exchange.blocking(ctx, () -> {
            String version = body.version();
            if (!SemVer.isWellFormed(version)) {
                throw new InvalidInputException("version '" + version + "' is not a semantic version such as 1.4.2");
            }
            if (store.findRelease(app, version).isEmpty()) {
                throw new NotFoundException("release " + app + ":" + version + " does not exist: a floor names a release"
                        + " devices can run");
            }
            boolean force = Boolean.TRUE.equals(body.force());
            synchronized (store) { // two operators raising it at once: one reads what the other wrote
                String old = store.findFloor(app).orElse(null);
                if (old != null && old.equals(version)) {
                    return view(app, old, old, false);
                }
                if (old != null && SemVer.compare(version, old) < 0 && !force) {
                    throw new ConflictException("the rollback floor of " + app + " is " + old + "; a floor only rises (" + version
                            + " is lower): lowering it needs --force (API: \"force\": true), and devices that saw " + old
                            + " keep refusing older releases");
                }
                store.saveFloor(app, version, clock.instant(), ApiExchange.actor(ctx));
                String detail = (old == null ? "none" : old) + " -> " + version + (force && old != null
                        && SemVer.compare(version, old) < 0 ? " (forced)" : "");
                store.appendAudit(new AuditEntry(clock.instant(), ApiExchange.actor(ctx), "app.floor", app, detail));
                LOG.info("rollback floor of {}: {}", app, detail);
                return view(app, version, old, true);
            }
        }, v -> exchange.ok(ctx, 200, v)));
    }

    private static Map<String, Object> view(String app, String floor, String previous, boolean changed) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("app", app);
        v.put("floor", floor);
        v.put("previous", previous);
        v.put("changed", changed);
        return v;
    }
}
