package dev.turnout.orchestrator.domain;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DurationsTest {

    @ParameterizedTest(name = "{0} = {1} ms")
    @CsvSource({"500ms,500", "5s,5000", "2m,120000", "1h,3600000", "1m30s,90000", "0s,0", "1h2m3s4ms,3723004", "1d,86400000"})
    void parses(String text, long millis) {
        assertThat(Durations.parse(text, "soak")).isEqualTo(Duration.ofMillis(millis));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "5", "s", "5 s", "1.5s", "-1s", "5sec", "1m30"})
    void refusesNamingTheField(String text) {
        assertThatThrownBy(() -> Durations.parse(text, "spec.health.soak"))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("spec.health.soak");
    }

    @Test
    void formatsBackToTheSameDuration() {
        for (String text : new String[] {"500ms", "5s", "2m", "1h", "1m30s", "10m"}) {
            assertThat(Durations.format(Durations.parse(text, "x"))).isEqualTo(text);
        }
    }
}
