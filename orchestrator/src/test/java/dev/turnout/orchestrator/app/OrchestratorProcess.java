package dev.turnout.orchestrator.app;

import dev.turnout.testsupport.Closer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * The orchestrator jar as its own process ({@code turnout server} on {@code <work>/data}, 256 MiB heap), for tests that
 * kill it with SIGKILL and start it again on the same data directory.
 */
final class OrchestratorProcess {

    static final Path JAR = Path.of("..", "orchestrator", "target", "turnout.jar").toAbsolutePath();

    private OrchestratorProcess() {
    }

    /**
     * Starts it with {@code brokerOptions} (e.g. {@code --broker-url URL} or {@code --mqtt-port PORT}), logging to
     * {@code <work>/orchestrator-<name>.log}, and returns once {@code healthy} says so (at most {@code limit}); it is
     * stopped when {@code toClose} closes.
     */
    static Process start(Path work, String name, int httpPort, List<String> brokerOptions, Duration limit, Closer toClose,
                         Callable<Boolean> healthy) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = work.resolve("orchestrator-" + name + ".log");
        List<String> command = new ArrayList<>(List.of(java, "-Xmx256m",
                "-Djava.io.tmpdir=" + Files.createDirectories(work.resolve("tmp")), "-jar", JAR.toString(), "server",
                "--data", work.resolve("data").toString(), "--http-port", String.valueOf(httpPort)));
        command.addAll(brokerOptions);
        command.addAll(List.of("--bind", "127.0.0.1", "--advertise-host", "127.0.0.1"));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        toClose.add(() -> {
            process.destroy();
            process.waitFor(20, TimeUnit.SECONDS);
        });
        await().atMost(limit).pollInterval(Duration.ofMillis(100)).until(() -> {
            if (!process.isAlive()) {
                throw new AssertionError("the orchestrator exited: " + Files.readString(log));
            }
            try {
                return healthy.call();
            } catch (IOException notYet) {
                return false;
            }
        });
        return process;
    }
}
