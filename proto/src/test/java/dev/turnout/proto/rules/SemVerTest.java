package dev.turnout.proto.rules;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullAndEmptySource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

class SemVerTest {

    @ParameterizedTest
    @CsvSource({"1.0.0, 2.0.0", "1.9.0, 1.10.0", "1.0.9, 1.0.10", "1.0.0-rc.1, 1.0.0", "1.0.0-alpha, 1.0.0-beta",
            "1.0.0-rc.2, 1.0.0-rc.10", "v1.2.3, 1.2.4", "1.2, 1.2.1", "0.9.0, 1.0.0", "1.0.0-rc.1, 1.0.0-rc.1.1",
            "1.0.0-1, 1.0.0-alpha"})
    void orders(String lower, String higher) {
        assertThat(SemVer.compare(lower, higher)).isNegative();
        assertThat(SemVer.compare(higher, lower)).isPositive();
        assertThat(SemVer.ORDER.compare(lower, higher)).isNegative();
    }

    @ParameterizedTest
    @CsvSource({"1.0.0, 1.0.0", "1.0.0+build.1, 1.0.0", "1.2, 1.2.0", "2.0.0, v2.0.0"})
    void equal(String a, String b) {
        assertThat(SemVer.compare(a, b)).isZero();
        assertThat(SemVer.compare(b, a)).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0", "1.4.2", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha-1", "2.0.0+build.5", "2.0.0-rc.1+sha.5114f85"})
    void wellFormed(String version) {
        assertThat(SemVer.isWellFormed(version)).isTrue();
    }

    @ParameterizedTest
    @NullAndEmptySource
    @ValueSource(strings = {"1.2", "v1.2.3", "01.2.3", "1.02.3", "1.2.3-", "1.2.3+", "1.2.3-rc_1", "1.2.3.4", " 1.2.3", "latest"})
    void notWellFormed(String version) {
        assertThat(SemVer.isWellFormed(version)).isFalse();
    }
}
