package dev.turnout.e2e;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Real parts a test needs. Missing parts skip the test on a developer machine but fail it when
 * {@code CI=true}, so CI can never go green by skipping.
 */
final class Requirements {

    private Requirements() {
    }

    static void dockerEngine() {
        require(run("docker", "info") == 0, "a running Docker engine (`docker info` failed; run bin/test, which installs and starts one)");
    }

    static void mosquitto() {
        require(Files.isExecutable(Path.of("/usr/sbin/mosquitto")), "mosquitto (/usr/sbin/mosquitto; apt-get install mosquitto)");
    }

    static void busybox() {
        require(Files.isExecutable(Path.of("/bin/busybox")), "busybox-static (/bin/busybox; apt-get install busybox-static)");
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

    private static int run(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return -1;
            }
            return process.exitValue();
        } catch (Exception e) {
            return -1;
        }
    }
}
