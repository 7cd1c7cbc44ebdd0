package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/** The orchestrator's HTTP API ({@code docs/api.md}) as the CLI uses it. Every failure becomes a {@link CliException}. */
final class ApiClient {

    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

    private final URI base;
    private final ObjectMapper json;
    private final HttpClient http;
    private final CliTrust trust;
    private final TokenLookup.Found token;

    ApiClient(String serverUrl, ObjectMapper json, TokenLookup.Found token) {
        this(serverUrl, json, token, null);
    }

    /**
     * @param token the operator token to send (null: none)
     * @param trust the CA an {@code https://} server's certificate must chain to (null: plain HTTP or the system trust store)
     */
    ApiClient(String serverUrl, ObjectMapper json, TokenLookup.Found token, CliTrust trust) {
        this.base = parseServer(serverUrl);
        this.json = json;
        this.token = token;
        this.trust = trust;
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).version(HttpClient.Version.HTTP_1_1);
        if (trust != null) {
            builder.sslContext(trust.sslContext());
        }
        this.http = builder.build();
    }

    /** The TLS context of this client (for other clients of the same server). */
    javax.net.ssl.SSLContext sslContext() {
        return http.sslContext();
    }

    /** The CA the CLI trusts for this server; null: plain HTTP or the system trust store. */
    dev.turnout.proto.tls.PinnedTrust pinnedCa() {
        return trust == null ? null : trust.pinned();
    }

    static URI parseServer(String url) {
        try {
            URI uri = URI.create(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
            if (uri.getHost() == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))) {
                throw new IllegalArgumentException("not an http(s) URL");
            }
            return uri;
        } catch (IllegalArgumentException e) {
            throw new CliException("server URL '" + url + "' is not valid: give it as http://HOST:PORT");
        }
    }

    String server() {
        return base.toString();
    }

    /** The operator token in use (null: none found), for clients this command starts itself (simulated devices). */
    String token() {
        return token == null ? null : token.token();
    }

    /** Where the token in use came from (null: none found). */
    String tokenSource() {
        return token == null ? null : token.source();
    }

    private HttpRequest.Builder authorized(HttpRequest.Builder request) {
        if (token != null && token.token() != null) {
            request.header("Authorization", "Bearer " + token.token());
        }
        return request;
    }

    static String segment(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    JsonNode get(String path) {
        return send(request(path).GET().build(), path);
    }

    /** An answer whose status the caller deals with itself. */
    record Answer(int status, JsonNode body) {
    }

    /** GET whose answer with one of the {@code tolerated} statuses comes back as it is instead of failing. */
    Answer getAnswer(String path, java.util.Set<Integer> tolerated) {
        HttpResponse<String> response = exchange(request(path).GET().build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (tolerated.contains(response.statusCode())) {
            try {
                return new Answer(response.statusCode(), response.body().isEmpty() ? json.createObjectNode() : json.readTree(response.body()));
            } catch (IOException e) {
                return new Answer(response.statusCode(), json.createObjectNode());
            }
        }
        return new Answer(response.statusCode(), body(response, path));
    }

    /** GET that answers empty on 404 instead of failing. */
    Optional<JsonNode> find(String path) {
        HttpResponse<String> response = exchange(request(path).GET().build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (response.statusCode() == 404) {
            return Optional.empty();
        }
        return Optional.of(body(response, path));
    }

    JsonNode post(String path, Object body) {
        return send(request(path).header("Content-Type", "application/json").POST(json(body)).build(), path);
    }

    JsonNode delete(String path) {
        return send(request(path).DELETE().build(), path);
    }

    JsonNode put(String path, Object body) {
        return send(request(path).header("Content-Type", "application/json").PUT(json(body)).build(), path);
    }

    private HttpRequest.BodyPublisher json(Object body) {
        try {
            return HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CliException("cannot encode the request: " + e.getMessage());
        }
    }

    /** Streams a file as the request body; nothing is held in memory. */
    JsonNode upload(String path, Path file) {
        HttpRequest.BodyPublisher publisher;
        try {
            publisher = HttpRequest.BodyPublishers.ofFile(file);
        } catch (IOException e) {
            throw new CliException("cannot read " + file + ": " + e.getMessage());
        }
        HttpRequest request = authorized(HttpRequest.newBuilder(base.resolve(path))).timeout(Duration.ofMinutes(30))
                .header("Content-Type", "application/octet-stream")
                .POST(publisher).build();
        return send(request, path);
    }

    /** Streams a download into {@code file} (written whole or not at all); returns its size. */
    long download(String path, Path file) {
        HttpRequest request = authorized(HttpRequest.newBuilder(base.resolve(path))).timeout(Duration.ofMinutes(30))
                .GET().build();
        HttpResponse<java.io.InputStream> response = exchange(request, HttpResponse.BodyHandlers.ofInputStream());
        try (java.io.InputStream in = response.body()) {
            if (response.statusCode() >= 400) {
                body(new String(in.readAllBytes(), StandardCharsets.UTF_8), response.statusCode(), path);
            }
            Path tmp = file.resolveSibling("." + file.getFileName() + ".part");
            long size = java.nio.file.Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            java.nio.file.Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return size;
        } catch (IOException e) {
            throw new CliException("cannot write " + file + ": " + e.getMessage());
        }
    }

    /** Checks a downloaded file before it takes its final name. */
    @FunctionalInterface
    interface DownloadCheck<T> {
        T check(Path file) throws IOException;
    }

    /**
     * Streams a download into {@code file}: through {@code .NAME.part} next to it, created mode 0600,
     * checked by {@code check}, then renamed (atomically) to {@code file}. Nothing is left behind on failure.
     */
    <T> T downloadPrivate(String path, Path file, DownloadCheck<T> check) {
        HttpRequest request = authorized(HttpRequest.newBuilder(base.resolve(path))).timeout(Duration.ofHours(2))
                .GET().build();
        HttpResponse<java.io.InputStream> response = exchange(request, HttpResponse.BodyHandlers.ofInputStream());
        Path tmp = file.toAbsolutePath().resolveSibling("." + file.getFileName() + ".part");
        try (java.io.InputStream in = response.body()) {
            if (response.statusCode() >= 400) {
                body(new String(in.readAllBytes(), StandardCharsets.UTF_8), response.statusCode(), path);
            }
            java.nio.file.Files.deleteIfExists(tmp);
            try {
                java.nio.file.Files.createFile(tmp, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException e) {
                java.nio.file.Files.createFile(tmp);
            }
            try (java.io.OutputStream out = java.nio.file.Files.newOutputStream(tmp)) {
                in.transferTo(out);
            }
            T checked = check.check(tmp);
            java.nio.file.Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return checked;
        } catch (IOException e) {
            throw new CliException("cannot write " + file + ": " + e.getMessage());
        } finally {
            try {
                java.nio.file.Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort
            }
        }
    }

    private HttpRequest.Builder request(String path) {
        return authorized(HttpRequest.newBuilder(base.resolve(path))).timeout(REQUEST_TIMEOUT)
                .header("Accept", "application/json");
    }

    private JsonNode send(HttpRequest request, String path) {
        return body(exchange(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)), path);
    }

    /** Sends one request; every way of not getting an answer becomes a one-line {@link CliException}. */
    private <T> HttpResponse<T> exchange(HttpRequest request, HttpResponse.BodyHandler<T> handler) {
        try {
            return http.send(request, handler);
        } catch (ConnectException | HttpConnectTimeoutException e) {
            throw unreachable("nothing answers there");
        } catch (HttpTimeoutException e) {
            throw unreachable("it did not answer within " + REQUEST_TIMEOUT.toSeconds() + " s");
        } catch (IOException e) {
            String tls = dev.turnout.proto.tls.PinnedTrust.explain(e);
            if (tls != null && "https".equals(base.getScheme())) {
                throw new CliException("cannot talk TLS to the Turnout server at " + base + ": " + tls
                        + (trust != null ? "; " + trust.hint() : ""));
            }
            if ("http".equals(base.getScheme()) && e.getMessage() != null
                    && (e.getMessage().contains("received no bytes") || e.getMessage().contains("EOF"))) {
                throw unreachable("it closed the connection; does it serve HTTPS? then use --server https://...");
            }
            throw unreachable(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted");
        }
    }

    private CliException unreachable(String why) {
        return new CliException("cannot reach the Turnout server at " + base + " (" + why
                + "); start it with `turnout server`, or point --server / TURNOUT_SERVER at it");
    }

    /** A 401: says which token was sent, or where the CLI looked for one. */
    private CliException refused(String serverMessage) {
        if (token == null) { // a request that carries its credentials in its body (turnout login)
            return new CliException("the server at " + base + " refused: " + serverMessage);
        }
        if (token.token() == null) {
            return new CliException("the server at " + base + " wants a token and none was found (looked in: "
                    + String.join(", ", token.looked())
                    + "); sign in with `turnout login`, set TURNOUT_TOKEN, use --token-file FILE, or put token: in the CLI config file (docs/cli.md)");
        }
        return new CliException("the server at " + base + " refused the token from " + token.source()
                + (serverMessage.isEmpty() ? "" : " (" + serverMessage + ")"));
    }

    private JsonNode body(HttpResponse<String> response, String path) {
        return body(response.body(), response.statusCode(), path);
    }

    private JsonNode body(String text, int status, String path) {
        JsonNode node;
        try {
            node = text.isEmpty() ? json.createObjectNode() : json.readTree(text);
        } catch (IOException e) {
            throw new CliException(base + path + " answered " + status + " with something that is not JSON;"
                    + " is --server pointing at a Turnout server?");
        }
        if (status == 401) {
            throw refused(node.path("error").asText(""));
        }
        if (status >= 400) {
            String message = node.path("error").asText("");
            throw new CliException(message.isEmpty() ? "the server answered " + status + " to " + path : message);
        }
        return node;
    }
}
