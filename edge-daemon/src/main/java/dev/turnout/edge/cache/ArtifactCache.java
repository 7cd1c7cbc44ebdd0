package dev.turnout.edge.cache;

import dev.turnout.edge.domain.DiskFull;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.store.AtomicFiles;
import dev.turnout.edge.tls.TlsRefused;
import dev.turnout.edge.transfer.DownloadPace;
import dev.turnout.proto.Blob;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.turnout.proto.image.ArchiveBlobs;
import dev.turnout.proto.image.LayerDelta;
import dev.turnout.proto.tls.PinnedTrust;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.zip.GZIPInputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.HexFormat;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Content-addressed cache of image archives under {@code {data}/cache}: {@code sha256-<hex>.tar} once
 * verified, {@code sha256-<hex>.part} while downloading (resumed with a Range request).
 *
 * <p>An archive whose release lists its blobs ({@link ImageArtifact#getBlobsList()}: layers, config, manifest) is not
 * downloaded whole: each blob is kept under {@code blobs/<hex>}, shared by every release that has it, and only the
 * blobs not held yet are fetched ({@code GET /api/v1/blobs/<digest>}, zstd or gzip on the wire; a changed layer as a
 * binary delta against the layer it replaces when the device holds that, {@link #fetchDelta}), each through the one
 * {@link #download} routine and checked against its signed digest (of the stored, uncompressed bytes) before use. The
 * archive is then written from the blobs ({@link ArchiveBlobs#join}), checked against the signed archive digest, and
 * loaded as any other. {@code sha256-<hex>.blobs} lists the blobs of a cached archive, so retention keeps exactly the
 * blobs of the archives it keeps.
 */
public final class ArtifactCache implements ArtifactSource {

    private static final Logger log = LoggerFactory.getLogger(ArtifactCache.class);
    /** Suffix of the marker that keeps an imported archive until a desired state has used it. */
    private static final String IMPORTED = ".imported";
    /** Suffix of the list of blobs an archive was written from (one digest a line). */
    private static final String BLOB_INDEX = ".blobs";
    private static final int ATTEMPTS = 3;
    /** The longest wait between two download attempts unless {@link #backingOffAtMost} says otherwise. */
    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(15);
    /** How long one read of a download may wait without a byte before the transfer is given up ({@link SilentLinkGuard}). */
    public static final Duration DEFAULT_SILENT_LINK_LIMIT = Duration.ofSeconds(60);
    /** Free space left over after a download, so the device keeps breathing. */
    private static final long RESERVE_BYTES = 16L * 1024 * 1024;

    private final Path dir;
    private final URI baseUrl;
    /** Built on first download: an idle device keeps no client, selector thread or loaded trust store. */
    private HttpClient http;
    /** As {@link #http}, for {@code http://} downloads: no TLS stack at all. */
    private HttpClient plainHttp;
    private final PinnedTrust trust;
    private final long reserveBytes;
    private final Duration retryDelay;
    private volatile Duration retryWindow = Duration.ZERO;
    private volatile Duration maxBackoff = DEFAULT_MAX_BACKOFF;
    private volatile Duration silentLinkLimit = DEFAULT_SILENT_LINK_LIMIT;
    /** Null: an unreachable orchestrator counts against the retry window like any failure; else when to stop waiting for it. */
    private volatile BooleanSupplier stopWaitingWhen;
    private final FreeSpace freeSpace;
    private volatile String authorization;
    private volatile DownloadPace pace = new DownloadPace(0);
    /**
     * Bytes of the archive being fetched the device already holds before the current download (blobs held or fetched
     * before it): where its progress starts. 0 for a whole archive. The worker's thread only.
     */
    private long progressBase;
    /** Why recent fetches fell back ({@link #takeFetchNote}); written by the fetching thread, taken by the engine's. */
    private final List<String> fetchNotes = new ArrayList<>();

    public ArtifactCache(Path dir, String orchestratorUrl) {
        this(dir, orchestratorUrl, RESERVE_BYTES, Duration.ofSeconds(2));
    }

    /**
     * @param trust for an {@code https://} orchestrator: the CA(s) its certificate must chain to (pinned); null: the
     *              system trust store. The host name is verified either way.
     */
    public ArtifactCache(Path dir, String orchestratorUrl, PinnedTrust trust) {
        this(dir, orchestratorUrl, RESERVE_BYTES, Duration.ofSeconds(2), FreeSpace.FILE_STORE, trust);
    }

    public ArtifactCache(Path dir, String orchestratorUrl, long reserveBytes, Duration retryDelay) {
        this(dir, orchestratorUrl, reserveBytes, retryDelay, FreeSpace.FILE_STORE);
    }

    /**
     * @param reserveBytes free space that must remain after an archive is written (the device keeps breathing)
     * @param retryDelay first back-off between download attempts (grows linearly)
     * @param freeSpace where usable disk space is read from
     */
    public ArtifactCache(Path dir, String orchestratorUrl, long reserveBytes, Duration retryDelay, FreeSpace freeSpace) {
        this(dir, orchestratorUrl, reserveBytes, retryDelay, freeSpace, null);
    }

    /** As above, trusting exactly {@code trust} (null: the system trust store) for {@code https://} downloads. */
    public ArtifactCache(Path dir, String orchestratorUrl, long reserveBytes, Duration retryDelay, FreeSpace freeSpace,
                         PinnedTrust trust) {
        this.freeSpace = freeSpace;
        this.dir = dir;
        this.baseUrl = orchestratorUrl == null || orchestratorUrl.isBlank() ? null : URI.create(orchestratorUrl.endsWith("/") ? orchestratorUrl : orchestratorUrl + "/");
        this.trust = trust;
        this.reserveBytes = reserveBytes;
        this.retryDelay = retryDelay;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The client for {@code uri}. A plain {@code http://} download gets a client without TLS: the JDK's default
     * context would load the system trust store and the TLS stack for the daemon's whole life. Should a plain
     * download be redirected to {@code https://}, {@link #download} retries it with the TLS client.
     */
    private synchronized HttpClient http(URI uri) {
        if ("http".equalsIgnoreCase(uri.getScheme())) {
            if (plainHttp == null) {
                plainHttp = TlsRefused.plainHttp(builder(), "plain HTTP download").build();
            }
            return plainHttp;
        }
        if (http == null) {
            HttpClient.Builder client = builder();
            if (trust != null) {
                client.sslContext(trust.sslContext("orchestrator"));
            }
            http = client.build();
        }
        return http;
    }

    private static HttpClient.Builder builder() {
        return HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).followRedirects(HttpClient.Redirect.NORMAL);
    }

    private HttpResponse<InputStream> send(URI uri, HttpRequest request) throws IOException, InterruptedException {
        HttpClient client = http(uri);
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            if (client != plainHttp || !TlsRefused.isRefusal(e)) {
                throw e;
            }
            // redirected from http:// to https://: again with the TLS client, which follows the redirect itself
            return http(URI.create("https://" + uri.getRawAuthority())).send(request, HttpResponse.BodyHandlers.ofInputStream());
        }
    }

    /**
     * Downloads from the orchestrator with HTTP Basic: the device id and its broker secret (from its
     * enrollment). Sent only to the orchestrator's own scheme, host and port, never to another host an
     * artifact URL might name. Null or blank: no credentials.
     */
    public ArtifactCache useCredentials(String username, String password) {
        this.authorization = username == null || username.isBlank() || password == null ? null
                : "Basic " + java.util.Base64.getEncoder().encodeToString((username + ":" + password)
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return this;
    }

    /** Downloads at {@code pace}: its rate limit, its progress counts (default: no limit, nobody told). */
    public ArtifactCache pacedBy(DownloadPace pace) {
        this.pace = pace;
        return this;
    }

    private boolean sameOrigin(URI uri) {
        return baseUrl != null && java.util.Objects.equals(uri.getScheme(), baseUrl.getScheme())
                && java.util.Objects.equals(uri.getHost(), baseUrl.getHost()) && uri.getPort() == baseUrl.getPort();
    }

    /** The longest fetch note handed out (StatusEvent.fetch_note). */
    static final int MAX_NOTE_CHARS = 1024;

    @Override
    public String takeFetchNote() {
        synchronized (fetchNotes) {
            String note = String.join("; ", fetchNotes);
            fetchNotes.clear();
            return note.length() <= MAX_NOTE_CHARS ? note : note.substring(0, MAX_NOTE_CHARS - 1) + "…";
        }
    }

    private void note(String why) {
        synchronized (fetchNotes) {
            fetchNotes.add(why);
        }
    }

    @Override
    public boolean isCached(ImageArtifact artifact) {
        try {
            Path file = finalFile(artifact);
            return Files.isRegularFile(file) && Files.size(file) == artifact.getSize();
        } catch (UpdateFailure | IOException e) {
            return false;
        }
    }

    @Override
    public boolean hasRoomFor(ImageArtifact artifact) {
        if (isCached(artifact)) {
            return true;
        }
        try {
            Path part = dir.resolve(baseName(artifact) + ".part");
            long have = Files.exists(part) ? Math.min(Files.size(part), artifact.getSize()) : 0;
            return freeSpace.usableBytes(dir) >= artifact.getSize() - have + reserveBytes;
        } catch (UpdateFailure | IOException e) {
            return false;
        }
    }

    @Override
    public Path fetch(ImageArtifact artifact) throws UpdateFailure {
        Path done = finalFile(artifact);
        if (isCached(artifact)) {
            try {
                Files.deleteIfExists(importMarker(artifact)); // referenced now: ordinary retention from here on
            } catch (IOException e) {
                log.debug("cannot remove import marker: {}", e.getMessage());
            }
            if (artifact.getBlobsCount() > 0 && !Files.exists(blobIndex(artifact))) {
                keepBlobsOf(artifact, done); // came whole (an offline bundle): its blobs serve the next release
            }
            return done;
        }
        if (artifact.getSize() <= 0) {
            throw new UpdateFailure(Reason.MALFORMED, "artifact has no size");
        }
        if (artifact.getBlobsCount() > 0) {
            List<ArchiveBlobs.Part> parts = parts(artifact);
            try {
                return assemble(artifact, parts, done);
            } catch (UpdateFailure e) {
                if (e.reason() != Reason.DIGEST_MISMATCH || !e.getMessage().startsWith("archive ")) {
                    throw e;
                }
                // every blob matched its digest, yet the archive written from them did not: fetch it whole instead
                log.warn("{}: the archive written from its blobs does not match, downloading it whole", artifact.getArchiveDigest());
                note("the archive written from its blobs did not match its digest: downloaded it whole");
            }
        } else {
            note("the release lists no blobs: downloaded the whole archive");
        }
        Path part = dir.resolve(baseName(artifact) + ".part");
        fetchVerified(artifact.getUrl(), artifact.getSize(), artifact.getArchiveDigest(), "archive", part, done);
        log.info("cached {} ({} bytes)", artifact.getArchiveDigest(), artifact.getSize());
        return done;
    }

    /**
     * Downloads {@code url} into {@code part} (resuming it), checks {@code size} and {@code digest}, and moves it to
     * {@code done}; retries a transient failure. {@code what} names the file in errors ("archive", "blob sha256:…").
     */
    private void fetchVerified(String url, long size, String digest, String what, Path part, Path done) throws UpdateFailure {
        long firstFailure = 0;
        int failures = 0;
        for (int attempt = 1; ; attempt++) {
            try {
                checkDigest(what, digest, part, download(url, size, what, part));
                Files.move(part, done, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                return;
            } catch (UpdateFailure e) {
                if (!e.isTransient()) {
                    throw e;
                }
                BooleanSupplier waitingOut = stopWaitingWhen;
                if (waitingOut != null && unreachable(e)) {
                    // the network or the orchestrator is away (a partition, a restart): no answer proves the release
                    // bad, so the device waits for it, backing off, however long that takes; the window counts
                    // only the failures of an orchestrator that answers. A newer desired state ends the wait.
                    firstFailure = 0;
                    failures = 0;
                    boolean superseded = waitingOut.getAsBoolean();
                    log.warn("download attempt {} of {} failed{}: {}", attempt, digest, superseded
                            ? ", giving up: a newer desired state waits" : ", the orchestrator is unreachable: trying again", e.getMessage());
                    if (superseded) {
                        throw new UpdateFailure.Superseded(e.getMessage() + "; given up for a newer desired state", e);
                    }
                    backOff(attempt);
                    continue;
                }
                if (firstFailure == 0) {
                    firstFailure = System.nanoTime();
                }
                failures++;
                // at least ATTEMPTS attempts, and on for the retry window: an orchestrator that restarts (or a network
                // that comes back) within it costs a delay, not a failed device that rolls a whole rollout back
                boolean spent = failures >= ATTEMPTS && (retryDelay.isZero() || System.nanoTime() - firstFailure >= retryWindow.toNanos());
                log.warn("download attempt {} of {} failed{}: {}", attempt, digest, spent ? ", giving up" : "", e.getMessage());
                if (spent) {
                    throw e;
                }
                backOff(attempt);
            } catch (IOException e) {
                throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "cannot write the cache: " + e.getMessage(), true, e);
            }
        }
    }

    /**
     * A failure to reach the orchestrator or to keep the connection (refused, reset, timed out, broken off), not an
     * answer. A certificate refused or a server that does not talk TLS did answer: a configuration to fix, not a
     * network to wait for; those count against the retry window and fail the update with the reason.
     */
    private static boolean unreachable(UpdateFailure e) {
        if (e.reason() != Reason.DOWNLOAD_FAILED || !(e.getCause() instanceof IOException cause)) {
            return false;
        }
        String tls = PinnedTrust.explain(cause);
        return tls == null || !(tls.contains("certificate") || tls.startsWith("the server does not talk TLS"));
    }

    /**
     * Keeps retrying a download that fails for a transient reason (connection refused or reset, a 5xx answer) for
     * {@code window} after its first failure (and at least three attempts), backing off {@code retryDelay} times the
     * attempt, at most {@link #backingOffAtMost}. Default: zero, three attempts.
     */
    public ArtifactCache retryingFor(Duration window) {
        this.retryWindow = window;
        return this;
    }

    /**
     * Gives a download up when one read has waited {@code limit} without a byte (default {@link #DEFAULT_SILENT_LINK_LIMIT}):
     * it is tried again as a broken transfer, from where it stopped. Must be positive.
     */
    public ArtifactCache givingUpSilentLinksAfter(Duration limit) {
        if (limit.isNegative() || limit.isZero()) {
            throw new IllegalArgumentException("the silent-link limit must be positive");
        }
        this.silentLinkLimit = limit;
        return this;
    }

    /** The longest wait between two download attempts (default {@link #DEFAULT_MAX_BACKOFF}); must be positive. */
    public ArtifactCache backingOffAtMost(Duration longest) {
        if (longest.isNegative() || longest.isZero()) {
            throw new IllegalArgumentException("the longest back-off must be positive");
        }
        this.maxBackoff = longest;
        return this;
    }

    /**
     * While the orchestrator cannot be reached at all (connection refused, reset or timed out, a transfer broken
     * off), the download is tried again without end, backing off, instead of within the retry window: a device cut
     * off for half an hour finishes its download when the network heals. {@code stopWhen} ends the wait (a newer
     * desired state is waiting): the download then fails, DOWNLOAD_FAILED. Closing the daemon interrupts it too.
     */
    public ArtifactCache waitingOutUnreachable(BooleanSupplier stopWhen) {
        this.stopWaitingWhen = stopWhen;
        return this;
    }

    /** The signed blob list as archive parts; a list a device must not write (a path outside the layout) is MALFORMED. */
    private static List<ArchiveBlobs.Part> parts(ImageArtifact artifact) throws UpdateFailure {
        List<ArchiveBlobs.Part> parts = new ArrayList<>();
        long total = 0;
        for (Blob blob : artifact.getBlobsList()) {
            try {
                parts.add(new ArchiveBlobs.Part(blob.getPath(), blob.getDigest(), blob.getSize()));
            } catch (IllegalArgumentException e) {
                throw new UpdateFailure(Reason.MALFORMED, "the release's blob list is unusable: " + e.getMessage());
            }
            total += blob.getSize();
        }
        if (total > artifact.getSize()) {
            throw new UpdateFailure(Reason.MALFORMED, "the release's blobs add up to " + total + " bytes, more than the archive's "
                    + artifact.getSize());
        }
        return parts;
    }

    /**
     * Writes the archive of {@code artifact} from its blobs: those held are checked against their signed digests (a
     * damaged one is removed and fetched again), the missing ones fetched. The archive is checked against its signed
     * digest before it counts as cached.
     */
    private Path assemble(ImageArtifact artifact, List<ArchiveBlobs.Part> parts, Path done) throws UpdateFailure {
        int fetched = 0;
        int deltas = 0;
        long fetchedBytes = 0;
        long heldBytes = 0;
        Set<String> seen = new HashSet<>();
        try {
            Files.createDirectories(blobDir());
            for (ArchiveBlobs.Part p : parts) {
                if (!seen.add(p.digest())) {
                    continue;
                }
                Path blob = blobFile(p.digest());
                if (Files.isRegularFile(blob)) {
                    String damage = damage(p, blob);
                    if (damage == null) {
                        heldBytes += p.size();
                        continue;
                    }
                    log.warn("cached blob {} is damaged ({}): removed, fetching it again", p.digest(), damage);
                    note("held blob " + p.digest() + " was damaged (" + damage + "): fetched it again");
                    Files.delete(blob);
                }
                Path part = blobDir().resolve(hex(p.digest()) + ".part");
                progressBase = heldBytes + fetchedBytes; // progress counts what the device holds of the archive
                try {
                    String base = deltaBase(artifact, p.digest());
                    if (base != null && fetchDelta(artifact, p, base, part, blob)) {
                        deltas++;
                    } else {
                        fetchVerified(blobUrl(artifact, p.digest()), p.size(), p.digest(), "blob " + p.digest(), part, blob);
                    }
                } finally {
                    progressBase = 0;
                }
                fetched++;
                fetchedBytes += p.size();
            }
            Path part = dir.resolve(baseName(artifact) + ".part");
            requireSpace(artifact.getSize(), part);
            MessageDigest sha = sha256();
            try (OutputStream out = new java.security.DigestOutputStream(new java.io.BufferedOutputStream(
                    Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                            StandardOpenOption.WRITE), 64 * 1024), sha)) {
                ArchiveBlobs.join(parts, p -> Files.newInputStream(blobFile(p.digest())), new CappedOutput(out, artifact.getSize()));
            }
            checkDigest("archive", artifact.getArchiveDigest(), part, sha);
            AtomicFiles.write(blobIndex(artifact), String.join("\n", seen).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            Files.move(part, done, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "cannot write the cache: " + e.getMessage(), true, e);
        }
        if (heldBytes == 0 && fetched > 0) {
            note("nothing of it was cached: fetched all " + fetched + " blobs (" + fetchedBytes + " bytes)");
        }
        log.info("cached {} ({} bytes) from {} blobs: {} fetched ({} bytes, {} of them as deltas), {} bytes held already",
                artifact.getArchiveDigest(), artifact.getSize(), seen.size(), fetched, fetchedBytes, deltas, heldBytes);
        return done;
    }

    /** The layer the release names as {@code digest}'s delta base, when this device holds it intact; else null. */
    private String deltaBase(ImageArtifact artifact, String digest) {
        for (Blob blob : artifact.getBlobsList()) {
            if (blob.getDigest().equals(digest) && blob.getDeltaBase().matches("sha256:[0-9a-f]{64}")) {
                Path base = blobFile(blob.getDeltaBase());
                try {
                    if (Files.isRegularFile(base)
                            && blob.getDeltaBase().equals("sha256:" + HexFormat.of().formatHex(digestOf(base).digest()))) {
                        return blob.getDeltaBase();
                    }
                } catch (IOException e) {
                    log.debug("cannot read the delta base {}: {}", blob.getDeltaBase(), e.getMessage());
                }
                return null;
            }
        }
        return null;
    }

    /**
     * Fetches blob {@code p} as a binary delta against the held layer {@code base} ({@code GET …/blobs/<digest>?base=}),
     * applies it and checks the result against the signed digest and size before it becomes {@code blob}. False when
     * the orchestrator has no delta to offer, or the delta failed, could not be applied or made other bytes (then it is
     * removed, the device says so in its log, and the caller fetches the blob whole).
     */
    private boolean fetchDelta(ImageArtifact artifact, ArchiveBlobs.Part p, String base, Path part, Path blob) throws UpdateFailure {
        String url = blobUrl(artifact, p.digest()) + "?base=" + base;
        Path delta = blobDir().resolve(hex(p.digest()) + ".delta");
        try {
            long length = deltaLength(url);
            if (length <= 0 || length >= p.size()) {
                return false;
            }
            for (int attempt = 1; ; attempt++) { // paced, counted and resumed (Range) as any download
                try {
                    download(url, length, "delta of blob " + p.digest(), delta);
                    break;
                } catch (UpdateFailure e) {
                    if (!e.isTransient() || attempt >= ATTEMPTS) {
                        throw e;
                    }
                    log.warn("download attempt {} of the delta of {} failed: {}", attempt, p.digest(), e.getMessage());
                    backOff(attempt);
                }
            }
            long started = System.nanoTime();
            MessageDigest sha = sha256();
            try (InputStream in = new java.io.BufferedInputStream(Files.newInputStream(delta), 64 * 1024);
                 OutputStream out = new java.security.DigestOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(part,
                         StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE), 64 * 1024), sha)) {
                long made = LayerDelta.apply(blobFile(base), in, out, p.size());
                if (made != p.size()) {
                    throw new IOException("the delta made " + made + " bytes, the release signs " + p.size());
                }
            }
            checkDigest("blob " + p.digest() + " made from a delta", p.digest(), part, sha);
            Files.move(part, blob, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            log.info("blob {} made from a {}-byte delta against {} ({} bytes whole) in {} ms", p.digest(), length, base, p.size(),
                    (System.nanoTime() - started) / 1_000_000);
            return true;
        } catch (UpdateFailure e) {
            if (e.reason() == Reason.INTERRUPTED || e.reason() == Reason.DISK_FULL) {
                throw e;
            }
            log.warn("delta of blob {} against {} refused ({}): fetching the whole blob", p.digest(), base, e.getMessage());
            note("delta of blob " + p.digest() + " refused (" + e.getMessage() + "): fetched the whole blob");
            return false;
        } catch (IOException e) {
            log.warn("delta of blob {} against {} refused ({}): fetching the whole blob", p.digest(), base, e.getMessage());
            note("delta of blob " + p.digest() + " refused (" + e.getMessage() + "): fetched the whole blob");
            return false;
        } finally {
            try {
                Files.deleteIfExists(delta);
                Files.deleteIfExists(part);
            } catch (IOException e) {
                log.debug("cannot remove {}: {}", delta, e.getMessage());
            }
        }
    }

    /** The length of the delta at {@code url} (HEAD: the orchestrator makes it now if it never did); 0: none offered. */
    private long deltaLength(String url) throws UpdateFailure {
        URI uri = resolve(url);
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(5))
                .method("HEAD", HttpRequest.BodyPublishers.noBody());
        String credentials = authorization;
        if (credentials != null && sameOrigin(uri)) {
            request.header("Authorization", credentials);
        }
        try {
            HttpResponse<InputStream> response = send(uri, request.build());
            response.body().close();
            if (response.statusCode() != 200) {
                log.debug("no delta at {}: {}", uri, response.statusCode());
                return 0;
            }
            return response.headers().firstValueAsLong("Content-Length").orElse(0);
        } catch (IOException e) {
            log.debug("no delta at {}: {}", uri, e.getMessage());
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpdateFailure(Reason.INTERRUPTED, "download interrupted");
        }
    }

    /** Keeps the blobs of a cached archive that came whole, so that a later release fetches only what differs. */
    private void keepBlobsOf(ImageArtifact artifact, Path archive) {
        try {
            List<ArchiveBlobs.Part> parts = ArchiveBlobs.split(archive, artifact.getArchiveDigest(), blobDir());
            if (!parts.isEmpty() && sameBlobs(parts, artifact)) {
                AtomicFiles.write(blobIndex(artifact), String.join("\n", parts.stream().map(ArchiveBlobs.Part::digest)
                        .collect(Collectors.toCollection(java.util.LinkedHashSet::new))).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                log.info("kept the {} blobs of {} for later releases", parts.size(), artifact.getArchiveDigest());
            }
        } catch (IOException | UpdateFailure e) {
            log.warn("cannot keep the blobs of {}: {}", artifact.getArchiveDigest(), e.getMessage());
        }
    }

    private static boolean sameBlobs(List<ArchiveBlobs.Part> parts, ImageArtifact artifact) {
        return parts.stream().map(ArchiveBlobs.Part::digest).toList()
                .equals(artifact.getBlobsList().stream().map(Blob::getDigest).toList());
    }

    /** Why the held {@code blob} cannot be used as {@code part} (its size or digest differ); null when it can. */
    private static String damage(ArchiveBlobs.Part part, Path blob) throws IOException {
        long size = Files.size(blob);
        if (size != part.size()) {
            return size + " bytes, the release signs " + part.size();
        }
        String actual = "sha256:" + HexFormat.of().formatHex(digestOf(blob).digest());
        return actual.equals(part.digest()) ? null : "its bytes hash to " + actual;
    }

    /** Blobs are fetched from beside the archive: {@code …/artifacts/<archive>} → {@code …/blobs/<blob>}. */
    private String blobUrl(ImageArtifact artifact, String digest) throws UpdateFailure {
        return resolve(artifact.getUrl()).resolve("../blobs/" + digest).toString();
    }

    private Path blobDir() {
        return dir.resolve("blobs");
    }

    private Path blobFile(String digest) {
        return blobDir().resolve(hex(digest));
    }

    private static String hex(String digest) {
        return digest.substring(digest.indexOf(':') + 1);
    }

    private Path blobIndex(ImageArtifact artifact) throws UpdateFailure {
        return dir.resolve(baseName(artifact) + BLOB_INDEX);
    }

    private void backOff(int attempt) throws UpdateFailure {
        if (retryDelay.isZero()) {
            return;
        }
        try {
            // the server or the network may come back
            Thread.sleep(Math.min(retryDelay.multipliedBy(attempt).toMillis(), maxBackoff.toMillis()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpdateFailure(Reason.INTERRUPTED, "download interrupted");
        }
    }

    @Override
    public void discard(ImageArtifact artifact) {
        try {
            Files.deleteIfExists(finalFile(artifact));
            Files.deleteIfExists(importMarker(artifact));
            Files.deleteIfExists(blobIndex(artifact));
        } catch (UpdateFailure | IOException e) {
            log.warn("cannot remove cached {}: {}", artifact.getArchiveDigest(), e.getMessage());
        }
    }

    @Override
    public void retainOnly(Collection<String> keepDigests) {
        Set<String> keep = keepDigests.stream().map(d -> d.replace(':', '-')).collect(Collectors.toSet());
        try (DirectoryStream<Path> markers = Files.newDirectoryStream(dir, "sha256-*" + IMPORTED)) {
            for (Path marker : markers) { // imported from local media and not yet used: the reason it was imported is still ahead
                String name = marker.getFileName().toString();
                keep.add(name.substring(0, name.length() - IMPORTED.length()));
            }
        } catch (IOException e) {
            log.warn("cache clean-up failed: {}", e.getMessage());
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "sha256-*")) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (name.endsWith(".importing")) {
                    continue; // a `cache import` running next to the daemon
                }
                String base = name.substring(0, name.indexOf('.') < 0 ? name.length() : name.indexOf('.'));
                if (!keep.contains(base)) {
                    Files.deleteIfExists(file);
                    log.info("removed cached archive {}", name);
                }
            }
        } catch (IOException e) {
            log.warn("cache clean-up failed: {}", e.getMessage());
            return;
        }
        retainBlobs();
    }

    /** Deletes every blob (and unfinished blob download) that no kept archive lists. */
    private void retainBlobs() {
        if (!Files.isDirectory(blobDir())) {
            return;
        }
        Set<String> keep = new HashSet<>();
        try (DirectoryStream<Path> indexes = Files.newDirectoryStream(dir, "sha256-*" + BLOB_INDEX)) {
            for (Path index : indexes) {
                for (String digest : Files.readAllLines(index)) {
                    if (!digest.isBlank()) {
                        keep.add(hex(digest.trim()));
                    }
                }
            }
        } catch (IOException e) {
            log.warn("blob clean-up failed: {}", e.getMessage());
            return;
        }
        long freed = 0;
        int removed = 0;
        try (DirectoryStream<Path> blobs = Files.newDirectoryStream(blobDir())) {
            for (Path blob : blobs) {
                if (!keep.contains(blob.getFileName().toString())) {
                    freed += Files.size(blob);
                    Files.deleteIfExists(blob);
                    removed++;
                }
            }
        } catch (IOException e) {
            log.warn("blob clean-up failed: {}", e.getMessage());
        }
        if (removed > 0) {
            log.info("removed {} cached blobs ({} bytes) no kept release needs", removed, freed);
        }
    }

    /**
     * Completes {@code part} and returns its SHA-256, taken while the bytes are written: the archive is not read a
     * second time, and on a slow network the digest costs nothing (a Pi's CPU hashes while it waits for bytes).
     */
    private MessageDigest download(String url, long size, String what, Path part) throws UpdateFailure, IOException {
        long have = Files.exists(part) ? Files.size(part) : 0;
        if (have > size) {
            Files.delete(part);
            have = 0;
        }
        requireSpace(size - have, part);
        if (have == size) {
            return digestOf(part);
        }
        URI uri = resolve(url);
        // zstd (or gzip) on the wire where the server offers it; a Range counts the stored (uncompressed) bytes either way
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10)).GET()
                .header("Accept-Encoding", "zstd, gzip");
        if (have > 0) {
            request.header("Range", "bytes=" + have + "-");
        }
        String credentials = authorization;
        if (credentials != null && sameOrigin(uri)) {
            request.header("Authorization", credentials);
        }
        HttpResponse<InputStream> response;
        try {
            HttpRequest built = request.build();
            response = DownloadQueue.sendWhenServed(() -> send(uri, built)); // 503 + Retry-After: wait in line, not a failure
        } catch (IOException e) {
            String tls = PinnedTrust.explain(e);
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "GET " + uri + " failed: " + (tls != null ? tls : e.getMessage()), true, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpdateFailure(Reason.INTERRUPTED, "download interrupted");
        }
        boolean append = response.statusCode() == 206 && have > 0;
        if (response.statusCode() == 401 || response.statusCode() == 403) {
            String why = readError(response);
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, response.statusCode() == 401
                    ? "the orchestrator refused this device's credentials (401" + why + "): the device was revoked or its"
                        + " mqttUsername/mqttPassword are wrong; enroll it again and install the new config"
                    : "the orchestrator refused the download (403" + why + "): " + uri.getPath()
                        + " is not in this device's desired state");
        }
        if (response.statusCode() != 200 && !append) {
            response.body().close();
            boolean retry = response.statusCode() >= 500 || response.statusCode() == 429;
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "GET " + uri + " answered " + response.statusCode(), retry, null);
        }
        long written = append ? have : 0;
        MessageDigest sha = append ? digestOf(part) : sha256(); // a resumed download: the bytes already there first
        boolean tooLong = false;
        String encoding = response.headers().firstValue("Content-Encoding").orElse("identity").trim();
        if (!encoding.equalsIgnoreCase("gzip") && !encoding.equalsIgnoreCase("zstd") && !encoding.equalsIgnoreCase("identity")) {
            response.body().close();
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "GET " + uri + " answered in the unknown encoding '" + encoding + "'");
        }
        // paced and counted on the wire (what crosses the network), then inflated to the stored bytes that are hashed
        InputStream wire = pace.wrap(new SilentLinkGuard(response.body(), silentLinkLimit), progressBase + written);
        try (InputStream in = encoding.equalsIgnoreCase("gzip") ? new GZIPInputStream(wire, 64 * 1024)
                : encoding.equalsIgnoreCase("zstd") ? new com.github.luben.zstd.ZstdInputStreamNoFinalizer(wire) : wire;
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buffer = new byte[64 * 1024];
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (written + n > size) {
                    tooLong = true; // never write past the signed size
                    break;
                }
                out.write(buffer, 0, n);
                sha.update(buffer, 0, n);
                written += n;
            }
        } catch (IOException e) {
            if (DiskFull.is(e)) {
                // the partial file stays: once there is room again the download resumes from where it stopped
                throw new UpdateFailure(Reason.DISK_FULL, "the device's disk is full: the download of " + uri + " stopped after "
                        + written + " bytes (" + e.getMessage() + ")", false, e);
            }
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "download of " + uri + " broke off after " + written + " bytes: "
                    + e.getMessage(), true, e);
        }
        if (tooLong) {
            Files.deleteIfExists(part);
            throw new UpdateFailure(Reason.SIZE_MISMATCH, what + " is longer than the signed " + size + " bytes");
        }
        if (written < size) {
            String broken = "download of " + uri + " ended after " + written + " of " + size + " bytes";
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, broken, true, new java.io.EOFException(broken)); // the connection closed early
        }
        return sha;
    }

    /** The server's {@code error} text of a refusal, as {@code ": text"}; empty when there is none. */
    private static String readError(HttpResponse<InputStream> response) {
        try (InputStream in = response.body()) {
            String body = new String(in.readNBytes(2048), java.nio.charset.StandardCharsets.UTF_8);
            String error = new com.fasterxml.jackson.databind.ObjectMapper().readTree(body).path("error").asText("");
            return error.isEmpty() ? "" : ": " + error;
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Puts an archive from local media (an offline bundle) into the cache, checked exactly like a download:
     * free space first, never more than the signed size written, the signed digest before it counts as
     * cached. The archive is kept by retention until a desired state has used it.
     *
     * @param in the archive bytes; {@code length} of them are read
     * @param length how many bytes the medium says the archive has
     */
    public Path importArchive(ImageArtifact artifact, InputStream in, long length) throws UpdateFailure {
        Path done = finalFile(artifact);
        Path part = dir.resolve(baseName(artifact) + ".importing");
        try {
            if (length != artifact.getSize()) {
                throw new UpdateFailure(Reason.SIZE_MISMATCH, "archive " + artifact.getArchiveDigest() + " has " + length
                        + " bytes, the release signs " + artifact.getSize());
            }
            if (!isCached(artifact)) {
                requireSpace(artifact.getSize(), part);
                try (OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                        StandardOpenOption.WRITE)) {
                    long copied = in.transferTo(new CappedOutput(out, artifact.getSize()));
                    if (copied != artifact.getSize()) {
                        throw new UpdateFailure(Reason.SIZE_MISMATCH, "archive ended after " + copied + " of " + artifact.getSize() + " bytes");
                    }
                }
                verifyDigest(artifact, part);
                Files.move(part, done, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            AtomicFiles.write(importMarker(artifact), new byte[0]);
            log.info("imported {} ({} bytes)", artifact.getArchiveDigest(), artifact.getSize());
            return done;
        } catch (IOException e) {
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "cannot import " + artifact.getArchiveDigest() + ": " + e.getMessage(), false, e);
        } finally {
            try {
                Files.deleteIfExists(part);
            } catch (IOException e) {
                log.warn("cannot remove {}: {}", part, e.getMessage());
            }
        }
    }

    /**
     * What this device lacks to build {@code artifact} from the blobs it holds plus those a delta bundle brings
     * ({@code whole}: blobs sent whole; {@code deltas}: blobs sent as deltas against their signed delta base): one
     * line per missing or damaged blob, empty when nothing is missing. Reads only.
     */
    public List<String> lacking(ImageArtifact artifact, Set<String> whole, Set<String> deltas) throws UpdateFailure {
        List<String> lacking = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (Blob blob : artifact.getBlobsList()) {
            if (!seen.add(blob.getDigest()) || whole.contains(blob.getDigest())) {
                continue;
            }
            try {
                if (deltas.contains(blob.getDigest())) {
                    String base = blob.getDeltaBase();
                    if (!base.matches("sha256:[0-9a-f]{64}")) {
                        throw new UpdateFailure(Reason.MALFORMED, "the bundle holds a delta of blob " + blob.getDigest()
                                + ", which the release names no delta base for");
                    }
                    Path file = blobFile(base);
                    if (!Files.isRegularFile(file)) {
                        lacking.add("blob " + base + " (the base of the delta of " + blob.getDigest() + ")");
                    } else if (!base.equals("sha256:" + HexFormat.of().formatHex(digestOf(file).digest()))) {
                        lacking.add("blob " + base + " (the base of the delta of " + blob.getDigest() + "; the held copy is damaged)");
                    }
                    continue;
                }
                Path file = blobFile(blob.getDigest());
                ArchiveBlobs.Part part = new ArchiveBlobs.Part(blob.getPath(), blob.getDigest(), blob.getSize());
                if (!Files.isRegularFile(file)) {
                    lacking.add("blob " + blob.getDigest() + " (" + blob.getPath() + ")");
                } else {
                    String damage = damage(part, file);
                    if (damage != null) {
                        lacking.add("blob " + blob.getDigest() + " (" + blob.getPath() + "; the held copy is damaged: " + damage + ")");
                    }
                }
            } catch (IllegalArgumentException e) {
                throw new UpdateFailure(Reason.MALFORMED, "the release's blob list is unusable: " + e.getMessage());
            } catch (IOException e) {
                lacking.add("blob " + blob.getDigest() + " (unreadable: " + e.getMessage() + ")");
            }
        }
        return lacking;
    }

    /** An empty directory beside the cache where a delta bundle's entries for {@code artifact} wait to be checked. */
    public Path importStaging(ImageArtifact artifact) throws UpdateFailure {
        Path staging = dir.resolve(baseName(artifact) + ".blobs.importing"); // retention leaves *.importing alone
        try {
            deleteTree(staging);
            return Files.createDirectories(staging);
        } catch (IOException e) {
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "cannot write the cache: " + e.getMessage(), false, e);
        }
    }

    /** Removes a staging directory and what is in it. */
    public void dropStaging(Path staging) {
        try {
            deleteTree(staging);
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", staging, e.getMessage());
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                Files.deleteIfExists(f);
            }
        }
        Files.deleteIfExists(dir);
    }

    /**
     * Puts {@code artifact} into the cache from a delta bundle: the blobs this device holds, the bundle's {@code whole}
     * blobs and the blobs its {@code deltas} make of the held delta bases, each checked against its signed digest and
     * size, then the archive written from them and checked against the signed archive digest. Only then does anything
     * enter the cache (the new blobs, the archive, the marker that keeps it until a desired state uses it); any failure
     * leaves the cache as it was.
     *
     * @param whole bundle files (unchecked) by the digest they claim
     * @param deltas bundle delta files (unchecked) by the digest of the blob they make
     */
    public Path importFromBlobs(ImageArtifact artifact, Map<String, Path> whole, Map<String, Path> deltas) throws UpdateFailure {
        Path done = finalFile(artifact);
        if (isCached(artifact)) {
            markImported(artifact);
            return done;
        }
        List<ArchiveBlobs.Part> parts = parts(artifact);
        Map<String, Path> made = new java.util.LinkedHashMap<>();
        Path archivePart = dir.resolve(baseName(artifact) + ".tar.importing");
        try {
            requireSpace(artifact.getSize(), archivePart);
            Set<String> seen = new java.util.LinkedHashSet<>();
            for (ArchiveBlobs.Part p : parts) {
                if (!seen.add(p.digest())) {
                    continue;
                }
                Path file = whole.get(p.digest());
                if (file != null) {
                    if (Files.size(file) != p.size()) {
                        throw new UpdateFailure(Reason.SIZE_MISMATCH, "blob " + p.digest() + " in the bundle has " + Files.size(file)
                                + " bytes, the release signs " + p.size());
                    }
                    checkDigest("blob " + p.digest() + " in the bundle", p.digest(), file, digestOf(file));
                    made.put(p.digest(), file);
                } else if (deltas.containsKey(p.digest())) {
                    String base = artifact.getBlobsList().stream().filter(b -> b.getDigest().equals(p.digest())).findFirst()
                            .map(Blob::getDeltaBase).orElse("");
                    Path out = deltas.get(p.digest()).resolveSibling(hex(p.digest()) + ".made");
                    MessageDigest sha = sha256();
                    try (InputStream in = new java.io.BufferedInputStream(Files.newInputStream(deltas.get(p.digest())), 64 * 1024);
                         OutputStream o = new java.security.DigestOutputStream(new java.io.BufferedOutputStream(
                                 Files.newOutputStream(out), 64 * 1024), sha)) {
                        long n = LayerDelta.apply(blobFile(base), in, o, p.size());
                        if (n != p.size()) {
                            throw new UpdateFailure(Reason.SIZE_MISMATCH, "the bundle's delta of blob " + p.digest() + " made " + n
                                    + " bytes, the release signs " + p.size());
                        }
                    } catch (IOException e) {
                        throw new UpdateFailure(Reason.DIGEST_MISMATCH, "the bundle's delta of blob " + p.digest() + " against " + base
                                + " cannot be applied: " + e.getMessage());
                    }
                    checkDigest("blob " + p.digest() + " made from the bundle's delta", p.digest(), out, sha);
                    made.put(p.digest(), out);
                } else {
                    String damage = Files.isRegularFile(blobFile(p.digest())) ? damage(p, blobFile(p.digest())) : "not held";
                    if (damage != null) {
                        throw new UpdateFailure(Reason.LAYER_MISMATCH, "blob " + p.digest() + " is neither in the bundle nor held intact ("
                                + damage + ")");
                    }
                }
            }
            MessageDigest sha = sha256();
            try (OutputStream out = new java.security.DigestOutputStream(new java.io.BufferedOutputStream(
                    Files.newOutputStream(archivePart, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                            StandardOpenOption.WRITE), 64 * 1024), sha)) {
                ArchiveBlobs.join(parts, p -> Files.newInputStream(made.getOrDefault(p.digest(), blobFile(p.digest()))),
                        new CappedOutput(out, artifact.getSize()));
            }
            checkDigest("archive", artifact.getArchiveDigest(), archivePart, sha);
            // everything checked: the marker first (retention keeps this archive's files), then its blob list, blobs, archive
            markImported(artifact);
            AtomicFiles.write(blobIndex(artifact), String.join("\n", seen).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            Files.createDirectories(blobDir());
            for (Map.Entry<String, Path> e : made.entrySet()) {
                Files.move(e.getValue(), blobFile(e.getKey()), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            Files.move(archivePart, done, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            log.info("imported {} ({} bytes) from {} blobs: {} from the bundle ({} of them made from deltas), the rest held",
                    artifact.getArchiveDigest(), artifact.getSize(), seen.size(), made.size(),
                    made.keySet().stream().filter(deltas::containsKey).count());
            return done;
        } catch (IOException e) {
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "cannot import " + artifact.getArchiveDigest() + ": " + e.getMessage(), false, e);
        } finally {
            try {
                Files.deleteIfExists(archivePart);
            } catch (IOException e) {
                log.warn("cannot remove {}: {}", archivePart, e.getMessage());
            }
        }
    }

    private void markImported(ImageArtifact artifact) throws UpdateFailure {
        try {
            AtomicFiles.write(importMarker(artifact), new byte[0]);
        } catch (UncheckedIOException e) {
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "cannot write the cache: " + e.getMessage(), false, e);
        }
    }

    private Path importMarker(ImageArtifact artifact) throws UpdateFailure {
        return dir.resolve(baseName(artifact) + IMPORTED);
    }

    /** Refuses to write past the signed size. */
    private static final class CappedOutput extends OutputStream {
        private final OutputStream out;
        private long left;

        CappedOutput(OutputStream out, long cap) {
            this.out = out;
            this.left = cap;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (len > left) {
                throw new IOException("archive is longer than its signed size");
            }
            out.write(b, off, len);
            left -= len;
        }
    }

    /** Checked before a single byte is written; a partial download is removed so the disk gets its space back. */
    private void requireSpace(long bytes, Path part) throws UpdateFailure, IOException {
        long free = freeSpace.usableBytes(dir);
        if (free < bytes + reserveBytes) {
            Files.deleteIfExists(part);
            throw new UpdateFailure(Reason.DISK_FULL, "need " + bytes + " bytes plus " + reserveBytes + " in reserve, "
                    + free + " usable");
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static MessageDigest digestOf(Path file) throws IOException {
        MessageDigest sha = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[64 * 1024];
            int n;
            while ((n = in.read(buffer)) >= 0) {
                sha.update(buffer, 0, n);
            }
        }
        return sha;
    }

    private void verifyDigest(ImageArtifact artifact, Path part) throws UpdateFailure, IOException {
        checkDigest("archive", artifact.getArchiveDigest(), part, digestOf(part));
    }

    /** {@code sha} has read all of {@code part}; a mismatch removes it (the next attempt starts from scratch). */
    private static void checkDigest(String what, String signed, Path part, MessageDigest sha) throws UpdateFailure, IOException {
        String actual = "sha256:" + HexFormat.of().formatHex(sha.digest());
        if (!actual.equals(signed)) {
            Files.deleteIfExists(part);
            throw new UpdateFailure(Reason.DIGEST_MISMATCH, what + " digest is " + actual + ", the release signs " + signed);
        }
    }

    private URI resolve(String url) throws UpdateFailure {
        try {
            URI uri = URI.create(url);
            if (uri.isAbsolute()) {
                return uri;
            }
            if (baseUrl == null) {
                throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "relative artifact URL and no orchestratorUrl configured");
            }
            return baseUrl.resolve(url.startsWith("/") ? url.substring(1) : url);
        } catch (IllegalArgumentException e) {
            throw new UpdateFailure(Reason.MALFORMED, "bad artifact URL: " + e.getMessage());
        }
    }

    private Path finalFile(ImageArtifact artifact) throws UpdateFailure {
        return dir.resolve(baseName(artifact) + ".tar");
    }

    private static String baseName(ImageArtifact artifact) throws UpdateFailure {
        String digest = artifact.getArchiveDigest();
        if (!digest.matches("sha256:[0-9a-f]{64}")) {
            throw new UpdateFailure(Reason.MALFORMED, "archive digest is not sha256:<64 hex>");
        }
        return digest.replace(':', '-');
    }
}
