package dev.turnout.edge.cache;

import com.sun.net.httpserver.HttpServer;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.testsupport.FaultProxy;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Fault-matrix row 7 for downloads, and a link that goes silent: a real HTTP server over real sockets. A download whose
 * connection stops carrying bytes without being reset (the Wi-Fi gone, a NAT box that forgot it) is given up after the
 * silent-link limit and resumed where it stopped; a download over a link of 64 kbit/s, slow but moving, is never given up.
 * About 10 s.
 */
class SilentLinkDownloadIT {

    private static final Duration SILENT_LIMIT = Duration.ofSeconds(2);

    @TempDir
    Path dir;

    private final List<String> ranges = new CopyOnWriteArrayList<>();
    /** The first answer sends this many bytes, then goes silent with its connection open (0: it sends everything). */
    private volatile int silentAfter;
    private final AtomicBoolean wentSilent = new AtomicBoolean();
    private final CountDownLatch end = new CountDownLatch(1);
    private volatile byte[] served;
    private HttpServer server;
    private FaultProxy proxy;

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newCachedThreadPool());
        server.createContext("/api/v1/artifacts/", exchange -> {
            String range = exchange.getRequestHeaders().getFirst("Range");
            ranges.add(range == null ? "" : range);
            byte[] body = served;
            int from = range == null ? 0 : Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
            exchange.sendResponseHeaders(from > 0 ? 206 : 200, body.length - from);
            OutputStream out = exchange.getResponseBody();
            try {
                if (silentAfter > 0 && wentSilent.compareAndSet(false, true)) {
                    out.write(body, from, silentAfter);
                    out.flush();
                    end.await(60, TimeUnit.SECONDS); // silent: the connection stays open, nothing more comes
                    return;
                }
                out.write(body, from, body.length - from);
                out.close();
            } catch (IOException | InterruptedException e) {
                // the client went away
            }
        });
        server.start();
        proxy = FaultProxy.to("127.0.0.1", server.getAddress().getPort());
    }

    @AfterEach
    void stopServer() {
        end.countDown();
        proxy.close();
        server.stop(0);
    }

    private ImageArtifact artifact(int size) throws Exception {
        served = RandomArtifacts.content(size);
        return RandomArtifacts.of(served);
    }

    private ArtifactCache cache() {
        return new ArtifactCache(dir, proxy.url("http"), 0, Duration.ofMillis(100)).givingUpSilentLinksAfter(SILENT_LIMIT);
    }

    @Test
    void aDownloadWhoseLinkGoesSilentIsGivenUpAfterTheLimitAndResumedWhereItStopped() throws Exception {
        ImageArtifact artifact = artifact(300 * 1024);
        silentAfter = 100 * 1024;
        long start = System.nanoTime();
        // before the guard this read waited for ever: fail instead of hanging the suite
        Path file = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> cache().fetch(artifact));
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("a download silent after %d bytes: done in %.1f s (silent-link limit %d s), requests %s%n",
                silentAfter, seconds, SILENT_LIMIT.toSeconds(), ranges);
        assertThat(Files.size(file)).isEqualTo(artifact.getSize());
        assertThat(ranges).as("the whole, then the rest from where it stopped").containsExactly("", "bytes=" + silentAfter + "-");
        assertThat(seconds).as("given up after the limit, not before").isGreaterThanOrEqualTo(SILENT_LIMIT.toMillis() / 1000.0);
    }

    @Test
    void aDownloadOverA64KbitPerSecondLinkSlowerThanTheLimitPerChunkIsNeverGivenUp() throws Exception {
        ImageArtifact artifact = artifact(40 * 1024);
        proxy.throttle(8_000); // 64 kbit/s each way
        long start = System.nanoTime();
        Path file = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> cache().fetch(artifact));
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("%d bytes over 64 kbit/s: %.1f s, requests %s%n", artifact.getSize(), seconds, ranges);
        assertThat(Files.size(file)).isEqualTo(artifact.getSize());
        assertThat(ranges).as("one request: never given up").containsExactly("");
        assertThat(seconds).as("it did go at 64 kbit/s, for longer than the limit").isGreaterThan(4.0);
    }
}
