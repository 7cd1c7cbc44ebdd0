package dev.turnout.edge.app;

import dev.turnout.edge.port.HostBoot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Linux: the boot id the kernel draws at every boot ({@code /proc/sys/kernel/random/boot_id}) and
 * {@link System#nanoTime()}, which on Linux is {@code CLOCK_MONOTONIC}: one clock for all processes of a boot,
 * counting from (about) the boot. HotSpot's {@code os::javaTimeNanos} on Linux is {@code clock_gettime(CLOCK_MONOTONIC)}
 * with no per-process offset (JDK 17 {@code os_posix.cpp}); checked on OpenJDK 17.0.15 here against
 * {@code CLOCK_MONOTONIC} read by other processes just before and after, and by {@code ProcHostBootTest}.
 * (A Linux time namespace could shift it for one container; Docker does not use them.)
 */
final class ProcHostBoot implements HostBoot {

    private static final Logger log = LoggerFactory.getLogger(ProcHostBoot.class);

    private final Path bootIdFile;

    ProcHostBoot() {
        this(Path.of("/proc/sys/kernel/random/boot_id"));
    }

    /** With another file in place of the kernel's (tests). */
    ProcHostBoot(Path bootIdFile) {
        this.bootIdFile = bootIdFile;
    }

    /** The kernel's boot id, or "" when it cannot be read (then every daemon start is judged as after a reboot). */
    @Override
    public String bootId() {
        try {
            return Files.readString(bootIdFile).trim();
        } catch (IOException | RuntimeException e) {
            log.warn("cannot read the boot id from {} ({}): a restart of the daemon is treated as a reboot", bootIdFile, e.toString());
            return "";
        }
    }

    @Override
    public long nanoTime() {
        return System.nanoTime();
    }
}
