package dev.turnout.orchestrator.app;


import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * A real Mosquitto on a free loopback port, for tests and benchmarks: the broker a site already runs.
 * Fails (not skips) when {@code CI=true} and Mosquitto is not installed.
 */
public final class MosquittoProcess implements AutoCloseable {

    private static final Path MOSQUITTO = Path.of("/usr/sbin/mosquitto");

    private final Process process;
    private final int port;
    private final Path log;

    private MosquittoProcess(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /** The configuration of a Mosquitto listening on {@code port}. */
    @FunctionalInterface
    public interface Config {
        String forPort(int port) throws Exception;
    }

    /** An anonymous one, with its config, log and nothing else in {@code dir}. */
    public static MosquittoProcess start(Path dir) throws Exception {
        return start(dir, port -> "listener " + port + " 127.0.0.1\nallow_anonymous true\npersistence false\n");
    }

    /** One that runs {@code config} (which must open a listener on 127.0.0.1 at the port it is given). */
    public static MosquittoProcess start(Path dir, Config config) throws Exception {
        dev.turnout.orchestrator.Requirements.require(Files.isExecutable(MOSQUITTO), "mosquitto (apt-get install mosquitto)");
        int port = freePort();
        Files.createDirectories(dir);
        Path conf = dir.resolve("mosquitto.conf");
        Path log = dir.resolve("mosquitto.log");
        Files.writeString(conf, config.forPort(port));
        Process process = new ProcessBuilder(MOSQUITTO.toString(), "-c", conf.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        MosquittoProcess mosquitto = new MosquittoProcess(process, port, log);
        try {
            await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(50)).until(() -> {
                if (!process.isAlive()) {
                    throw new AssertionError("mosquitto exited: " + Files.readString(log));
                }
                try (Socket socket = new Socket()) {
                    socket.connect(new InetSocketAddress("127.0.0.1", port), 200);
                    return true;
                } catch (IOException notYet) {
                    return false;
                }
            });
        } catch (RuntimeException | Error e) {
            mosquitto.close();
            throw e;
        }
        return mosquitto;
    }

    public int port() {
        return port;
    }

    public long pid() {
        return process.pid();
    }

    public Path log() {
        return log;
    }

    public String url() {
        return "tcp://127.0.0.1:" + port;
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
