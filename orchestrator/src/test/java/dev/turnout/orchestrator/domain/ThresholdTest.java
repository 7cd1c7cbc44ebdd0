package dev.turnout.orchestrator.domain;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ThresholdTest {

    @ParameterizedTest(name = "{0} of {1} = {2}")
    @CsvSource({"0,10,0", "2,10,2", "10%,10,1", "10%,11,2", "50%,3,2", "100%,7,7", "0%,5,0", "3,1,3", " 5% ,100,5"})
    void percentagesRoundUp(String text, long total, long expected) {
        assertThat(Threshold.parse(text, "maxFailures").of(total)).isEqualTo(expected);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "x", "-1", "101%", "1.5", "2 devices"})
    void invalidThresholdsNameTheField(String text) {
        assertThatThrownBy(() -> Threshold.parse(text, "maxFailures"))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("maxFailures");
    }
}
