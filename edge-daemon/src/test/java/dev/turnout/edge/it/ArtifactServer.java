package dev.turnout.edge.it;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Serves files under /artifacts/{name} with Range support, like the orchestrator's artifact endpoint. */
final class ArtifactServer implements AutoCloseable {

    private final HttpServer server;
    private final Map<String, Path> files = new ConcurrentHashMap<>();
    private volatile long pauseMsPer64k;
    private volatile String requiredAuthorization;
    private final java.util.Set<String> refused = ConcurrentHashMap.newKeySet();

    ArtifactServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/artifacts/", this::serve);
        server.start();
    }

    String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Serves slowly from now on: a pause after every 64 KiB (a slow link). */
    void throttle(long pauseMs) {
        this.pauseMsPer64k = pauseMs;
    }

    /** From now on wants these HTTP Basic credentials, like the orchestrator (401 otherwise). */
    void requireBasic(String user, String password) {
        requiredAuthorization = "Basic " + java.util.Base64.getEncoder().encodeToString(
                (user + ":" + password).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Answers 403 for {@code name}, as the orchestrator does for an archive not in the device's desired state. */
    String refuse(String name) {
        refused.add(name);
        return "/artifacts/" + name;
    }

    /** Returns the relative URL of the file. */
    String add(String name, Path file) {
        files.put(name, file);
        return "/artifacts/" + name;
    }

    private void serve(HttpExchange exchange) throws IOException {
        String name = exchange.getRequestURI().getPath().substring("/artifacts/".length());
        String required = requiredAuthorization;
        if (required != null && !required.equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
            error(exchange, 401, "the credentials are wrong or revoked");
            return;
        }
        if (refused.contains(name)) {
            error(exchange, 403, "artifact " + name + " is not part of a release in the desired state of this device");
            return;
        }
        Path file = files.get(name);
        if (file == null) {
            exchange.sendResponseHeaders(404, -1);
            exchange.close();
            return;
        }
        byte[] all = Files.readAllBytes(file);
        int from = 0;
        String range = exchange.getRequestHeaders().getFirst("Range");
        if (range != null && range.startsWith("bytes=")) {
            from = Integer.parseInt(range.substring(6, range.indexOf('-')));
        }
        exchange.sendResponseHeaders(from > 0 ? 206 : 200, all.length - from);
        try (OutputStream out = exchange.getResponseBody()) {
            for (int at = from; at < all.length; at += 65536) {
                out.write(all, at, Math.min(65536, all.length - at));
                if (pauseMsPer64k > 0) {
                    out.flush();
                    try {
                        Thread.sleep(pauseMsPer64k); // simulated slow link
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            }
        }
    }

    private static void error(HttpExchange exchange, int status, String message) throws IOException {
        byte[] body = ("{\"error\":\"" + message + "\"}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
