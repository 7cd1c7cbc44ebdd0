package dev.turnout.edge.cache;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.Blob;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.image.ArchiveBlobs;
import dev.turnout.proto.image.ArchiveEntries;
import dev.turnout.proto.image.ImageArchive;
import dev.turnout.testsupport.TestImageArchives;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.GZIPOutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A release that lists its blobs moves only the blobs a device lacks, over a real HTTP server that counts what it
 * sends (compressed when asked, as the orchestrator's blob route).
 */
class BlobCacheTest {

    @TempDir
    Path dir;

    /** 400 KB of random bytes (incompressible): the base layer both releases share. */
    private final byte[] base = new byte[400_000];
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final AtomicLong bodyBytes = new AtomicLong();
    /** Bytes after which the next blob transfer drops its connection; 0: none. */
    private final AtomicInteger dropNextBlobAfter = new AtomicInteger();
    /** Blobs the server answers with other bytes (a tampered mirror). */
    private final Map<String, byte[]> tampered = new ConcurrentHashMap<>();
    private volatile boolean gzip = true;
    /** Whether the server offers deltas ({@code ?base=}), and whether it damages them. */
    private volatile boolean deltas = true;
    private volatile boolean tamperDelta;
    private HttpServer server;

    @BeforeEach
    void setUp() throws IOException {
        new Random(7).nextBytes(base);
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/api/v1/", this::serve);
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private Path cacheDir() {
        return dir.resolve("cache");
    }

    private Path servedDir() {
        return dir.resolve("served");
    }

    private ArtifactCache cache() {
        return new ArtifactCache(cacheDir(), "http://127.0.0.1:" + server.getAddress().getPort(), 0, Duration.ZERO);
    }

    /** Serves {@code served/<hex>} for {@code /api/v1/blobs/<digest>} and {@code /api/v1/artifacts/<digest>}, with ranges and gzip. */
    private void serve(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getPath();
        String query = exchange.getRequestURI().getRawQuery();
        String range = exchange.getRequestHeaders().getFirst("Range");
        boolean head = exchange.getRequestMethod().equals("HEAD");
        requests.add((head ? "HEAD " : "") + path + (query == null ? "" : "?" + query) + (range == null ? "" : " " + range));
        String digest = path.substring(path.lastIndexOf('/') + 1);
        Path file = servedDir().resolve(digest.substring(digest.indexOf(':') + 1));
        String base = query != null && query.startsWith("base=") ? query.substring("base=".length()) : null;
        Path baseFile = base == null ? null : servedDir().resolve(base.substring(base.indexOf(':') + 1));
        if (!Files.isRegularFile(file) || baseFile != null && (!deltas || !Files.isRegularFile(baseFile))) {
            exchange.sendResponseHeaders(404, -1);
            exchange.close();
            return;
        }
        byte[] body = tampered.getOrDefault(digest, Files.readAllBytes(file));
        if (baseFile != null) { // a delta, made as the orchestrator makes it
            Path delta = Files.createTempFile(dir, "delta", ".zst");
            dev.turnout.proto.image.LayerDelta.write(baseFile, file, delta);
            body = Files.readAllBytes(delta);
            if (tamperDelta) {
                body[body.length / 2] ^= 0x10;
            }
        }
        if (head) {
            exchange.getResponseHeaders().add("Content-Length", Integer.toString(body.length));
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
            return;
        }
        int from = range == null ? 0 : Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
        byte[] selected = java.util.Arrays.copyOfRange(body, from, body.length);
        boolean compress = gzip && baseFile == null && path.contains("/blobs/") && String.valueOf(exchange.getRequestHeaders().getFirst("Accept-Encoding")).contains("gzip");
        if (compress) {
            ByteArrayOutputStream z = new ByteArrayOutputStream();
            try (GZIPOutputStream out = new GZIPOutputStream(z)) {
                out.write(selected);
            }
            selected = z.toByteArray();
            exchange.getResponseHeaders().add("Content-Encoding", "gzip");
        }
        exchange.sendResponseHeaders(from > 0 ? 206 : 200, selected.length);
        int drop = path.contains("/blobs/") ? dropNextBlobAfter.getAndSet(0) : 0;
        OutputStream out = exchange.getResponseBody();
        if (drop > 0) {
            out.write(selected, 0, drop);
            out.flush();
            bodyBytes.addAndGet(drop);
            exchange.close(); // the connection drops mid-transfer
            return;
        }
        out.write(selected);
        bodyBytes.addAndGet(selected.length);
        out.close();
    }

    /** A release's image as the orchestrator stores it: the normalized archive, its blobs served, the signed artifact. */
    private ImageArtifact release(String version) throws Exception {
        return release(version, (version + "\n").repeat(2000).getBytes(StandardCharsets.UTF_8));
    }

    private ImageArtifact release(String version, byte[] appFile) throws Exception {
        byte[] app = TestImageArchives.layerTar(Map.of("www/version", appFile));
        byte[] baseLayer = TestImageArchives.layerTar(Map.of("base.bin", base));
        TestImageArchives.Built image = TestImageArchives.layered("linux/arm64", List.of(baseLayer, app), List.of("/bin/sh"));
        Path upload = TestImageArchives.write(TestImageArchives.ociLayout("web:" + version, image), dir.resolve("upload-" + version + ".tar"));
        ArchiveEntries entries = ArchiveEntries.read(upload);
        ImageArchive.Image parsed = ImageArchive.images(entries).get(0);
        Path normalized = dir.resolve("normalized-" + version + ".tar");
        try (OutputStream out = Files.newOutputStream(normalized)) {
            ImageArchive.writeSinglePlatform(upload, entries, parsed, out);
        }
        String digest = TestImageArchives.sha256(Files.readAllBytes(normalized));
        List<ArchiveBlobs.Part> parts = ArchiveBlobs.split(normalized, digest, servedDir());
        assertThat(parts).hasSize(7); // 2 layers, config, manifest, index.json, manifest.json, oci-layout
        Files.copy(normalized, servedDir().resolve(digest.substring(7)), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        ImageArtifact.Builder artifact = ImageArtifact.newBuilder().setPlatform("linux/arm64").setImageRef("web:" + version)
                .setArchiveDigest(digest).setSize(Files.size(normalized)).setUrl("/api/v1/artifacts/" + digest)
                .setImageId(parsed.configDigest()).setManifestDigest(parsed.manifestDigest()).addAllDiffIds(parsed.diffIds());
        parts.forEach(p -> artifact.addBlobs(Blob.newBuilder().setPath(p.path()).setDigest(p.digest()).setSize(p.size())));
        return artifact.build();
    }

    private static String baseDigest(ImageArtifact artifact) {
        return artifact.getBlobs(0).getDigest(); // the layer the archive holds first: the base
    }

    private List<String> blobRequests() {
        return requests.stream().filter(r -> r.startsWith("/api/v1/blobs/")).toList();
    }

    @Test
    void aDeviceThatHoldsTheBaseLayerFetchesOnlyWhatChanged() throws Exception {
        ImageArtifact v1 = release("1.0.0");
        ImageArtifact v2 = release("2.0.0");
        assertThat(baseDigest(v2)).isEqualTo(baseDigest(v1));
        ArtifactCache cache = cache();

        Path first = cache.fetch(v1);
        long firstBytes = bodyBytes.get();
        assertThat(TestImageArchives.sha256(Files.readAllBytes(first))).isEqualTo(v1.getArchiveDigest());
        assertThat(blobRequests()).hasSize(7).anyMatch(r -> r.contains(baseDigest(v1)));
        assertThat(requests).noneMatch(r -> r.startsWith("/api/v1/artifacts/"));
        assertThat(firstBytes).as("the first install moves about the compressed image").isLessThan(v1.getSize() * 105 / 100);

        requests.clear();
        bodyBytes.set(0);
        Path second = cache.fetch(v2);

        assertThat(TestImageArchives.sha256(Files.readAllBytes(second))).isEqualTo(v2.getArchiveDigest());
        assertThat(blobRequests()).as("the base layer and the unchanged oci-layout stay").hasSize(5)
                .noneMatch(r -> r.contains(baseDigest(v1)));
        assertThat(bodyBytes.get()).as("bytes of the second release, against a base of " + base.length)
                .isLessThan(20_000);
    }

    /** 300 KB of text (poorly compressible); the next version rewrites 1 % of it. */
    private static byte[][] appVersions() {
        Random random = new Random(16);
        byte[] v1 = new byte[300_000];
        for (int i = 0; i < v1.length; i++) {
            v1[i] = (byte) ('a' + random.nextInt(26));
        }
        byte[] v2 = v1.clone();
        for (int i = 100_000; i < 103_000; i++) {
            v2[i] = (byte) ('A' + random.nextInt(26));
        }
        return new byte[][] {v1, v2};
    }

    /** {@code next} as the orchestrator signs it: its app layer names the app layer of {@code previous} as delta base. */
    private static ImageArtifact withDeltaBase(ImageArtifact next, ImageArtifact previous) {
        return next.toBuilder().setBlobs(1, next.getBlobs(1).toBuilder().setDeltaBase(previous.getBlobs(1).getDigest())).build();
    }

    @Test
    void aLayerEditedByOnePercentMovesAsADeltaAgainstTheLayerHeld() throws Exception {
        byte[][] app = appVersions();
        ImageArtifact v1 = release("1.0.0", app[0]);
        ImageArtifact v2 = withDeltaBase(release("2.0.0", app[1]), v1);
        ArtifactCache cache = cache();
        cache.fetch(v1);
        requests.clear();
        bodyBytes.set(0);

        Path second = cache.fetch(v2);

        assertThat(TestImageArchives.sha256(Files.readAllBytes(second))).isEqualTo(v2.getArchiveDigest());
        String appLayer = v2.getBlobs(1).getDigest();
        assertThat(blobRequests()).contains("/api/v1/blobs/" + appLayer + "?base=" + v1.getBlobs(1).getDigest())
                .doesNotContain("/api/v1/blobs/" + appLayer);
        assertThat(bodyBytes.get()).as("the delta and the small files, against a layer of " + v2.getBlobs(1).getSize())
                .isLessThan(v2.getBlobs(1).getSize() / 10);
    }

    @Test
    void aTamperedDeltaIsRefusedAndTheWholeLayerFetchedInstead() throws Exception {
        byte[][] app = appVersions();
        ImageArtifact v1 = release("1.0.0", app[0]);
        ImageArtifact v2 = withDeltaBase(release("2.0.0", app[1]), v1);
        ArtifactCache cache = cache();
        cache.fetch(v1);
        assertThat(cache.takeFetchNote()).as("the first install: nothing was cached").startsWith("nothing of it was cached: fetched all 7 blobs");
        requests.clear();
        tamperDelta = true;

        Path second = cache.fetch(v2);
        assertThat(cache.takeFetchNote()).as("the status report says why the layer came whole")
                .startsWith("delta of blob " + v2.getBlobs(1).getDigest() + " refused (").endsWith("): fetched the whole blob");
        assertThat(cache.takeFetchNote()).as("taken once").isEmpty();

        assertThat(TestImageArchives.sha256(Files.readAllBytes(second))).isEqualTo(v2.getArchiveDigest());
        String appLayer = v2.getBlobs(1).getDigest();
        assertThat(blobRequests()).containsSubsequence("/api/v1/blobs/" + appLayer + "?base=" + v1.getBlobs(1).getDigest(),
                "/api/v1/blobs/" + appLayer);
        assertThat(cacheDir().resolve("blobs").resolve(appLayer.substring(7) + ".delta")).doesNotExist();
    }

    @Test
    void withoutADeltaOnOfferOrTheBaseHeldTheLayerComesWhole() throws Exception {
        byte[][] app = appVersions();
        ImageArtifact v1 = release("1.0.0", app[0]);
        ImageArtifact v2 = withDeltaBase(release("2.0.0", app[1]), v1);
        deltas = false; // the orchestrator found no delta worth sending: 404
        ArtifactCache cache = cache();
        cache.fetch(v1);

        assertThat(TestImageArchives.sha256(Files.readAllBytes(cache.fetch(v2)))).isEqualTo(v2.getArchiveDigest());
        assertThat(requests).contains("HEAD /api/v1/blobs/" + v2.getBlobs(1).getDigest() + "?base=" + v1.getBlobs(1).getDigest());

        requests.clear();
        deltas = true;
        ImageArtifact fresh = withDeltaBase(release("3.0.0", app[0]), v2);
        ArtifactCache other = new ArtifactCache(dir.resolve("other"), "http://127.0.0.1:" + server.getAddress().getPort(), 0,
                Duration.ZERO);
        other.fetch(fresh); // holds no base: asks for no delta
        assertThat(requests).noneMatch(r -> r.contains("?base="));
    }

    @Test
    void aDamagedCachedBlobIsDetectedRemovedAndFetchedAgain() throws Exception {
        ImageArtifact v1 = release("1.0.0");
        ImageArtifact v2 = release("2.0.0");
        ArtifactCache cache = cache();
        cache.fetch(v1);
        Path held = cacheDir().resolve("blobs").resolve(baseDigest(v1).substring(7));
        byte[] damaged = Files.readAllBytes(held);
        damaged[1000] ^= 1; // one bit rots on the SD card; same size
        Files.write(held, damaged);
        requests.clear();
        cache.takeFetchNote();

        Path second = cache.fetch(v2);
        assertThat(cache.takeFetchNote()).isEqualTo("held blob " + baseDigest(v1) + " was damaged (its bytes hash to "
                + TestImageArchives.sha256(damaged) + "): fetched it again");

        assertThat(TestImageArchives.sha256(Files.readAllBytes(second))).isEqualTo(v2.getArchiveDigest());
        assertThat(blobRequests()).anyMatch(r -> r.contains(baseDigest(v1)));
        assertThat(TestImageArchives.sha256(Files.readAllBytes(held))).isEqualTo(baseDigest(v1));
    }

    @Test
    void aTamperedBlobIsRefusedAndNothingIsCached() throws Exception {
        ImageArtifact v1 = release("1.0.0");
        byte[] evil = Files.readAllBytes(servedDir().resolve(baseDigest(v1).substring(7)));
        evil[5000] ^= 0x55;
        tampered.put(baseDigest(v1), evil);
        ArtifactCache cache = cache();

        assertThatThrownBy(() -> cache.fetch(v1)).isInstanceOf(UpdateFailure.class)
                .satisfies(e -> assertThat(((UpdateFailure) e).reason()).isEqualTo(Reason.DIGEST_MISMATCH))
                .hasMessageContaining("blob " + baseDigest(v1));
        assertThat(cache.isCached(v1)).isFalse();
        assertThat(cacheDir().resolve("blobs").resolve(baseDigest(v1).substring(7))).doesNotExist();
        assertThat(requests).as("a tampered blob is not a reason to fetch the archive whole").noneMatch(r -> r.startsWith("/api/v1/artifacts/"));
    }

    @Test
    void aBlobDownloadThatBreaksOffResumesWhereItStopped() throws Exception {
        gzip = false; // a range of the stored bytes, sent as they are
        ImageArtifact v1 = release("1.0.0");
        dropNextBlobAfter.set(150_000);

        Path file = cache().fetch(v1);

        assertThat(TestImageArchives.sha256(Files.readAllBytes(file))).isEqualTo(v1.getArchiveDigest());
        // resumed from what arrived: the 150,000 bytes sent, or fewer when the drop cut off some in flight (a busy machine)
        String resumed = "/api/v1/blobs/" + baseDigest(v1) + " bytes=";
        assertThat(blobRequests()).filteredOn(r -> r.startsWith(resumed)).singleElement()
                .satisfies(r -> assertThat(Long.parseLong(r.substring(resumed.length(), r.length() - 1))).isBetween(1L, 150_000L));
    }

    @Test
    void aResumedCompressedDownloadCountsTheStoredBytes() throws Exception {
        ImageArtifact v1 = release("1.0.0");
        Path part = cacheDir().resolve("blobs").resolve(baseDigest(v1).substring(7) + ".part");
        Files.createDirectories(part.getParent());
        Files.write(part, java.util.Arrays.copyOf(Files.readAllBytes(servedDir().resolve(baseDigest(v1).substring(7))), 100_000));

        Path file = cache().fetch(v1);

        assertThat(TestImageArchives.sha256(Files.readAllBytes(file))).isEqualTo(v1.getArchiveDigest());
        assertThat(blobRequests()).contains("/api/v1/blobs/" + baseDigest(v1) + " bytes=100000-");
    }

    @Test
    void theReleaseToRollBackToIsRebuiltWithoutTheNetwork() throws Exception {
        ImageArtifact v1 = release("1.0.0");
        ImageArtifact v2 = release("2.0.0");
        ImageArtifact v3 = release("3.0.0");
        ArtifactCache cache = cache();
        cache.fetch(v1);
        cache.fetch(v2);
        cache.retainOnly(List.of(v2.getArchiveDigest(), v1.getArchiveDigest())); // running 2.0.0, previous 1.0.0
        Files.delete(cacheDir().resolve(v1.getArchiveDigest().replace(':', '-') + ".tar")); // as if the archive were lost
        server.stop(0); // the orchestrator is unreachable

        Path rollback = cache.fetch(v1);

        assertThat(TestImageArchives.sha256(Files.readAllBytes(rollback))).isEqualTo(v1.getArchiveDigest());
        cache.retainOnly(List.of(v2.getArchiveDigest())); // 1.0.0 is no longer the previous release
        assertThat(cacheDir().resolve(v1.getArchiveDigest().replace(':', '-') + ".tar")).doesNotExist();
        String v1App = v1.getBlobs(1).getDigest();
        assertThat(cacheDir().resolve("blobs").resolve(v1App.substring(7))).as("only 1.0.0 had this app layer").doesNotExist();
        assertThat(cacheDir().resolve("blobs").resolve(baseDigest(v1).substring(7))).as("2.0.0 has the base").exists();
        assertThatThrownBy(() -> cache.fetch(v3)).isInstanceOf(UpdateFailure.class)
                .satisfies(e -> assertThat(((UpdateFailure) e).reason()).isEqualTo(Reason.DOWNLOAD_FAILED));
    }

    @Test
    void anArchiveThatCameWholeLendsItsBlobsToTheNextRelease() throws Exception {
        ImageArtifact v1 = release("1.0.0");
        ImageArtifact v2 = release("2.0.0");
        ArtifactCache cache = cache();
        Path archive = servedDir().resolve(v1.getArchiveDigest().substring(7));
        try (var in = Files.newInputStream(archive)) {
            cache.importArchive(v1, in, Files.size(archive)); // an offline bundle
        }
        cache.fetch(v1);
        requests.clear();

        cache.fetch(v2);

        assertThat(blobRequests()).hasSize(5).noneMatch(r -> r.contains(baseDigest(v1)));
    }

    @Test
    void aReleaseWithoutABlobListIsDownloadedWhole() throws Exception {
        ImageArtifact v1 = release("1.0.0").toBuilder().clearBlobs().build();

        Path file = cache().fetch(v1);

        assertThat(TestImageArchives.sha256(Files.readAllBytes(file))).isEqualTo(v1.getArchiveDigest());
        assertThat(requests).containsExactly("/api/v1/artifacts/" + v1.getArchiveDigest());
    }

    @Test
    void aBlobListNamingAPathOutsideTheLayoutIsRefused() throws Exception {
        ImageArtifact v1 = release("1.0.0");
        ImageArtifact evil = v1.toBuilder().setBlobs(0, v1.getBlobs(0).toBuilder().setPath("../../etc/passwd")).build();

        assertThatThrownBy(() -> cache().fetch(evil)).isInstanceOf(UpdateFailure.class)
                .satisfies(e -> assertThat(((UpdateFailure) e).reason()).isEqualTo(Reason.MALFORMED));
        assertThat(requests).isEmpty();
    }
}
