package dev.turnout.orchestrator.webhook;

import java.time.Duration;

/**
 * How deliveries are tried: up to {@code attempts} POSTs, waiting {@code firstDelay}, then {@code factor}
 * times longer each time (1 s, 4 s, 16 s, 64 s by default); each POST bounded by {@code timeout} to
 * connect and again to answer. Network errors, timeouts, 5xx and 429 are tried again; any other status
 * below 200 or from 300 is final. Each webhook holds at most {@code queueCapacity} deliveries waiting.
 */
public record RetryPolicy(int attempts, Duration firstDelay, int factor, Duration timeout, int queueCapacity) {

    /** 5 attempts 1 s, 4 s, 16 s, 64 s apart, 10 s timeouts, 1,000 deliveries waiting per webhook. */
    public static final RetryPolicy DEFAULT = new RetryPolicy(5, Duration.ofSeconds(1), 4, Duration.ofSeconds(10), 1000);

    public RetryPolicy {
        if (attempts < 1 || factor < 1 || queueCapacity < 1 || firstDelay.isNegative() || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("attempts, factor and queueCapacity must be at least 1, delays not negative");
        }
    }

    /** The wait before attempt {@code attempt} (2 is the first retry); zero before the first. */
    public Duration delayBefore(int attempt) {
        if (attempt <= 1) {
            return Duration.ZERO;
        }
        Duration d = firstDelay;
        for (int i = 2; i < attempt; i++) {
            d = d.multipliedBy(factor);
        }
        return d;
    }

    /** True when an answer with {@code status} is worth trying again. */
    public static boolean retryable(int status) {
        return status == 429 || status >= 500;
    }

    /** True when {@code status} means delivered. */
    public static boolean delivered(int status) {
        return status >= 200 && status < 300;
    }
}
