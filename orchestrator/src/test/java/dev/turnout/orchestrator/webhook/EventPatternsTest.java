package dev.turnout.orchestrator.webhook;

import dev.turnout.orchestrator.domain.InvalidInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EventPatternsTest {

    @ParameterizedTest(name = "{0} matches {1}: {2}")
    @CsvSource(delimiter = '|', value = {
        "rollout.*                  | rollout.started       | true",
        "rollout.*                  | rollout.rolled_back   | true",
        "rollout.*                  | device.failed         | false",
        "*                          | device.offline        | true",
        "*                          | rollout.wave_started  | true",
        "device.failed              | device.failed         | true",
        "device.failed              | device.failed_twice   | false",
        "device.failed              | xdevice.failed        | false",
        "rollout.*,device.failed    | device.failed         | true",
        "rollout.*,device.failed    | device.online         | false",
        "*.failed                   | rollout.failed        | true",
        "*.failed                   | device.failed         | true",
        "*.failed                   | rollout.completed     | false",
        "rollout.wave_*             | rollout.wave_started  | true",
        "rollout.wave_*             | rollout.started       | false",
        "device.*line               | device.online         | true",
        "device.*line               | device.offline        | true",
    })
    void globsMatchWholeNames(String patterns, String event, boolean matches) {
        assertThat(EventPatterns.parse(List.of(patterns)).matches(event)).isEqualTo(matches);
    }

    @Test
    void aDotIsNotAWildcard() {
        assertThat(EventPatterns.parse(List.of("rollout.failed")).matches("rolloutxfailed")).isFalse();
    }

    @Test
    void listsAndCommasAreReadTheSameAndDuplicatesGo() {
        assertThat(EventPatterns.parse(List.of("rollout.*, device.failed", "device.failed")).patterns())
                .containsExactly("rollout.*", "device.failed");
    }

    @ParameterizedTest(name = "{0}: {1}")
    @CsvSource(delimiter = '|', value = {
        "''                   | at least one event pattern",
        "' , '                | at least one event pattern",
        "rollout.finished     | matches no event; known events: rollout.started",
        "Rollout.*            | may hold only a-z",
        "rollout.?            | may hold only a-z",
        "deploy.*             | matches no event",
    })
    void refusesWhatMatchesNothingOrIsMalformed(String patterns, String message) {
        assertThatThrownBy(() -> EventPatterns.parse(Arrays.asList(patterns)))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining(message);
    }
}
