package dev.turnout.orchestrator.webhook;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RetryPolicyTest {

    @Test
    void theDefaultWaitsOneFourSixteenAndSixtyFourSecondsBetweenFiveAttempts() {
        RetryPolicy p = RetryPolicy.DEFAULT;
        assertThat(p.attempts()).isEqualTo(5);
        assertThat(IntStream.rangeClosed(1, p.attempts()).mapToObj(p::delayBefore))
                .containsExactly(Duration.ZERO, Duration.ofSeconds(1), Duration.ofSeconds(4), Duration.ofSeconds(16), Duration.ofSeconds(64));
        assertThat(p.timeout()).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void aShortScheduleForTestsGrowsByItsFactor() {
        RetryPolicy p = new RetryPolicy(4, Duration.ofMillis(50), 2, Duration.ofSeconds(1), 10);
        assertThat(IntStream.rangeClosed(1, 4).mapToObj(p::delayBefore))
                .containsExactly(Duration.ZERO, Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(200));
    }

    @ParameterizedTest(name = "HTTP {0}: delivered {1}, retried {2}")
    @CsvSource({
        "200, true,  false",
        "204, true,  false",
        "301, false, false",
        "400, false, false",
        "401, false, false",
        "404, false, false",
        "410, false, false",
        "429, false, true",
        "500, false, true",
        "502, false, true",
        "503, false, true",
    })
    void whatIsDeliveredWhatIsRetriedAndWhatIsFinal(int status, boolean delivered, boolean retried) {
        assertThat(RetryPolicy.delivered(status)).isEqualTo(delivered);
        assertThat(RetryPolicy.retryable(status)).isEqualTo(retried);
    }

    @Test
    void refusesNoAttemptsAndNoQueue() {
        assertThatThrownBy(() -> new RetryPolicy(0, Duration.ZERO, 2, Duration.ofSeconds(1), 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new RetryPolicy(1, Duration.ZERO, 2, Duration.ofSeconds(1), 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
