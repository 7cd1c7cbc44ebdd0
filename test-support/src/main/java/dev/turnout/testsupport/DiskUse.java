package dev.turnout.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Disk blocks allocated under a directory, as {@code du -sk} counts them: what a full disk feels,
 * including space a store reserved ahead that apparent file sizes do not show.
 */
public final class DiskUse {

    private DiskUse() {
    }

    /** KiB allocated under {@code dir}; 0 when it does not exist. */
    public static long kib(Path dir) throws IOException, InterruptedException {
        if (!Files.exists(dir)) {
            return 0;
        }
        Process du = new ProcessBuilder("du", "-sk", dir.toString()).redirectErrorStream(true).start();
        String text = new String(du.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (du.waitFor() != 0) {
            throw new IOException("du " + dir + ": " + text.strip());
        }
        return Long.parseLong(text.split("\\s+")[0]);
    }
}
