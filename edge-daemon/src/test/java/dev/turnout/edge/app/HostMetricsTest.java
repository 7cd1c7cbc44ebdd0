package dev.turnout.edge.app;

import dev.turnout.proto.HealthReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** What a HealthReport says about the host, from a fake /proc and thermal zone. */
class HostMetricsTest {

    @TempDir
    Path dir;

    private Path proc() throws IOException {
        Path proc = Files.createDirectories(dir.resolve("proc"));
        Files.writeString(proc.resolve("meminfo"), """
                MemTotal:        3884096 kB
                MemFree:          123456 kB
                MemAvailable:    2884096 kB
                """);
        Files.writeString(proc.resolve("stat"), "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 1 1 1\n");
        return proc;
    }

    @Test
    void cpuMemoryDiskAndSocTemperature() throws IOException {
        Path proc = proc();
        Path thermal = dir.resolve("temp");
        Files.writeString(thermal, "48312\n");
        HostMetrics metrics = new HostMetrics(dir, proc, thermal);

        HealthReport.Builder first = HealthReport.newBuilder();
        metrics.fill(first);
        assertThat(first.getCpuPercent()).as("no delta yet").isZero();
        // 1000 more jiffies, 250 of them idle or waiting: 75 % busy
        Files.writeString(proc.resolve("stat"), "cpu  700 0 250 900 150 0 0 0 0 0\n");
        HealthReport.Builder second = HealthReport.newBuilder();
        metrics.fill(second);

        assertThat(second.getCpuPercent()).isCloseTo(75.0, within(0.01));
        assertThat(second.getMemoryTotalBytes()).isEqualTo(3884096L * 1024);
        assertThat(second.getMemoryUsedBytes()).isEqualTo(1000000L * 1024);
        assertThat(second.getDiskTotalBytes()).isPositive();
        assertThat(second.getDiskFreeBytes()).isPositive().isLessThanOrEqualTo(second.getDiskTotalBytes());
        assertThat(second.hasTemperatureCelsius()).isTrue();
        assertThat(second.getTemperatureCelsius()).isCloseTo(48.312, within(0.0001));
    }

    @Test
    void noSensorNoTemperature() throws IOException {
        HealthReport.Builder report = HealthReport.newBuilder();
        new HostMetrics(dir, proc(), dir.resolve("no-such-zone")).fill(report);
        assertThat(report.hasTemperatureCelsius()).isFalse();
    }
}
