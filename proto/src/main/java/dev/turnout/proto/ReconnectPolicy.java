package dev.turnout.proto;

import java.time.Duration;
import java.util.function.LongUnaryOperator;

/**
 * When a device tries the broker again after losing it: full-jitter exponential back-off whose first step is
 * the fleet's reconnect window. Attempt {@code n} (0 = the first after the loss) waits a uniformly random time in
 * {@code [0, max(window, BASE * 2^n))}, capped at {@code max(window, CAP)}. Without the jitter every device of a
 * fleet retries at the same instants (1 s, 2 s, 4 s … after the broker went away) and the broker's listen backlog
 * overflows at each of them; with it, arrivals spread evenly over the window, which the orchestrator sizes so that
 * the fleet arrives at a rate the broker accepts ({@link #windowFor}). See AWS's "Exponential Backoff And Jitter".
 */
public final class ReconnectPolicy {

    /** The first step when no window is known (a small fleet, or before the first desired state). */
    public static final Duration BASE = Duration.ofSeconds(1);
    /** The longest wait between attempts, unless the fleet's window is longer. */
    public static final Duration CAP = Duration.ofSeconds(30);
    /** The longest window a device accepts: a desired state cannot keep it away longer than this. */
    public static final Duration MAX_WINDOW = Duration.ofMinutes(5);
    /** Connections a second the orchestrator plans for when it sizes the window: both brokers accept more. */
    public static final int DEFAULT_CONNECTS_PER_SECOND = 500;

    private ReconnectPolicy() {
    }

    /**
     * The window for a fleet of {@code devices} arriving at {@code connectsPerSecond}: 0 for a fleet that arrives
     * within {@link #BASE} anyway, never more than {@link #MAX_WINDOW}.
     */
    public static Duration windowFor(long devices, int connectsPerSecond) {
        if (connectsPerSecond <= 0) {
            throw new IllegalArgumentException("connects per second must be positive, not " + connectsPerSecond);
        }
        long ms = Math.max(0, devices) * 1000 / connectsPerSecond;
        return ms <= BASE.toMillis() ? Duration.ZERO : Duration.ofMillis(Math.min(ms, MAX_WINDOW.toMillis()));
    }

    /**
     * Milliseconds to wait before attempt {@code attempt} (0-based) with the fleet's {@code windowMs} (0 or less: none
     * known; more than {@link #MAX_WINDOW}: cut to it). {@code random} maps a bound {@code b > 0} to a value in
     * {@code [0, b)} ({@code bound -> ThreadLocalRandom.current().nextLong(bound)}).
     */
    public static long delayMs(int attempt, long windowMs, LongUnaryOperator random) {
        return delayMs(attempt, windowMs, CAP.toMillis(), random);
    }

    /**
     * As {@link #delayMs(int, long, LongUnaryOperator)} with {@code capMs} instead of {@link #CAP} (a device's
     * {@code reconnectBackoffMax}); the first step is then {@link #BASE} or the cap, whichever is shorter.
     */
    public static long delayMs(int attempt, long windowMs, long capMs, LongUnaryOperator random) {
        long cap = Math.max(1, capMs);
        long window = Math.min(Math.max(0, windowMs), MAX_WINDOW.toMillis());
        long step = Math.min(BASE.toMillis(), cap) << Math.min(Math.max(0, attempt), 20);
        long bound = Math.min(Math.max(window, step), Math.max(window, cap));
        return random.applyAsLong(Math.max(1, bound));
    }

    /** {@link #delayMs(int, long, LongUnaryOperator)} with {@link java.util.concurrent.ThreadLocalRandom}. */
    public static long delayMs(int attempt, long windowMs) {
        return delayMs(attempt, windowMs, CAP.toMillis());
    }

    /** {@link #delayMs(int, long, long, LongUnaryOperator)} with {@link java.util.concurrent.ThreadLocalRandom}. */
    public static long delayMs(int attempt, long windowMs, long capMs) {
        return delayMs(attempt, windowMs, capMs, bound -> java.util.concurrent.ThreadLocalRandom.current().nextLong(bound));
    }
}
