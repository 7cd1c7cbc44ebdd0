package dev.turnout.packaging;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The packaging tests' way of running a program: stdin from /dev/null, stderr merged into stdout, a time limit. */
final class Commands {

    /** What a program printed and how it ended. */
    record Result(int exit, String out) {
    }

    private Commands() {
    }

    /**
     * Runs {@code command} with {@code env} added to this environment, in {@code dir} (null: here); a program still
     * running after {@code limit} is killed and the test fails.
     */
    static Result run(List<String> command, Map<String, String> env, Path dir, Duration limit) {
        try {
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            builder.environment().putAll(env);
            if (dir != null) {
                builder.directory(dir.toFile());
            }
            Process process = builder.start();
            byte[] out = process.getInputStream().readAllBytes();
            if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("timed out: " + command);
            }
            return new Result(process.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Waits until {@code log} contains {@code text}; fails at once when {@code process} ended first, or after {@code bound}. */
    static void awaitLog(Path log, String text, Process process, Duration bound) throws Exception {
        java.time.Instant deadline = java.time.Instant.now().plus(bound);
        while (java.time.Instant.now().isBefore(deadline)) {
            if (java.nio.file.Files.exists(log) && java.nio.file.Files.readString(log).contains(text)) {
                return;
            }
            if (!process.isAlive()) {
                break;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("no '" + text + "' in " + log + ":\n"
                + (java.nio.file.Files.exists(log) ? java.nio.file.Files.readString(log) : ""));
    }
}
