package dev.turnout.edge.cache;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The body of a download, given up when one read has waited {@code limit} without a byte. Java's HTTP client has no
 * read timeout for a body: a link that goes silent without a reset (the Wi-Fi gone, a NAT box that forgot the
 * connection, a router that drops packets) held the download's read for ever, and the update with it. Only a read
 * that waits counts: a rate limit pausing between reads, or a link slow but moving, is not given up.
 *
 * <p>Given up, the body is closed (which wakes the read) and the read fails with an {@link IOException} that says so:
 * the download is tried again like any broken transfer and resumes where it stopped (a Range request).
 */
final class SilentLinkGuard extends FilterInputStream {

    private static final ScheduledExecutorService WATCH = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "turnout-download-watch");
        t.setDaemon(true);
        return t;
    });

    private final Duration limit;
    private final ScheduledFuture<?> check;
    /** When the read under way started (System.nanoTime()); 0 when no read waits. */
    private volatile long readingSince;
    private volatile boolean givenUp;

    SilentLinkGuard(InputStream body, Duration limit) {
        super(body);
        this.limit = limit;
        long every = Math.max(50, limit.toMillis() / 4);
        this.check = WATCH.scheduleWithFixedDelay(this::check, every, every, TimeUnit.MILLISECONDS);
    }

    private void check() {
        long since = readingSince;
        if (since != 0 && System.nanoTime() - since > limit.toNanos() && !givenUp) {
            givenUp = true;
            check.cancel(false);
            try {
                in.close();
            } catch (IOException | RuntimeException ignored) {
                // the read fails or ends either way
            }
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        readingSince = System.nanoTime();
        try {
            int n = in.read(b, off, len);
            if (givenUp) {
                throw silent(null);
            }
            return n;
        } catch (IOException e) {
            if (givenUp) {
                throw silent(e);
            }
            throw e;
        } finally {
            readingSince = 0;
        }
    }

    private IOException silent(IOException cause) {
        String waited = limit.toMillis() % 1000 == 0 ? limit.toSeconds() + " s" : limit.toMillis() + " ms";
        return new IOException("the connection carried no byte for " + waited + ": given up", cause);
    }

    @Override
    public void close() throws IOException {
        check.cancel(false);
        super.close();
    }
}
