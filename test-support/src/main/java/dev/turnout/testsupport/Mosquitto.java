package dev.turnout.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A real Mosquitto on a free loopback port, the broker a site already runs; stopped on close. Its
 * configuration, log and whatever else the test puts there live in one directory. Needs
 * {@code /usr/sbin/mosquitto} ({@link Requirements#mosquitto()}: skipped without it, failed when {@code CI=true}).
 */
public final class Mosquitto implements AutoCloseable {

    /** Where Debian's package installs the broker. */
    public static final Path EXECUTABLE = Path.of("/usr/sbin/mosquitto");

    private static final Duration START_TIMEOUT = Duration.ofSeconds(15);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    private Process process;
    private final int port;
    private final Path log;
    private final Path conf;

    private Mosquitto(Process process, int port, Path log, Path conf) {
        this.process = process;
        this.port = port;
        this.log = log;
        this.conf = conf;
    }

    /** The whole {@code mosquitto.conf} of a broker listening on {@code port}. */
    @FunctionalInterface
    public interface Config {
        String forPort(int port) throws Exception;
    }

    /** A broker open to anyone, as many sites run it. */
    public static Mosquitto anonymous(Path dir) throws Exception {
        return start(dir, port -> listener(port) + "allow_anonymous true\npersistence false\n");
    }

    /** A broker open to anyone whose only listener speaks TLS with these PEM files. */
    public static Mosquitto anonymousTls(Path dir, Path caFile, Path certFile, Path keyFile) throws Exception {
        return start(dir, port -> listener(port) + "cafile " + caFile + "\ncertfile " + certFile + "\nkeyfile " + keyFile
                + "\nallow_anonymous true\npersistence false\n");
    }

    /** A broker on a free port running {@code config}, which must open a listener on 127.0.0.1 at the port it is given. */
    public static Mosquitto start(Path dir, Config config) throws Exception {
        Requirements.mosquitto();
        int port = Ports.free();
        Files.createDirectories(dir);
        Path conf = dir.resolve("mosquitto.conf");
        Path log = dir.resolve("mosquitto.log");
        Files.writeString(conf, config.forPort(port), StandardCharsets.UTF_8);
        Mosquitto mosquitto = new Mosquitto(launch(conf, log), port, log, conf);
        mosquitto.awaitListening();
        return mosquitto;
    }

    private static Process launch(Path conf, Path log) throws IOException {
        return new ProcessBuilder(EXECUTABLE.toString(), "-c", conf.toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    private void awaitListening() {
        try {
            Ports.awaitListening(process, port, START_TIMEOUT, this::logText);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * Stops the broker and starts it again on the same port with the same configuration, as a site's
     * broker restarts (what it keeps across the restart is what its {@code persistence} says).
     */
    public void restart() throws IOException {
        close();
        process = launch(conf, log);
        awaitListening();
    }

    /** {@code listener PORT 127.0.0.1}, the first line of most test configurations. */
    public static String listener(int port) {
        return "listener " + port + " 127.0.0.1\n";
    }

    public int port() {
        return port;
    }

    /** The process id, to send it SIGHUP (reread password and ACL files). */
    public long pid() {
        return process.pid();
    }

    public Path log() {
        return log;
    }

    /** The plain-MQTT URL of the listener; a TLS listener's is {@code ssl://127.0.0.1:PORT}. */
    public String url() {
        return "tcp://127.0.0.1:" + port;
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(STOP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
