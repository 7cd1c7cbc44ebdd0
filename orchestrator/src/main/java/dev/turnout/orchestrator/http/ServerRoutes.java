package dev.turnout.orchestrator.http;

import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** {@code GET /api/v1/health} and {@code GET /api/v1/server}: what a device or the CLI needs to know of this orchestrator. */
final class ServerRoutes {

    private final ApiExchange exchange;
    private final Supplier<ServerInfo> serverInfo;

    ServerRoutes(ApiExchange exchange, Supplier<ServerInfo> serverInfo) {
        this.exchange = exchange;
        this.serverInfo = serverInfo;
    }

    void mountOn(Router router) {
        router.get("/api/v1/health").handler(this::health);
        router.get("/api/v1/server").handler(this::serverInfo);
    }

    private void health(RoutingContext ctx) {
        ServerInfo info = serverInfo.get();
        exchange.ok(ctx, 200, Map.of("status", "ok", "version", info.version()));
    }

    private void serverInfo(RoutingContext ctx) {
        ServerInfo info = serverInfo.get();
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("keyId", info.keyId());
        v.put("publicKey", info.publicKeyBase64());
        v.put("brokerUrl", info.deviceBrokerUrl());
        v.put("orchestratorUrl", info.orchestratorUrl());
        if (info.caPem() != null) {
            v.put("ca", info.caPem());
        }
        v.put("topicPrefix", info.topicPrefix());
        exchange.ok(ctx, 200, v);
    }
}
