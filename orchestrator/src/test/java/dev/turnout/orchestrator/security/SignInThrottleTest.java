package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.engine.MutableClock;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;

class SignInThrottleTest {

    private final MutableClock clock = new MutableClock(Instant.parse("2026-12-06T12:00:00Z"));
    private final SignInThrottle throttle = new SignInThrottle(clock);

    @Test
    void aPersonWhoMistypesAFewTimesIsNeverSlowedDown() {
        for (int i = 0; i < SignInThrottle.FREE_PER_NAME; i++) {
            assertThat(throttle.waitFor("vera", "10.0.0.5")).isEmpty();
            assertThat(throttle.failed("vera", "10.0.0.5")).isZero();
        }
        assertThat(throttle.waitFor("vera", "10.0.0.5")).isEmpty();
        throttle.succeeded("vera", "10.0.0.5");
        assertThat(throttle.failed("vera", "10.0.0.5")).as("a success starts afresh").isZero();
    }

    @Test
    void guessingOneNameWaitsLongerAndLongerUpToFifteenMinutesFromAnyAddress() {
        for (int i = 0; i < SignInThrottle.FREE_PER_NAME; i++) {
            throttle.failed("Vera", "10.0.0." + i);
        }
        assertThat(throttle.failed("vera", "10.0.0.9")).isEqualTo(Duration.ofSeconds(30));
        assertThat(throttle.waitFor("VERA", "192.168.1.1")).as("names compare without case, any address").contains(Duration.ofSeconds(30));
        assertThat(throttle.waitFor("dora", "10.0.0.9")).as("another name from the same address").isEmpty();
        clock.advance(Duration.ofSeconds(31));
        assertThat(throttle.waitFor("vera", "10.0.0.9")).isEmpty();
        assertThat(throttle.failed("vera", "10.0.0.9")).isEqualTo(Duration.ofSeconds(60));
        Duration wait = Duration.ZERO;
        for (int i = 0; i < 12; i++) {
            clock.advance(wait.plusSeconds(1));
            wait = throttle.failed("vera", "10.0.0.9");
        }
        assertThat(wait).isEqualTo(SignInThrottle.LONGEST_WAIT);
    }

    @Test
    void oneAddressTryingManyNamesWaitsToo() {
        for (int i = 0; i < SignInThrottle.FREE_PER_ADDRESS; i++) {
            throttle.failed("user" + i, "203.0.113.7");
        }
        assertThat(throttle.waitFor("someone-new", "203.0.113.7")).isEmpty();
        throttle.failed("someone-new", "203.0.113.7");
        assertThat(throttle.waitFor("another", "203.0.113.7")).contains(Duration.ofSeconds(30));
        assertThat(throttle.waitFor("another", "203.0.113.8")).isEmpty();
        throttle.failed(null, "203.0.113.7"); // a wrong operator token counts for the address
        assertThat(throttle.waitFor(null, "203.0.113.7")).contains(Duration.ofSeconds(60));
    }

    @Test
    void failuresAreForgottenAfterAQuietQuarterOfAnHour() {
        for (int i = 0; i < SignInThrottle.FREE_PER_NAME; i++) {
            throttle.failed("vera", "10.0.0.5");
        }
        clock.advance(SignInThrottle.FORGET_AFTER.plusSeconds(1));
        assertThat(throttle.failed("vera", "10.0.0.5")).as("counted from one again").isZero();
    }
}
