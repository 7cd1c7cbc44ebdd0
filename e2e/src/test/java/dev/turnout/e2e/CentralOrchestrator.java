package dev.turnout.e2e;

import dev.turnout.orchestrator.cli.TurnoutCli;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The orchestrator as its own process ({@code turnout server} on a data directory, on a fixed HTTP port, with the
 * site's broker), so that a test can kill it with SIGKILL, as a crash or a power loss would, and start it again on
 * the same data directory and port. Its output goes to {@code orchestrator-N.log} beside the data directory.
 */
final class CentralOrchestrator implements AutoCloseable {

    private final Path data;
    private final int httpPort;
    private final List<String> args;
    private final HttpClient http = HttpClient.newHttpClient();
    private Process process;
    private int starts;

    private CentralOrchestrator(Path data, int httpPort, List<String> brokerArgs) {
        this.data = data;
        this.httpPort = httpPort;
        this.args = new ArrayList<>(List.of("server", "--data", data.toString(), "--bind", "127.0.0.1", "--advertise-host",
                "127.0.0.1", "--http-port", Integer.toString(httpPort)));
        this.args.addAll(brokerArgs);
    }

    /** Starts it on {@code data} and {@code httpPort} with {@code brokerArgs} (e.g. {@code --broker-url URL}); returns once it answers. */
    static CentralOrchestrator start(Path data, int httpPort, List<String> brokerArgs) throws Exception {
        CentralOrchestrator o = new CentralOrchestrator(data, httpPort, brokerArgs);
        o.startAgain();
        return o;
    }

    /** {@code http://127.0.0.1:PORT}. */
    String url() {
        return "http://127.0.0.1:" + httpPort;
    }

    /** Kills it with SIGKILL: nothing is flushed or said goodbye to. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** Starts it again on the same data directory and port; returns once its health answers ok. */
    void startAgain() throws Exception {
        starts++;
        Path log = data.resolveSibling("orchestrator-" + starts + ".log");
        process = JavaProcesses.start(List.of("-Xmx512m", "-XX:+UseSerialGC"), TurnoutCli.class.getName(), args, log);
        URI health = URI.create(url() + "/api/v1/health");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException("the orchestrator exited (" + process.exitValue() + "): " + JavaProcesses.tail(log));
            }
            try {
                if (http.send(HttpRequest.newBuilder(health).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the orchestrator did not answer within 2 min: " + JavaProcesses.tail(log));
            }
            Thread.sleep(200);
        }
    }

    /** Stops it (SIGTERM: a clean stop), waiting for it. */
    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
