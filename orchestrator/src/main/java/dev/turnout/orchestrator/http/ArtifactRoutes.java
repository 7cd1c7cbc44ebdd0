package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.store.DesiredRecord;
import dev.turnout.orchestrator.store.FleetStore;
import io.vertx.core.Vertx;
import io.vertx.core.file.OpenOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Image archives: {@code POST /api/v1/artifacts} (streamed to disk, then ingested),
 * {@code GET}/{@code HEAD /api/v1/artifacts/:digest} with byte ranges, and the files each archive is made of,
 * {@code GET}/{@code HEAD /api/v1/blobs/:digest}. A device downloads only the archives and blobs of the releases in
 * its own desired state.
 */
final class ArtifactRoutes {

    private static final Logger LOG = LoggerFactory.getLogger(ArtifactRoutes.class);
    private static final long ARTIFACT_LIMIT = 8L << 30;
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d*)-(\\d*)");

    private final ApiExchange exchange;
    private final FleetStore store;
    private final ArtifactRepository artifacts;
    private volatile DownloadSlots slots = DownloadSlots.unlimited();

    ArtifactRoutes(ApiExchange exchange, FleetStore store, ArtifactRepository artifacts) {
        this.exchange = exchange;
        this.store = store;
        this.artifacts = artifacts;
    }

    /** Serves at most {@code slots.max()} downloads at once. */
    void limit(DownloadSlots slots) {
        this.slots = slots;
    }

    void mountOn(Router router) {
        router.post("/api/v1/artifacts").handler(this::uploadArtifact);
        router.get("/api/v1/artifacts/:digest").handler(this::downloadArtifact);
        router.head("/api/v1/artifacts/:digest").handler(this::downloadArtifact);
        router.get("/api/v1/blobs/:digest").handler(this::downloadBlob);
        router.head("/api/v1/blobs/:digest").handler(this::downloadBlob);
    }

    private void uploadArtifact(RoutingContext ctx) {
        Vertx vertx = exchange.vertx();
        HttpServerRequest request = ctx.request();
        request.pause();
        String length = request.getHeader(HttpHeaders.CONTENT_LENGTH);
        if (length != null && length.matches("\\d{1,18}") && Long.parseLong(length) > ARTIFACT_LIMIT) {
            exchange.error(ctx, 413, "archive larger than " + (ARTIFACT_LIMIT >> 30) + " GiB");
            return;
        }
        Path[] incoming = new Path[1];
        vertx.executeBlocking(artifacts::newIncomingFile, false)
                .compose(path -> {
                    incoming[0] = path;
                    return vertx.fileSystem().open(path.toString(), new OpenOptions().setWrite(true).setTruncateExisting(true));
                })
                .compose(file -> request.pipeTo(file))
                .compose(done -> vertx.executeBlocking(() -> artifacts.ingest(whole(incoming[0], request.bytesRead())), false))
                .onSuccess(ingested -> {
                    for (Artifact a : ingested.artifacts()) {
                        LOG.info("{} artifact {} ({} bytes, {} image {})", ingested.created() ? "stored" : "known", a.digest(),
                                a.size(), a.platform(), a.imageRef());
                    }
                    exchange.ok(ctx, ingested.created() ? 201 : 200, JsonViews.upload(ingested.artifacts()));
                })
                .onFailure(e -> {
                    // the answer comes once the partial file is gone: "nothing was saved" is true when the caller reads it
                    io.vertx.core.Future<Void> removed = incoming[0] == null ? io.vertx.core.Future.succeededFuture()
                            : vertx.fileSystem().delete(incoming[0].toString()).recover(ignored -> io.vertx.core.Future.succeededFuture());
                    removed.onComplete(done -> exchange.fail(ctx, e));
                });
    }

    /**
     * {@code file}, once it holds every byte of the upload ({@code received}). A write the file system refused for want of
     * space did not fail the pipe: the upload was then read short and answered "not an image archive".
     */
    private static Path whole(Path file, long received) throws IOException {
        long written = Files.size(file);
        if (written != received) {
            long free = Files.getFileStore(file).getUsableSpace();
            throw new IOException("the upload was not stored whole (" + written + " of " + received + " bytes written)"
                    + (free < received - written ? ": No space left on device (" + free / 1024 + " KiB free)" : ""));
        }
        return file;
    }

    private void downloadArtifact(RoutingContext ctx) {
        String digest = ctx.pathParam("digest");
        boolean head = ctx.request().method() == HttpMethod.HEAD;
        String range = ctx.request().getHeader("Range");
        ApiAuth.Principal caller = ApiAuth.principal(ctx);
        if (!head && !takeSlot(ctx)) {
            return;
        }
        exchange.blocking(ctx, () -> {
            if (caller != null && caller.kind() == ApiAuth.Kind.DEVICE && !targets(caller.name(), digest)) {
                throw new ForbiddenException("artifact " + digest + " is not part of a release in the desired state of device "
                        + caller.name() + "; a device downloads only what it is told to install");
            }
            Path path = artifacts.file(digest).orElseThrow(() -> new NotFoundException("artifact " + digest + " is not stored"));
            return Map.entry(path, Files.size(path));
        }, found -> send(ctx, digest, found.getKey(), found.getValue(), range, head, null));
    }

    /**
     * A download slot for this response, given back when it ends however it ends; false after answering 503 with a
     * Retry-After when every slot is taken (the device waits that long, which is not a failed attempt).
     */
    private boolean takeSlot(RoutingContext ctx) {
        DownloadSlots cap = slots;
        if (!cap.take()) {
            int delay = DownloadSlots.retryAfterSeconds();
            ctx.response().putHeader("Retry-After", Integer.toString(delay));
            exchange.error(ctx, 503, "the orchestrator is serving its maximum of " + cap.max() + " artifact downloads at once"
                    + " (--max-downloads); try again in " + delay + " s");
            return false;
        }
        java.util.concurrent.atomic.AtomicBoolean given = new java.util.concurrent.atomic.AtomicBoolean();
        ctx.addEndHandler(done -> {
            if (given.compareAndSet(false, true)) {
                cap.give();
            }
        });
        return true;
    }

    /**
     * One file of a stored archive (a layer, config, manifest: {@link dev.turnout.orchestrator.domain.ImageBlob}), with
     * byte ranges as an archive. A device fetches only the blobs of the releases in its own desired state.
     */
    private void downloadBlob(RoutingContext ctx) {
        String digest = ctx.pathParam("digest");
        boolean head = ctx.request().method() == HttpMethod.HEAD;
        String range = ctx.request().getHeader("Range");
        String acceptEncoding = ctx.request().getHeader(HttpHeaders.ACCEPT_ENCODING);
        String encoding = accepts(acceptEncoding, "zstd") ? "zstd" : acceptsGzip(acceptEncoding) ? "gzip" : null;
        ApiAuth.Principal caller = ApiAuth.principal(ctx);
        if (!head && !takeSlot(ctx)) {
            return;
        }
        String base = ctx.request().getParam("base");
        exchange.blocking(ctx, () -> {
            if (!ArtifactRepository.isDigest(digest)) {
                throw new InvalidInputException("'" + digest + "' is not a blob digest (sha256:<64 hex>)");
            }
            if (base != null && !ArtifactRepository.isDigest(base)) {
                throw new InvalidInputException("base '" + base + "' is not a blob digest (sha256:<64 hex>)");
            }
            if (caller != null && caller.kind() == ApiAuth.Kind.DEVICE && !targetsBlob(caller.name(), digest, base)) {
                throw new ForbiddenException((base == null ? "blob " + digest : "a delta of blob " + digest + " against " + base)
                        + " is not part of a release in the desired state of device " + caller.name()
                        + "; a device downloads only what it is told to install");
            }
            Path path = artifacts.file(digest).orElseThrow(() -> new NotFoundException("blob " + digest + " is not stored"));
            if (base != null) { // made once per pair, on the first ask; served as it is (a zstd frame)
                Path delta = artifacts.deltas().delta(base, digest).orElseThrow(() -> new NotFoundException("no delta of blob "
                        + digest + " against " + base + " (not stored, or not smaller than the blob): fetch the blob whole"));
                return new StoredBlob(delta, Files.size(delta), null);
            }
            return new StoredBlob(path, Files.size(path), head || alreadyCompressed(path) ? null : encoding);
        }, found -> {
            if (base != null) {
                ctx.response().putHeader("Turnout-Delta-Base", base);
            }
            send(ctx, digest, found.path(), found.size(), range, head, found.encoding());
        });
    }

    /** @param encoding how it goes on the wire: {@code zstd}, {@code gzip}, or null (as stored) */
    private record StoredBlob(Path path, long size, String encoding) {
    }

    /** A gzip or zstd layer gains nothing from gzip on the wire: it is sent as stored. */
    private static boolean alreadyCompressed(Path path) throws java.io.IOException {
        try (var in = Files.newInputStream(path)) {
            byte[] magic = in.readNBytes(4);
            boolean gzip = magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b;
            boolean zstd = magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5 && (magic[2] & 0xff) == 0x2f
                    && (magic[3] & 0xff) == 0xfd;
            return gzip || zstd;
        }
    }

    /** Whether the client takes gzip ({@code Accept-Encoding: gzip}, not refused with {@code q=0}). */
    static boolean acceptsGzip(String acceptEncoding) {
        return accepts(acceptEncoding, "gzip");
    }

    /** Whether the client takes {@code coding} (named in {@code Accept-Encoding}, not refused with {@code q=0}). */
    static boolean accepts(String acceptEncoding, String wanted) {
        if (acceptEncoding == null) {
            return false;
        }
        for (String coding : acceptEncoding.split(",")) {
            String[] parts = coding.trim().split(";");
            if (parts[0].trim().equalsIgnoreCase(wanted)) {
                return !(parts.length > 1 && parts[1].replace(" ", "").matches("q=0(\\.0*)?"));
            }
        }
        return false;
    }

    /**
     * Sends the file, or the part {@code range} asks for (206), or refuses a range it cannot satisfy (416). With an
     * {@code encoding} ({@code zstd} or {@code gzip}) the bytes (the range counts the stored bytes) go compressed, with
     * that {@code Content-Encoding}.
     */
    private void send(RoutingContext ctx, String digest, Path path, long size, String range, boolean head, String encoding) {
        HttpServerResponse response = ctx.response()
                .putHeader(HttpHeaders.ACCEPT_RANGES, "bytes")
                .putHeader(HttpHeaders.CONTENT_TYPE, "application/octet-stream");
        long start = 0;
        long end = size - 1;
        if (range != null) {
            Matcher m = RANGE.matcher(range.trim());
            boolean valid = m.matches() && !(m.group(1).isEmpty() && m.group(2).isEmpty());
            if (valid) {
                if (m.group(1).isEmpty()) {
                    start = Math.max(0, size - Long.parseLong(m.group(2)));
                } else {
                    start = Long.parseLong(m.group(1));
                    end = m.group(2).isEmpty() ? size - 1 : Math.min(size - 1, Long.parseLong(m.group(2)));
                }
            }
            if (!valid || start >= size || start > end) {
                response.putHeader(HttpHeaders.CONTENT_RANGE, "bytes */" + size);
                exchange.error(ctx, 416, "range '" + range + "' cannot be satisfied for " + size + " bytes");
                return;
            }
            response.setStatusCode(206).putHeader(HttpHeaders.CONTENT_RANGE, "bytes " + start + "-" + end + "/" + size);
        }
        long length = end - start + 1;
        if (head) {
            response.putHeader(HttpHeaders.CONTENT_LENGTH, Long.toString(size == 0 ? 0 : length)).end();
            return;
        }
        if (encoding != null && length > 0) {
            GzipBody.send(exchange.vertx(), response, path, start, length, encoding)
                    .onFailure(e -> LOG.warn("sending {} failed: {}", digest, e.toString()));
            return;
        }
        response.sendFile(path.toString(), start, length).onFailure(e -> LOG.warn("sending {} failed: {}", digest, e.toString()));
    }

    /**
     * True when {@code digest} is a blob of an image of a release in the current desired state of {@code deviceId} and,
     * with a {@code base}, that release names {@code base} as the layer its delta is made from.
     */
    private boolean targetsBlob(String deviceId, String digest, String base) {
        DesiredRecord desired = store.findDesired(deviceId).orElse(null);
        if (desired == null) {
            return false;
        }
        for (DesiredApp app : desired.apps()) {
            Release release = store.findRelease(app.app(), app.version()).orElse(null);
            if (release != null && release.images().stream().flatMap(i -> i.blobs().stream())
                    .anyMatch(b -> b.digest().equals(digest) && (base == null || base.equals(b.deltaBase())))) {
                return true;
            }
        }
        return false;
    }

    /** True when {@code digest} is an image of a release in the current desired state of {@code deviceId}. */
    private boolean targets(String deviceId, String digest) {
        DesiredRecord desired = store.findDesired(deviceId).orElse(null);
        if (desired == null) {
            return false;
        }
        for (DesiredApp app : desired.apps()) {
            Release release = store.findRelease(app.app(), app.version()).orElse(null);
            if (release != null && release.images().stream().anyMatch(i -> i.digest().equals(digest))) {
                return true;
            }
        }
        return false;
    }
}
