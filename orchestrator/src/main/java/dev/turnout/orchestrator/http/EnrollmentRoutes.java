package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.enroll.Enrollment;
import dev.turnout.orchestrator.install.InstallTokens;
import dev.turnout.orchestrator.install.Installs;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Who joins the fleet: {@code POST /api/v1/devices} (enroll, answering with the device's config and
 * broker secret, or with {@code install} a one-line install whose one-time link hands the config to the device), {@code POST /api/v1/devices/:id/revoke}, and the monitor users under {@code /api/v1/users}.
 */
final class EnrollmentRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(EnrollmentRoutes.class);

    @JsonIgnoreProperties(ignoreUnknown = true)
    record EnrollBody(String id, Map<String, String> labels, List<String> groups, InstallBody install) {
    }

    /** Asks for a one-line install instead of the config: a one-time link that works {@code expiresInSeconds} (default 1 h). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record InstallBody(Long expiresInSeconds) {
        java.time.Duration lifetime() {
            return expiresInSeconds == null ? InstallTokens.DEFAULT_LIFETIME : java.time.Duration.ofSeconds(expiresInSeconds);
        }
    }

    /** {@code POST /api/v1/devices/:id/labels}: labels to set, keys to remove; unknown fields are refused. */
    record LabelsBody(Map<String, String> set, List<String> remove) {
    }

    /** {@code POST /api/v1/devices/:id/groups}: groups to add, groups to remove; unknown fields are refused. */
    record GroupsBody(List<String> add, List<String> remove) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record UserBody(String name, String role) {
    }

    private final ApiExchange exchange;
    private final Enrollment enrollment;
    private final DeviceRoutes devices;
    private final RolloutEngine engine;
    private final Supplier<ServerInfo> serverInfo;
    private final Installs installs;

    EnrollmentRoutes(ApiExchange exchange, Enrollment enrollment, DeviceRoutes devices, RolloutEngine engine,
                     Supplier<ServerInfo> serverInfo, Installs installs) {
        this.installs = installs;
        this.exchange = exchange;
        this.enrollment = enrollment;
        this.devices = devices;
        this.engine = engine;
        this.serverInfo = serverInfo;
    }

    void mountOn(Router router, BodyHandler body) {
        router.post("/api/v1/devices").handler(body).handler(this::enrollDevice);
        router.post("/api/v1/devices/:id/revoke").handler(this::revokeDevice);
        router.post("/api/v1/devices/:id/labels").handler(body).handler(this::relabelDevice);
        router.post("/api/v1/devices/:id/groups").handler(body).handler(this::regroupDevice);
        router.post("/api/v1/users").handler(body).handler(this::addUser);
        router.get("/api/v1/users").handler(this::listUsers);
        router.post("/api/v1/users/:name/revoke").handler(this::revokeUser);
    }

    private void enrollDevice(RoutingContext ctx) {
        exchange.withJsonBody(ctx, EnrollBody.class, body -> exchange.blocking(ctx, () -> {
            if (body.install() != null) { // refused before anything is enrolled
                try {
                    installs.checkOffer(body.install().lifetime());
                } catch (IllegalArgumentException e) {
                    throw new InvalidInputException(e.getMessage());
                } catch (IllegalStateException e) {
                    throw new ConflictException(e.getMessage());
                }
            }
            Enrollment.EnrolledDevice enrolled = enrollment.enrollDevice(body.id(), body.labels(), body.groups(),
                    ApiExchange.actor(ctx));
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("device", devices.view(enrolled.device()));
            String config = DeviceConfigYaml.of(enrolled.device(), serverInfo.get(), enrolled.secret());
            if (body.install() == null) {
                v.put("config", config);
            } else { // the config goes to the device alone, through the link
                Installs.Offer offer = installs.offer(body.id(), config, serverInfo.get().orchestratorUrl(), body.install().lifetime());
                Map<String, Object> install = new LinkedHashMap<>();
                install.put("command", offer.command());
                install.put("url", offer.scriptUrl());
                install.put("scriptSha256", offer.scriptSha256());
                install.put("expiresAt", JsonViews.timestamp(offer.token().expiresAt()));
                v.put("install", install);
            }
            return v;
        }, v -> {
            exchange.ok(ctx, 201, v);
            joinRunningRollouts(body.id());
        }));
    }

    /** Dynamic targets: unfinished rollouts that match the new device take it in. */
    private void joinRunningRollouts(String deviceId) {
        exchange.onEngine(() -> {
            engine.onEnrolled(deviceId);
            return null;
        }).onFailure(e -> LOG.warn("device {} could not join the running rollouts: {}", deviceId, e.toString()));
    }

    private void relabelDevice(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        exchange.withJsonBody(ctx, LabelsBody.class, body -> retag(ctx, id,
                () -> enrollment.relabelDevice(id, body.set(), body.remove(), ApiExchange.actor(ctx))));
    }

    private void regroupDevice(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        exchange.withJsonBody(ctx, GroupsBody.class, body -> retag(ctx, id,
                () -> enrollment.regroupDevice(id, body.add(), body.remove(), ApiExchange.actor(ctx))));
    }

    /** Runs a change of a device's labels or groups, answers with the device, then lets running rollouts whose target it now matches take it in. */
    private void retag(RoutingContext ctx, String id, Supplier<Enrollment.Retagged> change) {
        exchange.blocking(ctx, () -> {
            Enrollment.Retagged retagged = change.get();
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("device", devices.view(retagged.after()));
            v.put("changed", retagged.changed());
            return v;
        }, v -> {
            exchange.ok(ctx, 200, v);
            if (Boolean.TRUE.equals(v.get("changed"))) {
                exchange.onEngine(() -> {
                    engine.onRetagged(id);
                    return null;
                }).onFailure(e -> LOG.warn("device {} could not join the running rollouts it now matches: {}", id, e.toString()));
            }
        });
    }

    private void revokeDevice(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        exchange.blocking(ctx, () -> {
            boolean revoked = enrollment.revokeDevice(id, ApiExchange.actor(ctx));
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("id", id);
            v.put("revoked", true);
            v.put("alreadyRevoked", !revoked);
            return v;
        }, v -> exchange.ok(ctx, 200, v));
    }

    private void addUser(RoutingContext ctx) {
        exchange.withJsonBody(ctx, UserBody.class, body -> exchange.blocking(ctx, () -> {
            Enrollment.IssuedUser issued = enrollment.addUser(body.name(), body.role(), ApiExchange.actor(ctx));
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("name", issued.name());
            v.put("role", "monitor");
            v.put("password", issued.secret());
            v.put("brokerUrl", serverInfo.get().deviceBrokerUrl());
            v.put("topicPrefix", serverInfo.get().topicPrefix());
            return v;
        }, v -> exchange.ok(ctx, 201, v)));
    }

    private void listUsers(RoutingContext ctx) {
        exchange.blocking(ctx, () -> {
            List<Object> users = new ArrayList<>();
            for (Enrollment.User user : enrollment.users()) {
                Map<String, Object> u = new LinkedHashMap<>();
                u.put("name", user.name());
                u.put("role", user.role().name().toLowerCase(Locale.ROOT));
                u.put("createdAt", JsonViews.timestamp(user.createdAt()));
                users.add(u);
            }
            return Map.of("users", users);
        }, v -> exchange.ok(ctx, 200, v));
    }

    private void revokeUser(RoutingContext ctx) {
        String name = ctx.pathParam("name");
        exchange.blocking(ctx, () -> {
            enrollment.revokeUser(name, ApiExchange.actor(ctx));
            return Map.of("name", name, "revoked", true);
        }, v -> exchange.ok(ctx, 200, v));
    }
}
