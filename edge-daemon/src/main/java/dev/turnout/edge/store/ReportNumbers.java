package dev.turnout.edge.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.LongSupplier;

/**
 * The numbers that order a device's reports ({@code report_seq} of status and presence messages):
 * each is greater than every number handed out before, also after the daemon restarts or the host
 * reboots. The orchestrator keeps a device's newest report per app by it, so a retained presence
 * replayed late or a status delayed in a queue cannot overwrite what the device said since.
 *
 * <p>A Raspberry Pi has no real-time clock, so wall-clock time cannot order reports across a reboot.
 * The numbers start at the larger of the clock (in milliseconds) and the ceiling kept on disk, and the
 * ceiling is written (atomically) once per {@value #BLOCK} numbers, ahead of their use: a crash skips
 * numbers, it never repeats one. A lost or unreadable file falls back to the clock, which is ahead of
 * the old numbers unless a device sent more than one report per millisecond of its life.
 */
public final class ReportNumbers {

    static final long BLOCK = 10_000;

    private final Path file;
    private long next;
    private long ceiling;

    public ReportNumbers(Path file, LongSupplier epochMillis) {
        this.file = file;
        long stored = read(file);
        this.next = Math.max(stored, epochMillis.getAsLong()) + 1;
        this.ceiling = next - 1;
    }

    /** The next number: greater than every one before. */
    public synchronized long next() {
        if (next > ceiling) {
            ceiling = next + BLOCK - 1;
            try {
                AtomicFiles.write(file, Long.toString(ceiling).getBytes(StandardCharsets.UTF_8));
            } catch (java.io.UncheckedIOException e) {
                // a full disk must not silence the device: the report leaves. If the daemon restarts before the ceiling
                // is written, its numbers start from the clock, ahead of these unless it reported faster than one a ms
                org.slf4j.LoggerFactory.getLogger(ReportNumbers.class).warn("cannot save the report number ceiling: {}", e.getMessage());
            }
        }
        return next++;
    }

    private static long read(Path file) {
        try {
            return Long.parseLong(Files.readString(file, StandardCharsets.UTF_8).trim());
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException | NumberFormatException e) {
            org.slf4j.LoggerFactory.getLogger(ReportNumbers.class)
                    .warn("cannot read {} ({}); report numbers start from the clock", file, e.getMessage());
            return 0;
        }
    }
}
