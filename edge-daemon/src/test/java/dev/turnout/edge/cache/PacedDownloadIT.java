package dev.turnout.edge.cache;

import com.sun.net.httpserver.HttpServer;
import dev.turnout.edge.transfer.DownloadPace;
import dev.turnout.proto.DownloadProgress;
import dev.turnout.proto.ImageArtifact;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The download rate limit against a real HTTP server, over real sockets: it holds within 10 % over a 20 s download, a
 * download resumed after its connection dropped goes on at the same pace, and the orchestrator's "busy" answer is
 * waited out without costing an attempt. About 32 s in all (the limits are the point, so they take their time).
 */
class PacedDownloadIT {

    private static final long RATE = 256 * 1024;

    @TempDir
    Path dir;

    private final List<String> ranges = new CopyOnWriteArrayList<>();
    private final AtomicInteger dropAfter = new AtomicInteger();
    private final AtomicInteger busyAnswers = new AtomicInteger();
    private volatile byte[] served;
    private HttpServer server;

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
        server.createContext("/api/v1/artifacts/", exchange -> {
            if (busyAnswers.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                exchange.getResponseHeaders().add("Retry-After", "1");
                exchange.sendResponseHeaders(503, -1);
                exchange.close();
                return;
            }
            String range = exchange.getRequestHeaders().getFirst("Range");
            ranges.add(range == null ? "" : range);
            byte[] body = served;
            int from = range == null ? 0 : Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
            exchange.sendResponseHeaders(from > 0 ? 206 : 200, body.length - from);
            int drop = dropAfter.getAndSet(0);
            OutputStream out = exchange.getResponseBody();
            if (drop > 0) {
                out.write(body, from, drop);
                out.flush();
                exchange.close(); // the connection breaks mid-transfer
                return;
            }
            try (out) {
                out.write(body, from, body.length - from);
            } catch (IOException e) {
                // the client went away
            }
        });
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    private ImageArtifact artifact(int size) throws Exception {
        served = RandomArtifacts.content(size);
        return RandomArtifacts.of(served);
    }

    private ArtifactCache cache(DownloadPace pace) {
        return new ArtifactCache(dir, "http://127.0.0.1:" + server.getAddress().getPort(), 0, Duration.ZERO).pacedBy(pace);
    }

    @Test
    void theRateLimitHoldsWithinTenPercentOverATwentySecondDownloadAndProgressIsReportedEveryTwoSeconds() throws Exception {
        ImageArtifact artifact = artifact((int) (RATE * 20));
        DownloadPace pace = new DownloadPace(RATE);
        List<DownloadProgress> reports = new CopyOnWriteArrayList<>();
        ArtifactCache cache = cache(pace);
        DownloadProgress summary;
        long start;
        try (DownloadPace.Transfer transfer = pace.begin(0, artifact.getSize(), reports::add)) {
            transfer.nextArchive(artifact.getSize());
            start = System.nanoTime();
            cache.fetch(artifact);
            summary = transfer.summary();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        double rate = artifact.getSize() / seconds;
        System.out.printf("rate limit %d B/s: %d bytes in %.2f s = %.0f B/s (%.1f %% of the limit), %d progress reports, load %.1f%n",
                RATE, artifact.getSize(), seconds, rate, 100 * rate / RATE, reports.size(),
                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        assertThat(rate).isCloseTo(RATE, within(RATE * 0.10));
        assertThat(summary.getBytesMoved()).isEqualTo(artifact.getSize());
        assertThat(summary.getBytesDone()).isEqualTo(summary.getBytesTotal()).isEqualTo(artifact.getSize());
        // one report per 2 s, not one per read: about 10 in 20 s
        assertThat(reports).hasSizeBetween(8, 10);
        assertThat(reports).extracting(DownloadProgress::getBytesDone).isSorted();
        assertThat(reports).allSatisfy(p -> assertThat(p.getBytesTotal()).isEqualTo(artifact.getSize()));
        // the rate each report shows is the current one (the first interval also holds the connection's set-up)
        assertThat(reports.subList(1, reports.size())).allSatisfy(p ->
                assertThat((double) p.getRateBps()).isCloseTo(RATE, within(RATE * 0.25)));
    }

    @Test
    void aDownloadResumedAfterItsConnectionDroppedStaysWithinTheLimit() throws Exception {
        ImageArtifact artifact = artifact((int) (RATE * 8));
        dropAfter.set((int) (RATE * 3));
        DownloadPace pace = new DownloadPace(0);
        long start = System.nanoTime();
        DownloadProgress summary;
        try (DownloadPace.Transfer transfer = pace.begin(RATE, artifact.getSize(), p -> { })) { // the desired state's limit
            transfer.nextArchive(artifact.getSize());
            Path file = cache(pace).fetch(artifact);
            assertThat(Files.size(file)).isEqualTo(artifact.getSize());
            summary = transfer.summary();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        double rate = artifact.getSize() / seconds;
        System.out.printf("resumed at %s: %d bytes in %.2f s = %.0f B/s (%.1f %% of the limit)%n", ranges, artifact.getSize(), seconds,
                rate, 100 * rate / RATE);
        assertThat(ranges).hasSize(2);
        assertThat(ranges.get(1)).startsWith("bytes=").isNotEqualTo("bytes=0-");
        assertThat(rate).isLessThanOrEqualTo(RATE * 1.10);
        // what was on disk was not fetched again: the bytes moved are the archive's, at most a socket buffer more
        assertThat(summary.getBytesMoved()).isEqualTo(artifact.getSize());
    }

    @Test
    void aBusyOrchestratorIsWaitedOutWithoutSpendingTheDownloadAttempts() throws Exception {
        ImageArtifact artifact = artifact(64 * 1024);
        busyAnswers.set(4); // more "busy" answers than a download has attempts
        long start = System.nanoTime();
        Path file = cache(new DownloadPace(0)).fetch(artifact);
        double seconds = (System.nanoTime() - start) / 1e9;
        assertThat(Files.size(file)).isEqualTo(artifact.getSize());
        assertThat(busyAnswers).hasValue(0);
        assertThat(seconds).as("waited the 1 s the server asked, four times").isGreaterThanOrEqualTo(3.9);
    }
}
