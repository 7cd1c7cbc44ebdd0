package dev.turnout.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;

/** Loopback ports for the servers a test starts, so no test hard-codes one. */
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
}
