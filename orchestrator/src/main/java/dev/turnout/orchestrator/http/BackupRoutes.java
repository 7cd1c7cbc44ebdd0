package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.backup.BackupManifest;
import dev.turnout.orchestrator.backup.DataBackup;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * {@code GET /api/v1/backup[?artifacts=false]} (the operator only): a consistent backup of the running
 * orchestrator's data directory as a gzipped tar ({@link DataBackup}), written to a private temporary
 * file in the data directory, sent, then deleted. Each backup is recorded in the audit trail.
 */
public final class BackupRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(BackupRoutes.class);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

    private final ApiExchange exchange;
    private final DataBackup backup;
    private final FleetStore store;
    private final Clock clock;

    public BackupRoutes(Vertx vertx, DataBackup backup, FleetStore store, Clock clock) {
        this.exchange = new ApiExchange(vertx, Runnable::run);
        this.backup = backup;
        this.store = store;
        this.clock = clock;
    }

    public void mountOn(Router router) {
        router.get("/api/v1/backup").handler(this::sendBackup);
    }

    private void sendBackup(RoutingContext ctx) {
        String artifacts = ctx.queryParams().get("artifacts");
        if (artifacts != null && !artifacts.equals("true") && !artifacts.equals("false")) {
            exchange.error(ctx, 400, "artifacts must be true or false");
            return;
        }
        boolean withArtifacts = !"false".equals(artifacts);
        exchange.blocking(ctx, () -> {
            Path file = backup.newArchiveFile();
            BackupManifest manifest;
            try {
                manifest = backup.writeTo(file, withArtifacts);
            } catch (Exception | Error e) {
                Files.deleteIfExists(file);
                throw e;
            }
            long size = Files.size(file);
            String detail = manifest.files().size() + " files, " + size + " bytes, artifacts "
                    + (withArtifacts ? "included" : "excluded") + ", fleet store " + manifest.fleetStore();
            store.appendAudit(new AuditEntry(clock.instant(), ApiExchange.actor(ctx), "backup.create", "data", detail));
            LOG.info("backup taken by {} from {}: {}", ApiExchange.actor(ctx), ctx.request().remoteAddress(), detail);
            return file;
        }, file -> {
            HttpServerResponse response = ctx.response();
            response.putHeader(HttpHeaders.CONTENT_TYPE, "application/gzip");
            response.putHeader(HttpHeaders.CACHE_CONTROL, "no-store");
            response.putHeader("Content-Disposition", "attachment; filename=\"turnout-backup-"
                    + STAMP.format(clock.instant()) + ".tar.gz\"");
            response.sendFile(file.toString())
                    .onComplete(done -> exchange.vertx().executeBlocking(() -> Files.deleteIfExists(file), false));
        });
    }
}
