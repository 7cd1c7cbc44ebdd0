package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.engine.MutableClock;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class FleetSizeTest {

    @Test
    void countsAtMostOncePerMaxAgeAndKeepsTheLastCountWhenTheStoreFails() {
        MutableClock clock = new MutableClock(Instant.parse("2026-12-06T10:00:00Z"));
        List<String> devices = new ArrayList<>(List.of("a", "b"));
        AtomicInteger reads = new AtomicInteger();
        boolean[] failing = {false};
        FleetSize size = new FleetSize(() -> {
            reads.incrementAndGet();
            if (failing[0]) {
                throw new IllegalStateException("database is locked");
            }
            return devices;
        }, clock, Duration.ofMinutes(1));

        assertThat(size.getAsLong()).isEqualTo(2);
        devices.add("c");
        assertThat(size.getAsLong()).as("within the minute: the cached count").isEqualTo(2);
        assertThat(reads).hasValue(1);

        clock.advance(Duration.ofMinutes(1));
        assertThat(size.getAsLong()).isEqualTo(3);

        failing[0] = true;
        clock.advance(Duration.ofMinutes(1));
        assertThat(size.getAsLong()).as("a failed count keeps the last").isEqualTo(3);
        assertThat(reads).hasValue(3);
    }
}
