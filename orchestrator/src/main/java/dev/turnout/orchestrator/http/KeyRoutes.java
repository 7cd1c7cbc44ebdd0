package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.security.Keyring;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.crypto.PublicKey;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;

/**
 * Signing-key rotation (docs/security.md, "Signing-key rotation"), the operator only for changes:
 * <ul>
 *   <li>{@code GET /api/v1/keys}: the trusted keys, their roles and how many devices trust each;</li>
 *   <li>{@code POST /api/v1/keys/rotate}: a new key is announced; every desired state, still signed by the
 *       active key, tells devices to trust it too;</li>
 *   <li>{@code POST /api/v1/keys/activate} ({@code {"force": false}}): the announced key signs from now on,
 *       refused (409, naming them) while an enrolled device has not said it trusts it, unless forced;</li>
 *   <li>{@code DELETE /api/v1/keys/:keyId}: devices stop trusting a previous key.</li>
 * </ul>
 * Every change re-signs and publishes the desired state of every device, on the engine's thread, and is audited.
 */
public final class KeyRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(KeyRoutes.class);
    private static final int LISTED = 50;

    @JsonIgnoreProperties(ignoreUnknown = true)
    record ActivateBody(Boolean force) {
    }

    private final ApiExchange exchange;
    private final Keyring keys;
    private final FleetStore store;
    private final RolloutEngine engine;
    private final boolean sharedStore;
    private final Clock clock;

    public KeyRoutes(Vertx vertx, Executor engineThread, Keyring keys, FleetStore store, RolloutEngine engine,
                     boolean sharedStore, Clock clock) {
        this.exchange = new ApiExchange(vertx, engineThread);
        this.keys = keys;
        this.store = store;
        this.engine = engine;
        this.sharedStore = sharedStore;
        this.clock = clock;
    }

    public void mountOn(Router router) {
        BodyHandler body = BodyHandler.create().setBodyLimit(4096).setHandleFileUploads(false);
        router.get("/api/v1/keys").handler(this::list);
        router.post("/api/v1/keys/rotate").handler(this::ownStoreOnly).handler(this::rotate);
        router.post("/api/v1/keys/activate").handler(body).handler(this::ownStoreOnly).handler(this::activate);
        router.delete("/api/v1/keys/:keyId").handler(this::ownStoreOnly).handler(this::retire);
    }

    /** Who may change the keys is RoutePolicy's (admins); here only: not with a store shared by several orchestrators. */
    private void ownStoreOnly(RoutingContext ctx) {
        if (sharedStore) {
            exchange.fail(ctx, new ConflictException("signing-key rotation is not supported with a shared store: each"
                    + " orchestrator keeps its keys in its own data directory (docs/security.md)"));
            return;
        }
        ctx.next();
    }

    private void list(RoutingContext ctx) {
        exchange.blocking(ctx, this::view, v -> exchange.ok(ctx, 200, v));
    }

    private void rotate(RoutingContext ctx) {
        String actor = ApiExchange.actor(ctx);
        exchange.onEngine(ctx, 201, () -> {
            PublicKey fresh = io(keys::rotate);
            int devices = engine.resignAll();
            audit(actor, "key.rotate", fresh.keyId(), "announced; signing stays with " + keys.active().keyId()
                    + "; sent to " + devices + " device(s)");
            return view();
        });
    }

    private void activate(RoutingContext ctx) {
        String actor = ApiExchange.actor(ctx);
        exchange.withJsonBody(ctx, ActivateBody.class, body -> exchange.onEngine(ctx, 200, () -> {
            PublicKey next = keys.next().orElseThrow(() ->
                    new ConflictException("no key is announced: start with turnout key rotate (POST /api/v1/keys/rotate)"));
            List<String> missing = notTrusting(next.keyId());
            boolean force = Boolean.TRUE.equals(body.force());
            if (!missing.isEmpty() && !force) {
                throw new ConflictException(missing.size() + " device(s) have not said they trust key " + next.keyId()
                        + " yet: " + String.join(", ", missing.subList(0, Math.min(LISTED, missing.size())))
                        + (missing.size() > LISTED ? ", …" : "") + ". They learn it from their next desired state once"
                        + " online; --force activates anyway, and those devices then refuse what is signed (UNKNOWN_KEY)"
                        + " until they are given the key (docs/security.md)");
            }
            PublicKey former = io(keys::activate);
            int devices = engine.resignAll();
            audit(actor, "key.activate", next.keyId(), "signs from now on; " + former.keyId() + " stays trusted as previous"
                    + (missing.isEmpty() ? "" : "; forced with " + missing.size() + " device(s) not trusting it")
                    + "; sent to " + devices + " device(s)");
            return view();
        }));
    }

    private void retire(RoutingContext ctx) {
        String actor = ApiExchange.actor(ctx);
        String keyId = ctx.pathParam("keyId");
        exchange.onEngine(ctx, 200, () -> {
            try {
                io(() -> {
                    keys.retire(keyId);
                    return null;
                });
            } catch (IllegalArgumentException e) {
                throw new InvalidInputException(e.getMessage());
            }
            int devices = engine.resignAll();
            audit(actor, "key.retire", keyId, "no longer trusted; sent to " + devices + " device(s)");
            return view();
        });
    }

    /** Enrolled devices that have not said they trust {@code keyId}, by id. */
    private List<String> notTrusting(String keyId) {
        Map<String, List<String>> trusted = engine.trustedKeyIds();
        return store.listDevices().stream().map(Device::id)
                .filter(id -> !trusted.getOrDefault(id, List.of()).contains(keyId)).sorted().toList();
    }

    private Map<String, Object> view() {
        List<Device> devices = store.listDevices();
        Map<String, List<String>> trusted = engine.trustedKeyIds();
        List<Map<String, Object>> list = new ArrayList<>();
        for (Keyring.Entry e : keys.trusted()) {
            Map<String, Object> k = new LinkedHashMap<>();
            k.put("keyId", e.keyId());
            k.put("role", e.role().name().toLowerCase(java.util.Locale.ROOT));
            k.put("publicKey", e.key().toBase64());
            k.put("devicesTrusting", devices.stream().filter(d -> trusted.getOrDefault(d.id(), List.of()).contains(e.keyId())).count());
            list.add(k);
        }
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("activeKeyId", keys.active().keyId());
        v.put("keys", list);
        v.put("devices", devices.size());
        v.put("devicesUnknown", devices.stream().filter(d -> !trusted.containsKey(d.id())).count());
        keys.next().ifPresent(next -> {
            List<String> missing = notTrusting(next.keyId());
            v.put("notTrustingNext", missing.subList(0, Math.min(LISTED, missing.size())));
            v.put("notTrustingNextCount", missing.size());
        });
        return v;
    }

    private void audit(String actor, String action, String keyId, String detail) {
        store.appendAudit(new AuditEntry(clock.instant(), actor, action, keyId, detail));
        LOG.info("{} {} by {}: {}", action, keyId, actor, detail);
    }

    private interface IoStep<T> {
        T run() throws IOException;
    }

    private static <T> T io(IoStep<T> step) {
        try {
            return step.run();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the signing keys: " + e.getMessage(), e);
        } catch (IllegalStateException e) {
            throw new ConflictException(e.getMessage());
        }
    }
}
