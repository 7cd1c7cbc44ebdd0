package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.backup.DataBackup;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.enroll.Enrollment;
import dev.turnout.orchestrator.http.ApiAuth;
import dev.turnout.orchestrator.http.BackupRoutes;
import dev.turnout.orchestrator.http.HttpApi;
import dev.turnout.orchestrator.http.KeyRoutes;
import dev.turnout.orchestrator.http.LogRoutes;
import dev.turnout.orchestrator.logs.DeviceLogs;
import dev.turnout.orchestrator.http.MonitoringRoutes;
import dev.turnout.orchestrator.http.ServerInfo;
import dev.turnout.orchestrator.http.WebhookRoutes;
import dev.turnout.orchestrator.install.EdgePackage;
import dev.turnout.orchestrator.install.InstallScript;
import dev.turnout.orchestrator.install.InstallTokens;
import dev.turnout.orchestrator.install.Installs;
import dev.turnout.orchestrator.security.BasicCredentials;
import dev.turnout.orchestrator.security.Keyring;
import dev.turnout.orchestrator.security.OperatorAccounts;
import dev.turnout.orchestrator.security.OperatorToken;
import dev.turnout.orchestrator.security.TlsMaterial;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.orchestrator.webhook.WebhookDispatcher;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;

import java.time.Clock;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;

/**
 * The HTTP side on its own Vert.x: the API (operator accounts and token, device and monitor credentials), the
 * monitoring routes, the backup and the dashboard, over HTTPS with TLS material.
 */
final class ApiServer implements AutoCloseable {

    private static final long LISTEN_SECONDS = 30;
    private static final long STOP_SECONDS = 10;

    /** What the API works on. */
    record Backend(FleetStore store, BasicCredentials credentials, ArtifactRepository artifacts, RolloutEngine engine,
                   Executor engineThread, Enrollment enrollment, FleetMonitoring monitoring, DataBackup backup, Keyring keys,
                   boolean sharedStore, WebhookDispatcher webhooks, Clock clock, java.nio.file.Path edgePackage, DeviceLogs logs,
                   int maxDownloads) {
    }

    private final Vertx vertx;
    private final int port;
    private final Router router;

    private ApiServer(Vertx vertx, int port, Router router) {
        this.vertx = vertx;
        this.port = port;
        this.router = router;
    }

    /**
     * Listens on {@code host:port} (0: a free port) and returns once it does. {@code info} makes what
     * {@code GET /api/v1/server} answers from the port taken.
     */
    static ApiServer listen(String host, int port, TlsMaterial tls, OperatorToken token, Backend backend,
                            IntFunction<ServerInfo> info) throws Exception {
        Vertx vertx = Vertx.vertx();
        try {
            AtomicReference<ServerInfo> served = new AtomicReference<>();
            ApiAuth auth = new ApiAuth(vertx, token, backend.credentials(),
                    new OperatorAccounts(backend.store(), backend.store(), backend.clock()), backend.clock());
            Installs installs = new Installs(backend.edgePackage() == null ? null : new EdgePackage(backend.edgePackage()),
                    new InstallTokens(backend.store(), backend.clock()), InstallScript.curlOptions(tls == null ? null : tls.certificatePem()));
            HttpApi api = new HttpApi(vertx, backend.store(), backend.artifacts(), backend.engine(), backend.engineThread(),
                    served::get, backend.clock(), backend.enrollment(), auth, installs);
            api.limitDownloads(backend.maxDownloads());
            Router router = api.router();
            FleetMonitoring monitoring = backend.monitoring();
            new MonitoringRoutes(vertx, monitoring.metrics(), monitoring.live(), monitoring.observer()).mountOn(router);
            new BackupRoutes(vertx, backend.backup(), backend.store(), backend.clock()).mountOn(router);
            new KeyRoutes(vertx, backend.engineThread(), backend.keys(), backend.store(), backend.engine(), backend.sharedStore(),
                    backend.clock()).mountOn(router);
            new WebhookRoutes(vertx, backend.store(), backend.webhooks(), backend.clock()).mountOn(router);
            new LogRoutes(vertx, backend.store(), backend.logs(), backend.clock()).mountOn(router);
            HttpServer http = api.listen(host, port, router, tls == null ? null : tls.certificatePem(), tls == null ? null : tls.keyPem())
                    .toCompletionStage().toCompletableFuture().get(LISTEN_SECONDS, TimeUnit.SECONDS);
            served.set(info.apply(http.actualPort()));
            return new ApiServer(vertx, http.actualPort(), router);
        } catch (Exception | Error e) {
            try {
                stop(vertx);
            } catch (Exception notStopped) {
                e.addSuppressed(notStopped);
            }
            throw e;
        }
    }

    /** The port listened on. */
    int port() {
        return port;
    }

    /** Every route served, in the order they match (the contract test holds them against openapi.json). */
    List<Route> routes() {
        return router.getRoutes();
    }

    /** Stops listening and closes Vert.x, waiting at most {@value #STOP_SECONDS} s. */
    @Override
    public void close() throws Exception {
        stop(vertx);
    }

    private static void stop(Vertx vertx) throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(STOP_SECONDS, TimeUnit.SECONDS);
    }
}
