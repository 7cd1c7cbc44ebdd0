package dev.turnout.edge.health;

import java.time.Duration;

/** Monotonic time and waiting, injectable so tests move time by hand. */
public interface MonotonicClock {

    MonotonicClock SYSTEM = new MonotonicClock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public void sleep(Duration duration) throws InterruptedException {
            Thread.sleep(Math.max(0, duration.toMillis()));
        }
    };

    long nanoTime();

    void sleep(Duration duration) throws InterruptedException;
}
