package dev.turnout.edge.domain;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;

class SemVerTest {

    @ParameterizedTest
    @CsvSource({"1.0.0, 2.0.0", "1.9.0, 1.10.0", "1.0.9, 1.0.10", "1.0.0-rc.1, 1.0.0", "1.0.0-alpha, 1.0.0-beta",
            "1.0.0-rc.2, 1.0.0-rc.10", "v1.2.3, 1.2.4", "1.2, 1.2.1"})
    void orders(String lower, String higher) {
        assertThat(SemVer.compare(lower, higher)).isNegative();
        assertThat(SemVer.compare(higher, lower)).isPositive();
    }

    @ParameterizedTest
    @CsvSource({"1.0.0, 1.0.0", "1.0.0+build.1, 1.0.0", "1.2, 1.2.0"})
    void equal(String a, String b) {
        assertThat(SemVer.compare(a, b)).isZero();
    }
}
