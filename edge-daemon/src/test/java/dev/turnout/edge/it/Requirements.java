package dev.turnout.edge.it;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Real parts an integration test needs: missing ones skip locally and fail when CI=true. */
final class Requirements {

    private Requirements() {
    }

    static void dockerMosquittoBusybox() {
        require(run("docker", "info") == 0, "a running Docker engine (`docker info` failed)");
        require(Files.isExecutable(Path.of("/usr/sbin/mosquitto")), "mosquitto (/usr/sbin/mosquitto)");
        require(Files.isExecutable(Path.of("/bin/busybox")), "busybox-static (/bin/busybox)");
    }

    static void mosquitto() {
        require(Files.isExecutable(Path.of("/usr/sbin/mosquitto")), "mosquitto (/usr/sbin/mosquitto)");
    }

    private static void require(boolean present, String what) {
        if (present) {
            return;
        }
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            Assertions.fail("CI=true and this test needs " + what);
        }
        Assumptions.abort("needs " + what);
    }

    static int run(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return -1;
            }
            return process.exitValue();
        } catch (Exception e) {
            return -1;
        }
    }

    static String output(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(process.getInputStream().readAllBytes()).trim();
            if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
            }
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
