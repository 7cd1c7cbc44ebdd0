package dev.turnout.edge.transfer;

import dev.turnout.proto.DownloadProgress;
import dev.turnout.proto.transfer.ByteRate;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * How fast the device downloads and how far it has come. The update engine opens a {@link Transfer} for the release it
 * stages (its rate limit: the lower of the device's and the desired state's; the size of its archives; where progress
 * reports go); the artifact cache passes every response body through {@link #wrap}, which holds the rate with a token
 * bucket and counts the bytes. One bucket per transfer: a download resumed after a dropped connection goes on at the
 * same pace instead of starting with a fresh burst.
 */
public final class DownloadPace {

    /** At most one progress report per app in this interval, so a slow download does not flood the broker. */
    public static final Duration REPORT_EVERY = Duration.ofSeconds(2);

    private final long deviceLimit;
    private final LongSupplier nanoTime;
    private final Duration reportEvery;
    private volatile Transfer current;

    /** @param deviceLimit the device's own limit in bytes per second (download.rateLimit); 0: none */
    public DownloadPace(long deviceLimit) {
        this(deviceLimit, System::nanoTime, REPORT_EVERY);
    }

    DownloadPace(long deviceLimit, LongSupplier nanoTime, Duration reportEvery) {
        if (deviceLimit < 0) {
            throw new IllegalArgumentException("download rate limit must not be negative");
        }
        this.deviceLimit = deviceLimit;
        this.nanoTime = nanoTime;
        this.reportEvery = reportEvery;
    }

    /**
     * Starts the download of one release; close it when the release is staged or has failed.
     *
     * @param releaseLimit the desired state's limit in bytes per second (0: none); the lower of it and the device's applies
     * @param totalBytes   the size of the release's archives
     * @param progress     gets a progress report at most every {@link #REPORT_EVERY} while bytes flow
     */
    public Transfer begin(long releaseLimit, long totalBytes, Consumer<DownloadProgress> progress) {
        Transfer transfer = new Transfer(ByteRate.lower(deviceLimit, releaseLimit), totalBytes, progress);
        current = transfer;
        return transfer;
    }

    /**
     * The response body {@code in}, paced and counted by the open transfer (outside one: paced by the device's limit).
     *
     * @param offset bytes of this archive already on disk (a resumed download), for the progress report
     */
    public InputStream wrap(InputStream in, long offset) {
        Transfer transfer = current;
        if (transfer == null) {
            transfer = new Transfer(deviceLimit, 0, null);
        }
        transfer.archiveOffset = offset;
        transfer.restartInterval(); // the time before this response (a wait in the server's queue, a back-off) is no rate
        return transfer.new Counted(in);
    }

    /** The rate that applies to a transfer with the desired state's {@code releaseLimit} (bytes per second, 0: none). */
    public long limitFor(long releaseLimit) {
        return ByteRate.lower(deviceLimit, releaseLimit);
    }

    /** The download of one release: its bucket, its counts. Used by the worker thread only. */
    public final class Transfer implements AutoCloseable {
        private final long limit;
        private final long total;
        private final Consumer<DownloadProgress> progress;
        private final Bucket bucket;
        /**
         * Largest read that takes tokens at once: the bucket's capacity, a tenth of a second of the rate (at least 8 KiB).
         * It is also the burst a download may make after a pause (between two blobs, while one is checked): a tenth of
         * a second keeps any 2 s progress interval within 5 % of the limit (a quarter second let one show 12.5 % over).
         */
        private final int chunk;
        private final long started = nanoTime.getAsLong();
        private long before;
        private long archiveSize;
        private long archiveOffset;
        private long moved;
        private long lastReportNanos = started;
        private long lastReportMoved;

        private Transfer(long limit, long total, Consumer<DownloadProgress> progress) {
            this.limit = limit;
            this.total = total;
            this.progress = progress;
            if (limit > 0) {
                long capacity = Math.max(1, Math.min(limit, Math.max(limit / 10, 8192)));
                this.chunk = (int) Math.min(capacity, 64 * 1024);
                this.bucket = Bucket.builder()
                        .addLimit(Bandwidth.builder().capacity(capacity).refillGreedy(limit, Duration.ofSeconds(1)).build())
                        .build();
            } else {
                this.chunk = Integer.MAX_VALUE;
                this.bucket = null;
            }
        }

        /** The next archive of the release ({@code size} bytes) is about to be fetched; the previous one is done. */
        public void nextArchive(long size) {
            before += archiveSize;
            archiveSize = size;
            archiveOffset = 0;
        }

        /** The rate this transfer holds, bytes per second (0: none). */
        public long limit() {
            return limit;
        }

        /** Bytes that crossed the network so far. */
        public long moved() {
            return moved;
        }

        /** The totals once every archive is on the device: all of it done, what moved, the average rate. */
        public DownloadProgress summary() {
            long elapsed = nanoTime.getAsLong() - started;
            return DownloadProgress.newBuilder().setBytesDone(total).setBytesTotal(total).setBytesMoved(moved)
                    .setRateBps(elapsed <= 0 || moved == 0 ? 0 : Math.round(moved * 1e9 / elapsed)).build();
        }

        @Override
        public void close() {
            if (current == this) {
                current = null;
            }
        }

        private void restartInterval() {
            lastReportNanos = nanoTime.getAsLong();
            lastReportMoved = moved;
        }

        private void took(int n, long readSoFar) throws InterruptedIOException {
            if (bucket != null) {
                try {
                    bucket.asBlocking().consume(n);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("download interrupted");
                }
            }
            moved += n;
            long now = nanoTime.getAsLong();
            long since = now - lastReportNanos;
            if (progress != null && since >= reportEvery.toNanos()) {
                long rate = Math.round((moved - lastReportMoved) * 1e9 / since);
                lastReportNanos = now;
                lastReportMoved = moved;
                progress.accept(DownloadProgress.newBuilder().setBytesDone(Math.min(total, before + archiveOffset + readSoFar))
                        .setBytesTotal(total).setRateBps(rate).setBytesMoved(moved).build());
            }
        }

        /** A response body read at the transfer's pace. */
        private final class Counted extends FilterInputStream {
            private long read;

            Counted(InputStream in) {
                super(in);
            }

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, Math.min(len, chunk));
                if (n > 0) {
                    read += n;
                    took(n, read);
                }
                return n;
            }

            @Override
            public long skip(long n) {
                return 0; // every byte is read, paced and counted
            }
        }
    }
}
