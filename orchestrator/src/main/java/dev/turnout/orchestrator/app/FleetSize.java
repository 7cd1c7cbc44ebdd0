package dev.turnout.orchestrator.app;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The number of enrolled devices, counted again at most once per {@code maxAge}: signing a desired state asks for
 * it (to size the reconnect window), and a rollout signs thousands a second. A failed count keeps the last one.
 */
final class FleetSize implements LongSupplier {

    private final Supplier<? extends List<?>> devices;
    private final Clock clock;
    private final Duration maxAge;
    private long count;
    private long countedAtMs = Long.MIN_VALUE;

    FleetSize(Supplier<? extends List<?>> devices, Clock clock, Duration maxAge) {
        this.devices = devices;
        this.clock = clock;
        this.maxAge = maxAge;
    }

    @Override
    public synchronized long getAsLong() {
        long now = clock.millis();
        if (countedAtMs == Long.MIN_VALUE || now - countedAtMs >= maxAge.toMillis()) {
            try {
                count = devices.get().size();
            } catch (RuntimeException e) {
                // keep the last count: the window is advice, a store hiccup must not fail a signature
            }
            countedAtMs = now;
        }
        return count;
    }
}
