package dev.turnout.edge.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class ReportNumbersTest {

    @TempDir
    Path dir;

    @Test
    void numbersGrowAcrossRestartsEvenWhenTheClockGoesBack() {
        Path file = dir.resolve("report-seq");
        ReportNumbers first = new ReportNumbers(file, () -> 5_000_000L);
        long a = first.next();
        long b = first.next();
        assertThat(b).isGreaterThan(a).isGreaterThan(5_000_000L);

        // a reboot without a real-time clock: the clock starts years behind
        ReportNumbers afterReboot = new ReportNumbers(file, () -> 1_000L);
        assertThat(afterReboot.next()).isGreaterThan(b);
    }

    @Test
    void aCrashAfterManyNumbersNeverRepeatsOne() {
        Path file = dir.resolve("report-seq");
        ReportNumbers numbers = new ReportNumbers(file, () -> 0L);
        long last = 0;
        for (int i = 0; i < ReportNumbers.BLOCK + 5; i++) { // crosses a block: the ceiling on disk moves ahead first
            last = numbers.next();
        }
        // no close, no flush: the process dies here
        assertThat(new ReportNumbers(file, () -> 0L).next()).isGreaterThan(last);
    }

    @Test
    void anUnreadableFileFallsBackToTheClock() throws Exception {
        Path file = dir.resolve("report-seq");
        Files.writeString(file, "not a number", StandardCharsets.UTF_8);
        assertThat(new ReportNumbers(file, () -> 42_000L).next()).isEqualTo(42_001L);
    }
}
