package dev.turnout.edge.cache;

import com.sun.net.httpserver.HttpServer;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.tls.TlsRefused;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class ArtifactCacheTest {

    @TempDir
    Path dir;

    private final byte[] archive = new byte[300_000];
    private final List<String> rangeHeaders = new CopyOnWriteArrayList<>();
    private volatile byte[] served;
    private final List<String> authorizations = new CopyOnWriteArrayList<>();
    /** When set, the server wants exactly this Authorization header (401 otherwise); "403" refuses everyone. */
    private volatile String requiredAuthorization;
    /** Bytes after which the next transfer drops its connection (a broken download); 0: none. */
    private final java.util.concurrent.atomic.AtomicInteger dropNextTransferAfter = new java.util.concurrent.atomic.AtomicInteger();
    /** When positive, every download is answered with this status (an orchestrator that answers, with errors). */
    private volatile int answerWith;
    private HttpServer server;

    @BeforeEach
    void startServer() throws IOException {
        new Random(42).nextBytes(archive);
        served = archive;
        serveOn(0);
    }

    private void serveOn(int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/api/v1/artifacts/", exchange -> {
            String authorization = exchange.getRequestHeaders().getFirst("Authorization");
            authorizations.add(authorization == null ? "" : authorization);
            String required = requiredAuthorization;
            if (required != null && (required.equals("403") || !required.equals(authorization))) {
                int status = required.equals("403") ? 403 : 401;
                byte[] error = (status == 403 ? "{\"error\":\"artifact is not part of a release in the desired state of device pi-1\"}"
                        : "{\"error\":\"the credentials of pi-1 are wrong or revoked\"}").getBytes();
                exchange.sendResponseHeaders(status, error.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(error);
                }
                return;
            }
            if (answerWith > 0) {
                exchange.sendResponseHeaders(answerWith, -1);
                exchange.close();
                return;
            }
            String range = exchange.getRequestHeaders().getFirst("Range");
            rangeHeaders.add(range == null ? "" : range);
            byte[] body = served;
            int from = range == null ? 0 : Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
            exchange.getResponseHeaders().add("Accept-Ranges", "bytes");
            exchange.sendResponseHeaders(from > 0 ? 206 : 200, body.length - from);
            int drop = dropNextTransferAfter.getAndSet(0);
            if (drop > 0) {
                OutputStream out = exchange.getResponseBody();
                out.write(body, from, drop);
                out.flush();
                exchange.close(); // the connection drops mid-transfer
                return;
            }
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body, from, body.length - from);
            }
        });
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    private ArtifactCache cache() {
        return new ArtifactCache(dir, "http://127.0.0.1:" + server.getAddress().getPort(), 0, java.time.Duration.ZERO);
    }

    private ImageArtifact artifact(byte[] content, long size) throws Exception {
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        return ImageArtifact.newBuilder().setPlatform("linux/arm64").setArchiveDigest(digest).setSize(size)
                .setUrl("/api/v1/artifacts/" + digest).setImageId("sha256:x").build();
    }

    @Test
    void downloadsIntoAContentAddressedFile() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        ArtifactCache cache = cache();
        Path file = cache.fetch(artifact);
        assertThat(file.getFileName().toString()).isEqualTo(artifact.getArchiveDigest().replace(':', '-') + ".tar");
        assertThat(Files.readAllBytes(file)).isEqualTo(archive);
        assertThat(cache.isCached(artifact)).isTrue();
        cache.fetch(artifact);
        assertThat(rangeHeaders).hasSize(1);
    }

    @Test
    void downloadsWithTheDevicesOwnCredentialsAndSaysWhyWhenRefused() throws Exception {
        String basic = "Basic " + java.util.Base64.getEncoder().encodeToString("pi-1:s3cret".getBytes());
        requiredAuthorization = basic;
        ImageArtifact artifact = artifact(archive, archive.length);
        assertThat(Files.readAllBytes(cache().useCredentials("pi-1", "s3cret").fetch(artifact))).isEqualTo(archive);
        assertThat(authorizations).containsOnly(basic);

        // wrong or revoked: a clear reason at once, no retries, no partial file
        ImageArtifact other = artifact(new byte[] {1, 2, 3}, 3);
        authorizations.clear();
        assertThatThrownBy(() -> cache().useCredentials("pi-1", "old-secret").fetch(other))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> {
                    assertThat(e.reason()).isEqualTo(Reason.DOWNLOAD_FAILED);
                    assertThat(e.isTransient()).isFalse();
                    assertThat(e.getMessage()).contains("401", "wrong or revoked", "enroll it again");
                });
        assertThat(authorizations).hasSize(1);

        // not targeted at this device: 403 and the server's reason
        requiredAuthorization = "403";
        assertThatThrownBy(() -> cache().useCredentials("pi-1", "s3cret").fetch(other))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.getMessage())
                        .contains("403", "not part of a release in the desired state of device pi-1"));
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.contains(other.getArchiveDigest().substring(7)));
        }
    }

    @Test
    void aPlainDownloadRedirectedToHttpsIsRetriedWithTheTlsClient() throws Exception {
        // the https side hangs up at once: the TLS client's handshake fails, not the plain client's refusal
        try (java.net.ServerSocket https = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            Thread hangUp = new Thread(() -> {
                while (!https.isClosed()) {
                    try {
                        https.accept().close();
                    } catch (IOException closed) {
                        return;
                    }
                }
            });
            hangUp.setDaemon(true);
            hangUp.start();
            server.createContext("/moved/", exchange -> {
                exchange.getResponseHeaders().add("Location", "https://127.0.0.1:" + https.getLocalPort() + "/api/v1/artifacts/x");
                exchange.sendResponseHeaders(302, -1);
                exchange.close();
            });
            ImageArtifact moved = artifact(archive, archive.length).toBuilder().setUrl("/moved/x").build();
            assertThatThrownBy(() -> cache().fetch(moved)).isInstanceOfSatisfying(UpdateFailure.class, e -> {
                assertThat(e.getMessage()).contains("GET").doesNotContain("no TLS here");
                assertThat(TlsRefused.isRefusal(e)).isFalse();
            });
        }
    }

    @Test
    void neverSendsItsCredentialsToAnotherHost() throws Exception {
        ImageArtifact elsewhere = artifact(archive, archive.length).toBuilder()
                .setUrl("http://localhost:" + server.getAddress().getPort() + "/api/v1/artifacts/x").build();
        cache().useCredentials("pi-1", "s3cret").fetch(elsewhere);
        assertThat(authorizations).containsOnly("");
    }

    @Test
    void resumesAPartialDownloadWithARangeRequest() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        Path part = dir.resolve(artifact.getArchiveDigest().replace(':', '-') + ".part");
        Files.write(part, java.util.Arrays.copyOf(archive, 123_456));
        Path file = cache().fetch(artifact);
        assertThat(rangeHeaders).containsExactly("bytes=123456-");
        assertThat(Files.readAllBytes(file)).isEqualTo(archive);
        assertThat(part).doesNotExist();
    }

    @Test
    void theDigestOfAResumedDownloadCoversTheBytesThatWereAlreadyThere() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        Path part = dir.resolve(artifact.getArchiveDigest().replace(':', '-') + ".part");
        byte[] damaged = java.util.Arrays.copyOf(archive, 123_456);
        damaged[1000] ^= 0x55; // the first part, written before a power cut, came back damaged
        Files.write(part, damaged);
        assertThatThrownBy(() -> cache().fetch(artifact))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DIGEST_MISMATCH));
        assertThat(rangeHeaders).containsExactly("bytes=123456-");
        assertThat(cacheFiles()).as("nothing kept: the next attempt starts from the first byte").isEmpty();

        Path file = cache().fetch(artifact);
        assertThat(rangeHeaders).containsExactly("bytes=123456-", "");
        assertThat(Files.readAllBytes(file)).isEqualTo(archive);
    }

    @Test
    void aCompletePartialFileIsCheckedBeforeItCounts() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        Path part = dir.resolve(artifact.getArchiveDigest().replace(':', '-') + ".part");
        byte[] damaged = archive.clone();
        damaged[damaged.length - 1] ^= 0x55;
        Files.write(part, damaged); // every byte there, the last one wrong: nothing left to download
        assertThatThrownBy(() -> cache().fetch(artifact))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DIGEST_MISMATCH));
        assertThat(rangeHeaders).isEmpty();
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void cutsOffALongerDownloadAndRejectsIt() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        byte[] longer = java.util.Arrays.copyOf(archive, archive.length + 100_000);
        served = longer;
        assertThatThrownBy(() -> cache().fetch(artifact))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.SIZE_MISMATCH));
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void rejectsAndDeletesAnArchiveWithTheWrongDigest() throws Exception {
        ImageArtifact artifact = artifact(new byte[] {1, 2, 3}, archive.length);
        assertThatThrownBy(() -> cache().fetch(artifact))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DIGEST_MISMATCH));
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void refusesWhenTheDiskIsTooFullAndLeavesNoPartialFile() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        Path part = dir.resolve(artifact.getArchiveDigest().replace(':', '-') + ".part");
        Files.write(part, new byte[10]);
        ArtifactCache full = new ArtifactCache(dir, "http://127.0.0.1:" + server.getAddress().getPort(), Long.MAX_VALUE / 2, java.time.Duration.ZERO);
        assertThatThrownBy(() -> full.fetch(artifact))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DISK_FULL));
        assertThat(cacheFiles()).isEmpty();
        assertThat(rangeHeaders).isEmpty();
    }

    /** What the daemon asks before it tries a download a full disk stopped again: the rest of the archive and the reserve fit. */
    @Test
    void hasRoomForTheRestOfAPartialDownloadAndTheReserveOnly() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        Path part = dir.resolve(artifact.getArchiveDigest().replace(':', '-') + ".part");
        Files.write(part, java.util.Arrays.copyOf(archive, 10)); // the first 10 bytes, from an earlier attempt
        java.util.concurrent.atomic.AtomicLong usable = new java.util.concurrent.atomic.AtomicLong(archive.length - 10 + 100 - 1);
        ArtifactCache cache = new ArtifactCache(dir, "http://127.0.0.1:" + server.getAddress().getPort(), 100,
                java.time.Duration.ZERO, d -> usable.get());
        assertThat(cache.hasRoomFor(artifact)).as("one byte short").isFalse();
        usable.incrementAndGet();
        assertThat(cache.hasRoomFor(artifact)).as("the 10 bytes held count").isTrue();
        cache.fetch(artifact); // and it does fit: resumed, verified, cached
        assertThat(rangeHeaders).containsExactly("bytes=10-");
        usable.set(0);
        assertThat(cache.hasRoomFor(artifact)).as("cached: nothing more to fetch").isTrue();
    }

    @Test
    void anOrchestratorDownForLongerThanThreeAttemptsIsWaitedForWithinTheRetryWindow() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        int port = server.getAddress().getPort();
        server.stop(0); // the orchestrator restarts: connections are refused meanwhile
        ArtifactCache cache = new ArtifactCache(dir, "http://127.0.0.1:" + port, 0, java.time.Duration.ofMillis(100))
                .retryingFor(java.time.Duration.ofSeconds(60));
        // longer than three attempts take (100 + 200 ms of back-off)
        java.util.concurrent.CompletableFuture<Void> back = serveAgain(port, new java.util.concurrent.atomic.AtomicBoolean(true), 1500);
        Path file = cache.fetch(artifact);
        back.join();
        assertThat(Files.readAllBytes(file)).isEqualTo(archive);
    }

    /** Serves on {@code port} again {@code outageMs} after {@code down} is set: the outage's length, not a wait for behaviour. */
    private java.util.concurrent.CompletableFuture<Void> serveAgain(int port, java.util.concurrent.atomic.AtomicBoolean down, long outageMs) {
        return java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                await().atMost(java.time.Duration.ofSeconds(10)).untilTrue(down);
                Thread.sleep(outageMs);
                serveOn(port);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void aDownloadStillFailingAfterTheRetryWindowFailsTheUpdate() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        int port = server.getAddress().getPort();
        server.stop(0);
        ArtifactCache cache = new ArtifactCache(dir, "http://127.0.0.1:" + port, 0, java.time.Duration.ofMillis(100))
                .retryingFor(java.time.Duration.ofMillis(800));
        long start = System.nanoTime();
        assertThatThrownBy(() -> cache.fetch(artifact)).isInstanceOf(UpdateFailure.class)
                .satisfies(e -> assertThat(((UpdateFailure) e).reason()).isEqualTo(Reason.DOWNLOAD_FAILED));
        assertThat((System.nanoTime() - start) / 1e6).as("tried for the whole window").isGreaterThanOrEqualTo(800);
        serveOn(port); // for @AfterEach
    }

    @Test
    void anUnreachableOrchestratorIsWaitedForBeyondTheRetryWindowAndTheDownloadResumes() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        int port = server.getAddress().getPort();
        dropNextTransferAfter.set(100_000); // the partition begins mid-transfer
        java.util.concurrent.atomic.AtomicBoolean cutOff = new java.util.concurrent.atomic.AtomicBoolean();
        ArtifactCache cache = new ArtifactCache(dir, "http://127.0.0.1:" + port, 0, java.time.Duration.ofMillis(50))
                .retryingFor(java.time.Duration.ofMillis(300)).backingOffAtMost(java.time.Duration.ofMillis(100))
                .waitingOutUnreachable(() -> {
                    if (cutOff.compareAndSet(false, true)) {
                        server.stop(0); // refused from the first failure on
                    }
                    return false;
                });
        java.util.concurrent.CompletableFuture<Void> back = serveAgain(port, cutOff, 1500); // five times the retry window
        Path file = cache.fetch(artifact);
        back.join();
        assertThat(Files.readAllBytes(file)).isEqualTo(archive);
        // resumed from what reached the disk before the cut: up to the 100,000 bytes the server sent (a reset connection
        // can lose what was still in the socket's buffer: 98,202 in one loaded CI run), never from the start
        String resumedFrom = rangeHeaders.get(rangeHeaders.size() - 1);
        assertThat(resumedFrom).as("resumed where the partition cut it").matches("bytes=\\d+-");
        assertThat(Long.parseLong(resumedFrom.substring("bytes=".length(), resumedFrom.length() - 1))).isBetween(1L, 100_000L);
    }

    @Test
    void aNewerDesiredStateEndsTheWaitForAnUnreachableOrchestrator() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        int port = server.getAddress().getPort();
        server.stop(0);
        java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
        ArtifactCache cache = new ArtifactCache(dir, "http://127.0.0.1:" + port, 0, java.time.Duration.ofMillis(10))
                .retryingFor(java.time.Duration.ofMillis(10)).backingOffAtMost(java.time.Duration.ofMillis(20))
                .waitingOutUnreachable(() -> asked.incrementAndGet() >= 20); // the 20th failure finds a newer state waiting
        assertThatThrownBy(() -> cache.fetch(artifact)).isInstanceOfSatisfying(UpdateFailure.class, e -> {
            assertThat(e.reason()).isEqualTo(Reason.DOWNLOAD_FAILED);
            assertThat(e.getMessage()).contains("given up for a newer desired state");
        });
        assertThat(asked).as("tried on past the window and three attempts, until the newer state").hasValue(20);
        serveOn(port); // for @AfterEach
    }

    @Test
    void anOrchestratorThatAnswersWithErrorsStillFailsTheDownloadAfterTheWindow() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        answerWith = 500;
        ArtifactCache cache = new ArtifactCache(dir, "http://127.0.0.1:" + server.getAddress().getPort(), 0, java.time.Duration.ofMillis(50))
                .retryingFor(java.time.Duration.ofMillis(300)).waitingOutUnreachable(() -> false);
        assertThatThrownBy(() -> cache.fetch(artifact)).isInstanceOfSatisfying(UpdateFailure.class, e -> {
            assertThat(e.reason()).isEqualTo(Reason.DOWNLOAD_FAILED);
            assertThat(e.getMessage()).contains("answered 500");
        });
    }

    @Test
    void aBrokenTransferIsResumedOnTheNextAttempt() throws Exception {
        ImageArtifact artifact = artifact(archive, archive.length);
        dropNextTransferAfter.set(100_000);
        Path file = cache().fetch(artifact);
        assertThat(Files.readAllBytes(file)).isEqualTo(archive);
        assertThat(rangeHeaders).hasSize(2);
        assertThat(rangeHeaders.get(1)).startsWith("bytes=").isNotEqualTo("bytes=0-");
    }

    @Test
    void retainOnlyDeletesArchivesNoLongerNeeded() throws Exception {
        ImageArtifact kept = artifact(archive, archive.length);
        ArtifactCache cache = cache();
        cache.fetch(kept);
        Files.write(dir.resolve("sha256-" + "0".repeat(64) + ".tar"), new byte[1]);
        cache.retainOnly(List.of(kept.getArchiveDigest()));
        assertThat(cacheFiles()).containsExactly(kept.getArchiveDigest().replace(':', '-') + ".tar");
    }

    private List<String> cacheFiles() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).toList();
        }
    }
}
