package dev.turnout.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a command and returns its standard output; fails on a non-zero exit. */
final class Shell {

    private Shell() {
    }

    /** {@code docker -H dockerHost ARGS...}: the Docker CLI against one engine. */
    static String docker(String dockerHost, String... args) {
        String[] command = new String[args.length + 3];
        command[0] = "docker";
        command[1] = "-H";
        command[2] = dockerHost;
        System.arraycopy(args, 0, command, 3, args.length);
        return run(command);
    }

    static String run(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            byte[] out = process.getInputStream().readAllBytes();
            if (!process.waitFor(120, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException("timed out: " + List.of(command));
            }
            String text = new String(out, StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                throw new IllegalStateException(List.of(command) + " exited " + process.exitValue() + ": " + text);
            }
            return text.trim();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + List.of(command) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
