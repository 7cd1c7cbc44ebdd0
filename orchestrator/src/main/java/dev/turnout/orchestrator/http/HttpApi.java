package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.enroll.Enrollment;
import dev.turnout.orchestrator.install.InstallTokens;
import dev.turnout.orchestrator.install.Installs;
import dev.turnout.orchestrator.store.FleetStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.BodyHandler;

import java.time.Clock;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * The HTTP API of docs/api.md on Vert.x Web: authentication first, then the routes of each
 * resource (server, enrollment, devices, artifacts, releases, apps, rollouts, audit, operators), each in a small
 * class of named handlers. Handlers never block the event loop: the store and disk run on worker
 * threads, rollout commands on the engine's own thread.
 */
public final class HttpApi {

    private static final long JSON_BODY_LIMIT = 1 << 20;

    private final Vertx vertx;
    private final ApiAuth auth;
    private final ApiExchange exchange;
    /** What the server tells devices and clients; null in the moment between listening and knowing its port. */
    private final Supplier<ServerInfo> serverInfo;
    private final ServerRoutes server;
    private final EnrollmentRoutes enrollment;
    private final DeviceRoutes devices;
    private final ArtifactRoutes artifacts;
    private final ReleaseRoutes releases;
    private final AppRoutes apps;
    private final RolloutRoutes rollouts;
    private final AuditRoutes audit;
    private final OperatorRoutes operators;
    private final InstallRoutes installs;

    public HttpApi(Vertx vertx, FleetStore store, ArtifactRepository artifacts, RolloutEngine engine,
                   Executor engineExecutor, Supplier<ServerInfo> serverInfo, Clock clock, Enrollment enrollment, ApiAuth auth) {
        this(vertx, store, artifacts, engine, engineExecutor, serverInfo, clock, enrollment, auth,
                new Installs(null, new InstallTokens(store, clock), ""));
    }

    /** With one-line installs ({@code installs}: the edge package handed out, the tokens). */
    public HttpApi(Vertx vertx, FleetStore store, ArtifactRepository artifacts, RolloutEngine engine,
                   Executor engineExecutor, Supplier<ServerInfo> serverInfo, Clock clock, Enrollment enrollment, ApiAuth auth,
                   Installs installs) {
        Objects.requireNonNull(enrollment, "enrollment");
        this.auth = Objects.requireNonNull(auth, "auth");
        auth.auditTo(store::appendAudit);
        this.vertx = vertx;
        this.exchange = new ApiExchange(vertx, engineExecutor);
        this.serverInfo = serverInfo;
        this.server = new ServerRoutes(exchange, serverInfo, store::writesRefused);
        this.devices = new DeviceRoutes(exchange, store, engine == null ? null : engine.downloads(), clock);
        this.enrollment = new EnrollmentRoutes(exchange, enrollment, devices, engine, serverInfo, installs);
        this.installs = new InstallRoutes(exchange, installs, serverInfo, store, clock);
        this.artifacts = new ArtifactRoutes(exchange, store, artifacts);
        this.releases = new ReleaseRoutes(exchange, store, artifacts, engine, clock);
        this.apps = new AppRoutes(exchange, store, engine, clock);
        this.rollouts = new RolloutRoutes(exchange, store, engine, clock);
        this.audit = new AuditRoutes(exchange, store);
        this.operators = new OperatorRoutes(exchange, auth.accounts());
    }

    /**
     * Serves at most {@code max} artifact downloads at once; one more is answered 503 with a Retry-After, which a device
     * waits out without counting it as a failed attempt.
     */
    public HttpApi limitDownloads(int max) {
        artifacts.limit(new DownloadSlots(max));
        return this;
    }

    /** Starts listening; the future holds the server (its actual port when {@code port} is 0). */
    public Future<HttpServer> listen(String host, int port) {
        return listen(host, port, router());
    }

    /** Starts listening with {@code router}: this API's {@link #router()} with more routes mounted on it. */
    public Future<HttpServer> listen(String host, int port, Router router) {
        return listen(host, port, router, null, null);
    }

    /**
     * Starts listening with {@code router}, over HTTPS when {@code certificatePem} (the server certificate
     * and its chain) and {@code keyPem} (its private key) are given.
     */
    public Future<HttpServer> listen(String host, int port, Router router, String certificatePem, String keyPem) {
        HttpServerOptions options = new HttpServerOptions().setHandle100ContinueAutomatically(true).setCompressionSupported(false);
        if (certificatePem != null) {
            options.setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
                    .setCertValue(Buffer.buffer(certificatePem))
                    .setKeyValue(Buffer.buffer(keyPem)));
        }
        return vertx.createHttpServer(options).requestHandler(router).listen(port, host);
    }

    /** A router with every API route; more (monitoring, the dashboard) can be mounted after them. */
    public Router router() {
        Router router = Router.router(vertx);
        // the server listens before it knows what to tell devices (the port it got): a request in that moment is
        // told to come back, instead of failing inside a route (a health check polling the start saw a 500)
        router.route().handler(ctx -> {
            if (serverInfo.get() != null) {
                ctx.next();
                return;
            }
            ctx.response().putHeader("Retry-After", "1");
            exchange.error(ctx, 503, "the orchestrator is starting: try again in a moment");
        });
        auth.mountOn(router); // first to judge: no route runs for a caller without the right credentials
        BodyHandler body = BodyHandler.create().setBodyLimit(JSON_BODY_LIMIT).setHandleFileUploads(false);
        server.mountOn(router);
        enrollment.mountOn(router, body);
        devices.mountOn(router);
        artifacts.mountOn(router);
        releases.mountOn(router, body);
        apps.mountOn(router, body);
        rollouts.mountOn(router, body);
        audit.mountOn(router);
        operators.mountOn(router, body);
        installs.mountOn(router);
        router.errorHandler(404, ctx -> exchange.error(ctx, 404, "no such endpoint: " + ctx.request().method() + " " + ctx.request().path()));
        router.errorHandler(405, ctx -> exchange.error(ctx, 405, "method not allowed on " + ctx.request().path()));
        router.errorHandler(413, ctx -> exchange.error(ctx, 413, "request body too large"));
        router.errorHandler(500, ctx -> exchange.fail(ctx, ctx.failure() == null ? new IllegalStateException("unknown") : ctx.failure()));
        return router;
    }
}
