package dev.turnout.edge.cache;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The orchestrator caps how many artifact downloads it serves at once; one more is answered 503 with a
 * {@code Retry-After}. That is a place in a queue, not a failure: the device waits the delay the server named and asks
 * again, without spending one of its download attempts, for at most {@link #MAX_WAIT} in all.
 */
final class DownloadQueue {

    private static final Logger log = LoggerFactory.getLogger(DownloadQueue.class);
    /** How long a device waits for a download slot before the 503 counts as a failed attempt after all. */
    static final Duration MAX_WAIT = Duration.ofHours(1);
    private static final long MAX_DELAY_SECONDS = 300;

    interface Send {
        HttpResponse<InputStream> send() throws IOException, InterruptedException;
    }

    private DownloadQueue() {
    }

    /** Sends, and sends again after each "busy" answer (503 with Retry-After) until the server takes it or MAX_WAIT is spent. */
    static HttpResponse<InputStream> sendWhenServed(Send send) throws IOException, InterruptedException {
        long waited = 0;
        while (true) {
            HttpResponse<InputStream> response = send.send();
            long delay = busyFor(response);
            if (delay < 0 || waited + delay > MAX_WAIT.toSeconds()) {
                return response;
            }
            response.body().close();
            log.info("the orchestrator serves its maximum of downloads at once; asking again in {} s", delay);
            Thread.sleep(delay * 1000);
            waited += delay;
        }
    }

    /** Seconds the server asks us to wait, or -1 when the answer is not "busy". */
    static long busyFor(HttpResponse<?> response) {
        if (response.statusCode() != 503) {
            return -1;
        }
        String after = response.headers().firstValue("Retry-After").orElse("").strip();
        if (!after.matches("\\d{1,9}")) {
            return -1; // a 503 without a delay in seconds: an outage, which the attempts and their back-off handle
        }
        return Math.max(1, Math.min(MAX_DELAY_SECONDS, Long.parseLong(after)));
    }
}
