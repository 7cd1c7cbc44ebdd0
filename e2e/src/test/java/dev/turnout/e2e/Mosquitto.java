package dev.turnout.e2e;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** A real Mosquitto broker on a free loopback port, as a site would run it. */
final class Mosquitto implements AutoCloseable {

    private final Process process;
    private final int port;

    private Mosquitto(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** A Mosquitto open to anyone, as many sites run it. */
    static Mosquitto start(Path dir) throws IOException, InterruptedException {
        int port = freePort();
        return start(dir, port, """
                listener %d 127.0.0.1
                allow_anonymous true
                """.formatted(port));
    }

    /**
     * A Mosquitto whose listener and security come from {@code turnout broker mosquitto-config}
     * in {@code includeDir}, included the way docs/security.md says.
     */
    static Mosquitto startIncluding(Path dir, int port, Path includeDir) throws IOException, InterruptedException {
        return start(dir, port, "include_dir " + includeDir.toAbsolutePath() + "\n");
    }

    /** The process id, to send it SIGHUP (reread password and ACL files). */
    long pid() {
        return process.pid();
    }

    private static Mosquitto start(Path dir, int port, String settings) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path conf = dir.resolve("mosquitto.conf");
        Files.writeString(conf, "persistence false\nlog_dest stdout\n" + settings, StandardCharsets.UTF_8);
        Process process = new ProcessBuilder("/usr/sbin/mosquitto", "-c", conf.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("mosquitto.log").toFile())
                .start();
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

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
