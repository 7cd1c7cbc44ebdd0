package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.domain.OperatorAccount;
import dev.turnout.orchestrator.domain.OperatorRole;
import dev.turnout.orchestrator.security.OperatorAccounts;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Operator accounts under {@code /api/v1/operators}: list, add, revoke (admins), and set a password
 * (admins for anyone, everyone for themselves with their current password). Argon2id runs on worker threads.
 */
final class OperatorRoutes {

    /** {@code POST /api/v1/operators}: {@code password} absent makes one, answered once. */
    record AddBody(String name, String role, String password) {
    }

    /** {@code POST /api/v1/operators/:name/password}: {@code password} absent makes one; {@code currentPassword} for one's own. */
    record PasswordBody(String password, String currentPassword) {
    }

    private final ApiExchange exchange;
    private final OperatorAccounts accounts;

    OperatorRoutes(ApiExchange exchange, OperatorAccounts accounts) {
        this.exchange = exchange;
        this.accounts = accounts;
    }

    void mountOn(Router router, BodyHandler body) {
        router.get("/api/v1/operators").handler(this::listOperators);
        router.post("/api/v1/operators").handler(body).handler(this::addOperator);
        router.post("/api/v1/operators/:name/revoke").handler(this::revokeOperator);
        router.post("/api/v1/operators/:name/password").handler(body).handler(this::setPassword);
    }

    private void listOperators(RoutingContext ctx) {
        exchange.blocking(ctx, () -> {
            List<Object> operators = new ArrayList<>();
            Map<String, Object> builtIn = new LinkedHashMap<>();
            builtIn.put("name", OperatorAccounts.BUILT_IN_ADMIN);
            builtIn.put("role", OperatorRole.ADMIN.wireName());
            builtIn.put("builtIn", true);
            builtIn.put("createdAt", null);
            builtIn.put("createdBy", null);
            operators.add(builtIn);
            for (OperatorAccount a : accounts.list()) {
                operators.add(view(a));
            }
            return Map.of("operators", operators);
        }, v -> exchange.ok(ctx, 200, v));
    }

    private void addOperator(RoutingContext ctx) {
        String actor = ApiExchange.actor(ctx);
        exchange.withJsonBody(ctx, AddBody.class, body -> exchange.blocking(ctx, () -> {
            OperatorAccounts.Issued issued = accounts.add(body.name(), body.role(), body.password(), actor);
            Map<String, Object> v = view(issued.account());
            if (issued.password() != null) {
                v.put("password", issued.password());
            }
            return v;
        }, v -> exchange.ok(ctx, 201, v)));
    }

    private void revokeOperator(RoutingContext ctx) {
        String name = ctx.pathParam("name");
        String actor = ApiExchange.actor(ctx);
        exchange.blocking(ctx, () -> {
            accounts.revoke(name, actor);
            return Map.of("name", name, "revoked", true);
        }, v -> exchange.ok(ctx, 200, v));
    }

    private void setPassword(RoutingContext ctx) {
        String name = ctx.pathParam("name");
        ApiAuth.Principal who = ApiAuth.principal(ctx);
        if (who == null || who.role() == null) {
            exchange.error(ctx, 403, "only an operator account may change a password");
            return;
        }
        exchange.withJsonBody(ctx, PasswordBody.class, body -> exchange.blocking(ctx, () -> {
            String made = accounts.setPassword(name, body.password(), body.currentPassword(), who.name(),
                    who.role() == OperatorRole.ADMIN);
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("name", name);
            v.put("tokensEnded", true);
            if (made != null) {
                v.put("password", made);
            }
            return v;
        }, v -> exchange.ok(ctx, 200, v)));
    }

    private static Map<String, Object> view(OperatorAccount a) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("name", a.name());
        v.put("role", a.role().wireName());
        v.put("builtIn", false);
        v.put("createdAt", JsonViews.timestamp(a.createdAt()));
        v.put("createdBy", a.createdBy());
        return v;
    }
}
