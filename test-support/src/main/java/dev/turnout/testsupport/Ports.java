package dev.turnout.testsupport;

import org.awaitility.core.ConditionTimeoutException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.function.Supplier;

import static org.awaitility.Awaitility.await;

/** Loopback ports for the servers a test starts, so no test hard-codes one, and a bounded wait for one to listen. */
public final class Ports {

    private Ports() {
    }

    /** A port nothing listens on at this moment (the system picks it; another process may still take it later). */
    public static int free() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Waits at most {@code atMost} until {@code process} accepts connections on 127.0.0.1:{@code port}; fails at once
     * when it exits, and at the deadline, each time with {@code diagnostics} (its log, say).
     */
    public static void awaitListening(Process process, int port, Duration atMost, Supplier<String> diagnostics) {
        try {
            await("127.0.0.1:" + port + " listening").atMost(atMost).pollInterval(Duration.ofMillis(50)).until(() -> {
                if (!process.isAlive()) {
                    throw new IllegalStateException("the process exited (" + process.exitValue() + "): " + diagnostics.get());
                }
                return accepts(port);
            });
        } catch (ConditionTimeoutException e) {
            throw new IllegalStateException("nothing listened on port " + port + " within " + atMost.toSeconds() + " s: "
                    + diagnostics.get(), e);
        }
    }

    private static boolean accepts(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException notYet) {
            return false;
        }
    }
}
