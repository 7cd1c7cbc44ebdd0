package dev.turnout.testsupport;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A small tmpfs a test mounts on one of its directories, to fill it and see what a full disk does (root only: a test
 * calls {@link Requirements#require} with {@link #mount}'s answer, so it fails when {@code CI=true} and skips elsewhere).
 */
public final class Tmpfs implements AutoCloseable {

    private final Path dir;

    private Tmpfs(Path dir) {
        this.dir = dir;
    }

    /** Mounts a tmpfs of {@code size} (e.g. "32m") on {@code dir}, created if missing; null when that is refused (not root). */
    public static Tmpfs mount(Path dir, String size) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        return run("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString()) == 0 ? new Tmpfs(dir) : null;
    }

    /**
     * Writes zeros into {@code file} until the file system refuses more, in ever smaller blocks, so that not a page is
     * left; fails if it stops for another reason than a full disk.
     */
    public static void fill(Path file) throws IOException {
        try (OutputStream out = Files.newOutputStream(file)) {
            for (int size : new int[] {64 * 1024, 4096, 1}) {
                byte[] block = new byte[size];
                try {
                    while (true) {
                        out.write(block);
                    }
                } catch (IOException full) {
                    if (!String.valueOf(full.getMessage()).contains("No space left")) {
                        throw full;
                    }
                }
            }
        } catch (IOException full) { // the close flushes nothing more, but may say so again
            if (!String.valueOf(full.getMessage()).contains("No space left")) {
                throw full;
            }
        }
    }

    /** Unmounts it (lazily: a process still holding a file there keeps it until it lets go). */
    @Override
    public void close() throws IOException, InterruptedException {
        run("umount", "-l", dir.toString());
    }

    private static int run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }
}
