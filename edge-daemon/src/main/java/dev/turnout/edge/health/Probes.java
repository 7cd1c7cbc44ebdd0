package dev.turnout.edge.health;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ContainerRuntime;
import dev.turnout.edge.tls.TlsRefused;
import dev.turnout.proto.HealthCheck;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;

/** Builds the probe a health check asks for: exec, http, tcp, the image's own HEALTHCHECK, or none. */
public final class Probes implements Function<HealthCheck, Probe> {

    private final ContainerRuntime runtime;
    /** Built for the first HTTP probe: most devices never need one. */
    private HttpClient http;

    public Probes(ContainerRuntime runtime) {
        this.runtime = runtime;
    }

    /** Built for the first plain {@code http://} probe (the usual case): no TLS stack loaded for it. */
    private HttpClient plainHttp;

    private synchronized HttpClient http(URI uri) {
        if ("http".equalsIgnoreCase(uri.getScheme())) {
            if (plainHttp == null) {
                plainHttp = TlsRefused.plainHttp(HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)), "plain HTTP probe").build();
            }
            return plainHttp;
        }
        if (http == null) {
            http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        }
        return http;
    }

    @Override
    public Probe apply(HealthCheck check) {
        if (check.getExecCount() > 0) {
            List<String> command = List.copyOf(check.getExecList());
            return (id, timeout) -> {
                try {
                    return runtime.exec(id, command, timeout) == 0;
                } catch (UpdateFailure e) {
                    return false;
                }
            };
        }
        if (!check.getHttp().isEmpty()) {
            URI uri = URI.create(check.getHttp());
            return (id, timeout) -> httpOk(uri, timeout);
        }
        if (!check.getTcp().isEmpty()) {
            String target = check.getTcp();
            return (id, timeout) -> tcpOpen(target, timeout);
        }
        if (check.getDocker()) {
            return (id, timeout) -> {
                try {
                    return "healthy".equals(runtime.status(id).health());
                } catch (UpdateFailure e) {
                    return false;
                }
            };
        }
        return (id, timeout) -> true; // no probe: running through the soak is enough
    }

    private boolean httpOk(URI uri, Duration timeout) {
        try {
            HttpResponse<Void> response = http(uri).send(HttpRequest.newBuilder(uri).timeout(timeout).GET().build(),
                    HttpResponse.BodyHandlers.discarding());
            return response.statusCode() / 100 == 2;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static boolean tcpOpen(String target, Duration timeout) {
        int colon = target.lastIndexOf(':');
        if (colon < 0) {
            return false;
        }
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1))),
                    (int) Math.max(1, timeout.toMillis()));
            return true;
        } catch (IOException | NumberFormatException e) {
            return false;
        }
    }
}
