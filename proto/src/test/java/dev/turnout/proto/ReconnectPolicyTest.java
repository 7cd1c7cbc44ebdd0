package dev.turnout.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ReconnectPolicyTest {

    /** The bound each attempt draws from: the operator passed in returns its bound minus one (the largest value). */
    @ParameterizedTest(name = "attempt {0}, window {1} ms -> at most {2} ms")
    @CsvSource({
            // no window: 1 s, 2 s, 4 s … capped at 30 s
            "0, 0, 999", "1, 0, 1999", "4, 0, 15999", "5, 0, 29999", "30, 0, 29999",
            // a fleet's window: the first attempt spreads over it, later ones never wait longer than it or 30 s
            "0, 20000, 19999", "3, 20000, 19999", "5, 20000, 29999", "9, 20000, 29999",
            // a window longer than the cap is the cap
            "0, 60000, 59999", "8, 60000, 59999",
            // a window beyond five minutes is cut to five minutes; a negative one is none
            "0, 99999999, 299999", "0, -5, 999",
    })
    void drawsFromTheRightBound(int attempt, long window, long largest) {
        assertThat(ReconnectPolicy.delayMs(attempt, window, bound -> bound - 1)).isEqualTo(largest);
        assertThat(ReconnectPolicy.delayMs(attempt, window, bound -> 0)).isZero();
    }

    /** A device's own cap (reconnectBackoffMax) replaces the 30 s; a cap under a second is also the first step. */
    @ParameterizedTest(name = "attempt {0}, window {1} ms, cap {2} ms -> at most {3} ms")
    @CsvSource({
            "0, 0, 1000, 999", "5, 0, 1000, 999", "30, 0, 1000, 999",
            "0, 0, 500, 499", "3, 0, 500, 499",
            "0, 0, 60000, 999", "5, 0, 60000, 31999", "6, 0, 60000, 59999",
            // the fleet's window still spreads the first attempt, whatever the cap
            "0, 20000, 1000, 19999", "9, 20000, 1000, 19999",
    })
    void aDevicesOwnCapBoundsItsWaits(int attempt, long window, long cap, long largest) {
        assertThat(ReconnectPolicy.delayMs(attempt, window, cap, bound -> bound - 1)).isEqualTo(largest);
    }

    @Test
    void tenThousandDevicesSpreadEvenlyOverTheirWindow() {
        Random random = new Random(42);
        long window = ReconnectPolicy.windowFor(10_000, ReconnectPolicy.DEFAULT_CONNECTS_PER_SECOND).toMillis();
        assertThat(window).isEqualTo(20_000);
        int[] perSecond = new int[20];
        for (int i = 0; i < 10_000; i++) {
            long delay = ReconnectPolicy.delayMs(0, window, bound -> (long) (random.nextDouble() * bound));
            perSecond[(int) (delay / 1000)]++;
        }
        // 500 a second on average; no second gets more than 20 % over it (the old lockstep put all 10,000 at 1 s)
        for (int count : perSecond) {
            assertThat(count).isBetween(400, 600);
        }
    }

    @ParameterizedTest(name = "{0} devices at {1}/s -> {2} ms")
    @CsvSource({"12, 500, 0", "500, 500, 0", "501, 500, 1002", "2000, 500, 4000", "10000, 500, 20000",
            "10000, 250, 40000", "1000000, 500, 300000", "0, 500, 0"})
    void windowIsSizedToTheFleet(long devices, int rate, long expectedMs) {
        assertThat(ReconnectPolicy.windowFor(devices, rate)).isEqualTo(Duration.ofMillis(expectedMs));
    }

    @Test
    void aRateOfZeroIsRefused() {
        assertThatThrownBy(() -> ReconnectPolicy.windowFor(10, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("positive");
    }
}
