package dev.turnout.edge.app;

import dev.turnout.proto.HealthReport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** CPU (from /proc/stat deltas), memory (/proc/meminfo), disk of the data dir and temperature (/sys/class/thermal). */
final class HostMetrics {

    private final Path dataDir;
    private final Path proc;
    private final Path thermal;
    private long lastIdle = -1;
    private long lastTotal = -1;

    HostMetrics(Path dataDir) {
        this(dataDir, Path.of("/proc"), Path.of("/sys/class/thermal/thermal_zone0/temp"));
    }

    /** With other roots for /proc and the SoC temperature file (tests). */
    HostMetrics(Path dataDir, Path proc, Path thermal) {
        this.dataDir = dataDir;
        this.proc = proc;
        this.thermal = thermal;
    }

    synchronized void fill(HealthReport.Builder report) {
        report.setCpuPercent(cpuPercent());
        long[] memory = memory();
        report.setMemoryTotalBytes(memory[0]).setMemoryUsedBytes(Math.max(0, memory[0] - memory[1]));
        try {
            report.setDiskFreeBytes(Files.getFileStore(dataDir).getUsableSpace()).setDiskTotalBytes(Files.getFileStore(dataDir).getTotalSpace());
        } catch (IOException ignored) {
            // no disk figures
        }
        if (Files.isReadable(thermal)) {
            try {
                report.setTemperatureCelsius(Long.parseLong(Files.readString(thermal).trim()) / 1000.0);
            } catch (IOException | NumberFormatException ignored) {
                // no sensor value
            }
        }
    }

    private double cpuPercent() {
        try {
            String[] f = Files.readAllLines(proc.resolve("stat")).get(0).trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < f.length; i++) {
                total += Long.parseLong(f[i]);
            }
            long idle = Long.parseLong(f[4]) + (f.length > 5 ? Long.parseLong(f[5]) : 0);
            double percent = 0;
            if (lastTotal >= 0 && total > lastTotal) {
                percent = 100.0 * (1.0 - (double) (idle - lastIdle) / (total - lastTotal));
            }
            lastIdle = idle;
            lastTotal = total;
            return percent;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** [total, available] in bytes. */
    private long[] memory() {
        long total = 0;
        long available = 0;
        try {
            List<String> lines = Files.readAllLines(proc.resolve("meminfo"));
            for (String line : lines) {
                String[] f = line.split("\\s+");
                if (line.startsWith("MemTotal:")) {
                    total = Long.parseLong(f[1]) * 1024;
                } else if (line.startsWith("MemAvailable:")) {
                    available = Long.parseLong(f[1]) * 1024;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return new long[] {total, available};
    }
}
