package dev.turnout.edge.app;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The boot id and the monotonic clock a restarted daemon compares with what it saved before. */
class ProcHostBootTest {

    @TempDir
    Path dir;

    @Test
    void readsTheKernelsBootIdAndAnUnreadableOneIsUnknown() throws IOException {
        Path file = dir.resolve("boot_id");
        Files.writeString(file, "d972ed30-53a5-44f3-aae6-bd7d6193a6af\n");
        assertThat(new ProcHostBoot(file).bootId()).isEqualTo("d972ed30-53a5-44f3-aae6-bd7d6193a6af");
        assertThat(new ProcHostBoot(dir.resolve("missing")).bootId()).as("unknown: judged as a reboot").isEmpty();
    }

    @Test
    @EnabledOnOs(OS.LINUX)
    void theRealBootIdStaysTheSameWithinOneBoot() {
        ProcHostBoot boot = new ProcHostBoot();
        assertThat(boot.bootId()).matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").isEqualTo(new ProcHostBoot().bootId());
    }

    /**
     * What resuming a soak after {@code kill -9} relies on: another JVM process reads the same clock. Its reading lies
     * between two readings of this process taken before it started and after it ended (a per-process origin, as the
     * Javadoc of {@link System#nanoTime()} allows in general, would put it anywhere).
     */
    @Test
    @EnabledOnOs(OS.LINUX)
    void nanoTimeIsOneClockForAllProcessesOfABoot() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Path source = Files.writeString(dir.resolve("Now.java"), "class Now { public static void main(String[] a) { System.out.println(System.nanoTime()); } }");
        ProcHostBoot boot = new ProcHostBoot();
        long before = boot.nanoTime();
        Process child = new ProcessBuilder(java.toString(), source.toString())
                .redirectErrorStream(true).start();
        assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        long after = boot.nanoTime();
        long theirs = Long.parseLong(new String(child.getInputStream().readAllBytes()).trim());
        assertThat(theirs).isBetween(before, after);
    }
}
