package dev.turnout.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The docker CLI pointed at one of the engines under test, as a person would type it: {@code docker -H HOST ...};
 * and any other command a test runs (tar, docker on the default engine), each bounded by a timeout.
 */
public final class DockerCli {

    private static final long TIMEOUT_SECONDS = 120;

    private DockerCli() {
    }

    /** Runs {@code docker -H HOST args...}; its trimmed output, or an exception with the output when it fails. */
    public static String docker(TestEngines.Engine engine, String... args) {
        return output(command(engine, args));
    }

    /** Runs {@code docker -H HOST args...}; its exit code (-1 when it could not run or hung). */
    public static int run(TestEngines.Engine engine, String... args) {
        return exitCode(command(engine, args));
    }

    /** Runs any command, its output discarded; its exit code (-1 when it could not run or hung). */
    public static int exitCode(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return -1;
            }
            return process.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** True when the engine answers {@code docker info}. */
    public static boolean answers(TestEngines.Engine engine) {
        return run(engine, "info") == 0;
    }

    /** Runs any command; its trimmed output, or an exception with the output when it fails or hangs. */
    public static String output(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS) || process.exitValue() != 0) {
                process.destroyForcibly();
                throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted: " + String.join(" ", command), e);
        }
    }

    private static String[] command(TestEngines.Engine engine, String... args) {
        List<String> command = new ArrayList<>(List.of("docker", "-H", engine.dockerHost()));
        command.addAll(List.of(args));
        return command.toArray(String[]::new);
    }
}
