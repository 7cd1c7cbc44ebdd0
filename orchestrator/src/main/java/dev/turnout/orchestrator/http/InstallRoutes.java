package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.install.InstallTokens;
import dev.turnout.orchestrator.install.Installs;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.AuditTrail;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * One-line installs, public (the token in the path is the credential, docs/install.md): {@code GET
 * /install/:token} (the script), {@code GET /install/:token/turnout-edge.deb} (the edge package) and
 * {@code GET /install/:token/edge.yaml} (the device's config, once: fetching it spends the token). An unknown
 * token answers 404, a spent or expired one 410, and neither serves anything.
 */
final class InstallRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(InstallRoutes.class);

    private final ApiExchange exchange;
    private final Installs installs;
    private final Supplier<ServerInfo> serverInfo;
    private final AuditTrail audit;
    private final Clock clock;

    InstallRoutes(ApiExchange exchange, Installs installs, Supplier<ServerInfo> serverInfo, AuditTrail audit, Clock clock) {
        this.exchange = exchange;
        this.installs = installs;
        this.serverInfo = serverInfo;
        this.audit = audit;
        this.clock = clock;
    }

    void mountOn(Router router) {
        router.get("/install/:token").handler(this::script);
        router.get("/install/:token/turnout-edge.deb").handler(this::edgePackage);
        router.get("/install/:token/edge.yaml").handler(this::config);
    }

    private void script(RoutingContext ctx) {
        String token = ctx.pathParam("token");
        exchange.blocking(ctx, () -> {
            InstallTokens.Lookup found = installs.tokens().lookup(token);
            return found.state() == InstallTokens.State.VALID && installs.edgePackage().isPresent()
                    ? Optional.of(installs.script(token, found, serverInfo.get().orchestratorUrl()))
                    : Optional.<String>empty();
        }, script -> script.ifPresentOrElse(text -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "text/x-shellscript; charset=utf-8")
                .putHeader(HttpHeaders.CACHE_CONTROL, "no-store").end(text), () -> refuse(ctx, token)));
    }

    private void edgePackage(RoutingContext ctx) {
        String token = ctx.pathParam("token");
        exchange.blocking(ctx, () -> {
            InstallTokens.Lookup found = installs.tokens().lookup(token);
            return found.state() == InstallTokens.State.VALID ? installs.edgePackage().map(p -> p.file().toString()) : Optional.<String>empty();
        }, file -> file.ifPresentOrElse(f -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/vnd.debian.binary-package")
                .putHeader(HttpHeaders.CACHE_CONTROL, "no-store").sendFile(f), () -> refuse(ctx, token)));
    }

    private void config(RoutingContext ctx) {
        String token = ctx.pathParam("token");
        exchange.blocking(ctx, () -> {
            Optional<String> config = installs.tokens().spend(token);
            config.ifPresent(c -> {
                String device = installs.tokens().lookup(token).deviceId();
                String from = ctx.request().remoteAddress() == null ? "?" : ctx.request().remoteAddress().hostAddress();
                audit.appendAudit(new AuditEntry(clock.instant(), "install", "device.install", device, "config fetched from " + from));
                LOG.info("device {} fetched its config with its install link from {}", device, from);
            });
            return config;
        }, config -> config.ifPresentOrElse(c -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/yaml; charset=utf-8")
                .putHeader(HttpHeaders.CACHE_CONTROL, "no-store").end(c), () -> refuse(ctx, token)));
    }

    /** 404 for a token never issued, 410 for a spent or expired one, 503 when no edge package is configured any more. */
    private void refuse(RoutingContext ctx, String token) {
        exchange.blocking(ctx, () -> installs.tokens().lookup(token), found -> {
            switch (found.state()) {
                case UNKNOWN -> exchange.error(ctx, 404, "no such install link");
                case USED -> exchange.error(ctx, 410, "this install link was used already: device " + found.deviceId()
                        + " got its config. If that was not you, revoke it (turnout device revoke " + found.deviceId() + ")");
                case EXPIRED -> exchange.error(ctx, 410, "this install link expired at " + found.expiresAt()
                        + ": make a new one with turnout device revoke " + found.deviceId() + " && turnout device enroll "
                        + found.deviceId() + " --install-command");
                case VALID -> exchange.error(ctx, 503, "this orchestrator has no edge package to install any more"
                        + " (turnout server --edge-package FILE)");
            }
        });
    }
}
