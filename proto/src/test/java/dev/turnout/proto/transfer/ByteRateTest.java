package dev.turnout.proto.transfer;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ByteRateTest {

    @ParameterizedTest
    @CsvSource({
            "500KiB/s, 512000",
            "500 KiB/s, 512000",
            "2MB/s, 2000000",
            "1.5MiB/s, 1572864",
            "64kb/s, 64000",
            "1GiB, 1073741824",
            "800B/s, 800",
            "800, 800",
    })
    void readsWhatPeopleWrite(String text, long bytesPerSecond) {
        assertThat(ByteRate.parse(text, "download.rateLimit")).isEqualTo(bytesPerSecond);
    }

    @ParameterizedTest
    @ValueSource(strings = {"fast", "500 KiB per second", "-5KiB/s", "500Kbit/s", "0KiB/s", "0.5B/s", "2TiB/s", "5 MiB/h", "1e3KiB/s"})
    void refusesWhatIsNotARateAndSaysWhatIs(String text) {
        assertThatThrownBy(() -> ByteRate.parse(text, "download.rateLimit"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("download.rateLimit '")
                .hasMessageFindingMatch("500KiB/s|below 1 B/s|above 1TiB/s");
    }

    @Test
    void refusesAnEmptyRate() {
        assertThatThrownBy(() -> ByteRate.parse(" ", "--rate-limit")).hasMessageContaining("--rate-limit is empty");
    }

    @Test
    void theLowerLimitWinsAndZeroMeansNone() {
        assertThat(ByteRate.lower(0, 0)).isZero();
        assertThat(ByteRate.lower(0, 500)).isEqualTo(500);
        assertThat(ByteRate.lower(800, 0)).isEqualTo(800);
        assertThat(ByteRate.lower(800, 500)).isEqualTo(500);
    }

    @Test
    void formatsForPeople() {
        assertThat(ByteRate.format(480 * 1024)).isEqualTo("480 KiB/s");
        assertThat(ByteRate.size(12_900_000)).isEqualTo("12.3 MiB");
        assertThat(ByteRate.size(812)).isEqualTo("812 B");
    }

    @Test
    void progressIsWrittenInTheUnitOfTheTotal() {
        assertThat(DownloadReports.fraction(12_900_000, 41_943_040)).isEqualTo("12.3/40.0 MiB");
        assertThat(DownloadReports.fraction(0, 800)).isEqualTo("0/800 B");
    }
}
