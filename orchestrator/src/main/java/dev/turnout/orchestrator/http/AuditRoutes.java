package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.store.FleetStore;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code GET /api/v1/audit[?subject=ID]}: up to 500 entries of the audit trail, of everything or of one device or rollout. */
final class AuditRoutes {

    private static final int ENTRIES = 500;

    private final ApiExchange exchange;
    private final FleetStore store;

    AuditRoutes(ApiExchange exchange, FleetStore store) {
        this.exchange = exchange;
        this.store = store;
    }

    void mountOn(Router router) {
        router.get("/api/v1/audit").handler(this::listAudit);
    }

    private void listAudit(RoutingContext ctx) {
        String about = ctx.queryParams().get("subject");
        exchange.blocking(ctx, () -> Map.of("entries", (about == null || about.isBlank() ? store.audit(ENTRIES)
                : store.auditAbout(about, ENTRIES)).stream().map(e -> {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("at", JsonViews.timestamp(e.at()));
            v.put("actor", e.actor());
            v.put("action", e.action());
            v.put("subject", e.subject());
            v.put("detail", e.detail());
            v.put("logTail", e.logTail());
            return v;
        }).toList()), v -> exchange.ok(ctx, 200, v));
    }
}
