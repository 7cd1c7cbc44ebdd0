package dev.turnout.orchestrator.domain;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WavePlanTest {

    @ParameterizedTest(name = "N={0}, waves \"{1}\" -> {2}")
    @CsvSource(delimiter = '|', textBlock = """
            2   | 1,50%,100% | 1 1
            10  | 1,50%,100% | 1 4 5
            1   | 1,50%,100% | 1
            1   | 100%       | 1
            3   | 100%       | 3
            3   |            | 3
            5   | 0%,100%    | 5
            5   | 0,1        | 5
            4   | 10%        | 4
            4   | 25%,50%    | 1 3
            7   | 10%,50%    | 1 6
            3   | 5,10       | 3
            10  | 2,2,100%   | 2 8
            100 | 1,10%,50%,100% | 1 9 40 50
            """)
    void cumulativeStepsBecomeWaveSizes(int devices, String spec, String expected) {
        List<Integer> sizes = WavePlan.sizes(spec, devices);
        assertThat(sizes).isEqualTo(Arrays.stream(expected.split(" ")).map(Integer::valueOf).toList());
        assertThat(sizes.stream().mapToInt(Integer::intValue).sum()).isEqualTo(devices);
    }

    @ParameterizedTest
    @ValueSource(strings = {"abc", "1,,2", "-1", "150%", "50%%", "1.5", "%", " , "})
    void invalidSpecsAreRefusedNamingTheField(String spec) {
        assertThatThrownBy(() -> WavePlan.parse(spec))
                .isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("waves");
    }
}
