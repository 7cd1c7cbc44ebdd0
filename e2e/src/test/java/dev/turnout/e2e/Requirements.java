package dev.turnout.e2e;

import dev.turnout.testsupport.TestEngines;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static dev.turnout.testsupport.Requirements.require;

/**
 * Real parts the end-to-end tests need. Missing parts skip the test on a developer machine but fail
 * it when {@code CI=true} ({@link dev.turnout.testsupport.Requirements}).
 */
final class Requirements {

    private Requirements() {
    }

    /** This machine's default engine. */
    static void dockerEngine() {
        dockerEngine(TestEngines.DEFAULT);
    }

    static void dockerEngine(TestEngines.Engine engine) {
        if (engine.dockerHost().equals(TestEngines.DEFAULT.dockerHost())) {
            require(answers(engine), "a running Docker engine (`docker info` failed; run bin/test, which installs and starts one)");
        } else {
            require(answers(engine), "the Docker engine " + engine + " on " + engine.dockerHost()
                    + " (`docker -H " + engine.dockerHost() + " info` failed; sudo bin/test-engines start starts it)");
        }
    }

    static void mosquitto() {
        require(Files.isExecutable(Path.of("/usr/sbin/mosquitto")), "mosquitto (/usr/sbin/mosquitto; apt-get install mosquitto)");
    }

    static void busybox() {
        require(Files.isExecutable(Path.of("/bin/busybox")), "busybox-static (/bin/busybox; apt-get install busybox-static)");
    }

    private static boolean answers(TestEngines.Engine engine) {
        return run("docker", "-H", engine.dockerHost(), "info") == 0;
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
