package dev.turnout.edge.cache;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.store.AtomicFiles;
import dev.turnout.edge.tls.TlsRefused;
import dev.turnout.edge.transfer.DownloadPace;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
import java.util.Collection;
import java.util.HexFormat;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Content-addressed cache of image archives under {@code {data}/cache}: {@code sha256-<hex>.tar} once
 * verified, {@code sha256-<hex>.part} while downloading (resumed with a Range request).
 */
public final class ArtifactCache implements ArtifactSource {

    private static final Logger log = LoggerFactory.getLogger(ArtifactCache.class);
    /** Suffix of the marker that keeps an imported archive until a desired state has used it. */
    private static final String IMPORTED = ".imported";
    private static final int ATTEMPTS = 3;
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
    private final FreeSpace freeSpace;
    private volatile String authorization;
    private volatile DownloadPace pace = new DownloadPace(0);

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
    public Path fetch(ImageArtifact artifact) throws UpdateFailure {
        Path done = finalFile(artifact);
        if (isCached(artifact)) {
            try {
                Files.deleteIfExists(importMarker(artifact)); // referenced now: ordinary retention from here on
            } catch (IOException e) {
                log.debug("cannot remove import marker: {}", e.getMessage());
            }
            return done;
        }
        if (artifact.getSize() <= 0) {
            throw new UpdateFailure(Reason.MALFORMED, "artifact has no size");
        }
        Path part = dir.resolve(baseName(artifact) + ".part");
        UpdateFailure last = null;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
                checkDigest(artifact, part, download(artifact, part));
                Files.move(part, done, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                log.info("cached {} ({} bytes)", artifact.getArchiveDigest(), artifact.getSize());
                return done;
            } catch (UpdateFailure e) {
                if (!e.isTransient()) {
                    throw e;
                }
                last = e;
                log.warn("download attempt {} of {} failed: {}", attempt, artifact.getArchiveDigest(), e.getMessage());
                backOff(attempt);
            } catch (IOException e) {
                throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "cannot write the cache: " + e.getMessage(), true, e);
            }
        }
        throw last;
    }

    private void backOff(int attempt) throws UpdateFailure {
        if (attempt >= ATTEMPTS || retryDelay.isZero()) {
            return;
        }
        try {
            Thread.sleep(retryDelay.multipliedBy(attempt).toMillis()); // the server or the network may come back
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
        }
    }

    /**
     * Completes {@code part} and returns its SHA-256, taken while the bytes are written: the archive is not read a
     * second time, and on a slow network the digest costs nothing (a Pi's CPU hashes while it waits for bytes).
     */
    private MessageDigest download(ImageArtifact artifact, Path part) throws UpdateFailure, IOException {
        long have = Files.exists(part) ? Files.size(part) : 0;
        if (have > artifact.getSize()) {
            Files.delete(part);
            have = 0;
        }
        requireSpace(artifact.getSize() - have, part);
        if (have == artifact.getSize()) {
            return digestOf(part);
        }
        URI uri = resolve(artifact.getUrl());
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10)).GET();
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
        try (InputStream in = pace.wrap(response.body(), written);
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buffer = new byte[64 * 1024];
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (written + n > artifact.getSize()) {
                    tooLong = true; // never write past the signed size
                    break;
                }
                out.write(buffer, 0, n);
                sha.update(buffer, 0, n);
                written += n;
            }
        } catch (IOException e) {
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "download of " + uri + " broke off after " + written + " bytes: "
                    + e.getMessage(), true, e);
        }
        if (tooLong) {
            Files.deleteIfExists(part);
            throw new UpdateFailure(Reason.SIZE_MISMATCH, "archive is longer than the signed " + artifact.getSize() + " bytes");
        }
        if (written < artifact.getSize()) {
            throw new UpdateFailure(Reason.DOWNLOAD_FAILED, "download of " + uri + " ended after " + written + " of "
                    + artifact.getSize() + " bytes", true, null);
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
        checkDigest(artifact, part, digestOf(part));
    }

    /** {@code sha} has read all of {@code part}; a mismatch removes it (the next attempt starts from scratch). */
    private static void checkDigest(ImageArtifact artifact, Path part, MessageDigest sha) throws UpdateFailure, IOException {
        String actual = "sha256:" + HexFormat.of().formatHex(sha.digest());
        if (!actual.equals(artifact.getArchiveDigest())) {
            Files.deleteIfExists(part);
            throw new UpdateFailure(Reason.DIGEST_MISMATCH, "archive digest is " + actual + ", the release signs " + artifact.getArchiveDigest());
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
