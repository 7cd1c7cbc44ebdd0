package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.InvalidInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RolloutRequestTest {

    @ParameterizedTest(name = "canary \"{0}\" -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            pi-1              | [pi-1]
            'pi-3,pi-1'       | [pi-3, pi-1]
            ' pi-3 , pi-1 '   | [pi-3, pi-1]
            'pi-1,pi-2,pi-1'  | [pi-1, pi-2]
            ''                | refused
            ' '               | refused
            'pi-1,,pi-2'      | refused
            'pi-1,'           | refused
            """)
    void canaryIsAListOfIdsEachOnce(String text, String expected) {
        if (expected.equals("refused")) {
            assertThatThrownBy(() -> parse(text, null, null)).isInstanceOf(InvalidInputException.class)
                    .hasMessage("canary '" + text + "' must be device ids: ID[,ID...]");
        } else {
            assertThat(parse(text, null, null).canary().toString()).isEqualTo(expected);
        }
    }

    @Test
    void supersedeAndCanaryDefaultToOffAndAnEmergencyHasNoCanary() {
        RolloutRequest plain = parse(null, null, null);
        assertThat(plain.canary()).isEmpty();
        assertThat(plain.supersede()).isFalse();
        assertThat(parse(null, true, null).supersede()).isTrue();
        assertThat(plain.superseding().withCanary(List.of("pi-1")))
                .satisfies(r -> assertThat(r.supersede()).isTrue())
                .satisfies(r -> assertThat(r.canary()).containsExactly("pi-1"));
        assertThatThrownBy(() -> parse("pi-1", null, "the site is down")).isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("an emergency rollout is one wave for every device: it has no canary");
    }

    private static RolloutRequest parse(String canary, Boolean supersede, String emergency) {
        return RolloutRequest.parse("web", "1.0.0", "all", null, null, null, null, null, null, null, null, null, null, emergency,
                canary, supersede);
    }
}
