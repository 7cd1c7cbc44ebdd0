package dev.turnout.orchestrator.http;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The cap on artifact downloads served at once. A download takes a slot for as long as its response lasts (sent,
 * failed or cut off); one over the cap is refused at once with a Retry-After instead of queueing on the server, so a
 * fleet that stages together cannot fill the site's uplink, the disk's queue or the server's file handles. The delay
 * is spread (base plus up to as much again) so the refused devices do not all come back in the same second.
 */
final class DownloadSlots {

    /** Seconds a refused device waits at least before it asks again. */
    static final int RETRY_AFTER_SECONDS = 5;

    private final int max;
    private final AtomicInteger taken = new AtomicInteger();

    DownloadSlots(int max) {
        if (max < 1) {
            throw new IllegalArgumentException("at least one download must be served at once");
        }
        this.max = max;
    }

    /** No cap (tests and tools that serve one client). */
    static DownloadSlots unlimited() {
        return new DownloadSlots(Integer.MAX_VALUE);
    }

    /** Takes a slot; false when all {@link #max()} are taken. */
    boolean take() {
        while (true) {
            int now = taken.get();
            if (now >= max) {
                return false;
            }
            if (taken.compareAndSet(now, now + 1)) {
                return true;
            }
        }
    }

    void give() {
        taken.decrementAndGet();
    }

    int max() {
        return max;
    }

    int inUse() {
        return taken.get();
    }

    /** The Retry-After of a refusal, in seconds. */
    static int retryAfterSeconds() {
        return RETRY_AFTER_SECONDS + ThreadLocalRandom.current().nextInt(RETRY_AFTER_SECONDS + 1);
    }
}
