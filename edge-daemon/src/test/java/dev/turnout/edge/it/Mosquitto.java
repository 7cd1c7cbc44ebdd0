package dev.turnout.edge.it;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** A real Mosquitto on a free loopback port, killed on close. */
final class Mosquitto implements AutoCloseable {

    private final Process process;
    private final int port;

    private Mosquitto(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    static Mosquitto start(Path dir) throws IOException, InterruptedException {
        return start(dir, "");
    }

    /** An anonymous Mosquitto whose only listener speaks TLS with these PEM files. */
    static Mosquitto startTls(Path dir, Path caFile, Path certFile, Path keyFile) throws IOException, InterruptedException {
        return start(dir, "cafile " + caFile + "\ncertfile " + certFile + "\nkeyfile " + keyFile + "\n");
    }

    private static Mosquitto start(Path dir, String listenerSettings) throws IOException, InterruptedException {
        int port = freePort();
        Files.createDirectories(dir);
        Path conf = dir.resolve("mosquitto.conf");
        Files.writeString(conf, "listener " + port + " 127.0.0.1\n" + listenerSettings + "allow_anonymous true\npersistence false\n",
                StandardCharsets.UTF_8);
        Process process = new ProcessBuilder("/usr/sbin/mosquitto", "-c", conf.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("mosquitto.log").toFile()).start();
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("mosquitto exited: " + Files.readString(dir.resolve("mosquitto.log")));
            }
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return new Mosquitto(process, port);
            } catch (IOException notYet) {
                Thread.sleep(50); // polling a port that is not open yet
            }
        }
        process.destroyForcibly();
        throw new IllegalStateException("mosquitto did not listen on port " + port);
    }

    String url() {
        return "tcp://127.0.0.1:" + port;
    }

    int port() {
        return port;
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
