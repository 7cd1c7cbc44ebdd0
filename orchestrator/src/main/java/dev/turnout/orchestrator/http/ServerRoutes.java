package dev.turnout.orchestrator.http;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * {@code GET /api/v1/health} and {@code GET /api/v1/server}: what a device or the CLI needs to know of this orchestrator;
 * {@code GET /api/openapi.json}: the API's contract (OpenAPI 3.1, the hand-written resource {@value #CONTRACT}).
 */
final class ServerRoutes {

    /** The OpenAPI description, a resource beside this class. */
    static final String CONTRACT = "openapi.json";

    private final ApiExchange exchange;
    private final Supplier<ServerInfo> serverInfo;
    private final Supplier<Optional<String>> writesRefused;
    private final Buffer contract;

    ServerRoutes(ApiExchange exchange, Supplier<ServerInfo> serverInfo, Supplier<Optional<String>> writesRefused) {
        this.exchange = exchange;
        this.serverInfo = serverInfo;
        this.writesRefused = writesRefused;
        this.contract = Buffer.buffer(readContract());
    }

    void mountOn(Router router) {
        router.get("/api/v1/health").handler(this::health);
        router.get("/api/v1/server").handler(this::serverInfo);
        router.get("/api/openapi.json").handler(this::contract);
    }

    private void contract(RoutingContext ctx) {
        ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(contract);
    }

    private static byte[] readContract() {
        try (InputStream in = ServerRoutes.class.getResourceAsStream(CONTRACT)) {
            if (in == null) {
                throw new IllegalStateException(CONTRACT + " is missing beside " + ServerRoutes.class.getName());
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + CONTRACT, e);
        }
    }

    /**
     * {@code ok}, or {@code degraded} (503) while the store refuses writes (its disk full, say): nothing can be recorded,
     * so no rollout moves on, and a container health check says so.
     */
    private void health(RoutingContext ctx) {
        ServerInfo info = serverInfo.get();
        Optional<String> refused = writesRefused.get(); // a field read: does not block
        if (refused.isEmpty()) {
            exchange.ok(ctx, 200, Map.of("status", "ok", "version", info.version()));
        } else {
            exchange.ok(ctx, 503, Map.of("error", "the store refuses writes, so no rollout moves on: " + refused.get(),
                    "status", "degraded", "version", info.version()));
        }
    }

    private void serverInfo(RoutingContext ctx) {
        ServerInfo info = serverInfo.get();
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("keyId", info.keyId());
        v.put("publicKey", info.publicKeyBase64());
        v.put("trustedKeys", info.trustedKeys().stream()
                .map(k -> Map.of("keyId", k.keyId(), "publicKey", k.toBase64())).toList());
        v.put("brokerUrl", info.deviceBrokerUrl());
        v.put("orchestratorUrl", info.orchestratorUrl());
        if (info.caPem() != null) {
            v.put("ca", info.caPem());
        }
        v.put("topicPrefix", info.topicPrefix());
        exchange.ok(ctx, 200, v);
    }
}
