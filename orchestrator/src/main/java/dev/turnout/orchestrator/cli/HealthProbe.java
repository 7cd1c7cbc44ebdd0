package dev.turnout.orchestrator.cli;

import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;

/**
 * The Docker image's {@code HEALTHCHECK} (the image has no shell and no curl): asks the orchestrator in the same
 * container for {@code GET /api/v1/health} and exits 0 on {@code 200 {"status":"ok"}}, 1 otherwise, with one line
 * saying what it saw (Docker keeps it in {@code docker inspect}'s health log). Port, scheme and address come from
 * {@code TURNOUT_SERVER_ARGS} ({@code --http-port}, {@code --tls}/{@code --tls-cert}, {@code --bind}), the
 * variable the image's entry point reads. Uses nothing outside {@code java.base}, so that a run costs one small JVM.
 */
public final class HealthProbe {

    private HealthProbe() {
    }

    public static void main(String[] args) {
        System.exit(probe(System.getenv(), System.out));
    }

    static int probe(Map<String, String> env, PrintStream out) {
        URI uri = target(ImageEntrypoint.words(env.get(ImageEntrypoint.SERVER_ARGS)));
        try {
            HttpURLConnection connection = (HttpURLConnection) uri.toURL().openConnection();
            if (connection instanceof HttpsURLConnection https) {
                // the probe talks to its own container over the loopback interface: nothing to authenticate
                https.setSSLSocketFactory(trustingContext().getSocketFactory());
                https.setHostnameVerifier((host, session) -> true);
            }
            connection.setConnectTimeout(5_000);
            connection.setReadTimeout(5_000);
            int status = connection.getResponseCode();
            String body;
            try (InputStream in = status < 400 ? connection.getInputStream() : connection.getErrorStream()) {
                body = in == null ? "" : new String(in.readNBytes(512), StandardCharsets.UTF_8);
            }
            if (status == 200 && body.replace(" ", "").contains("\"status\":\"ok\"")) {
                out.println("healthy: " + uri + " " + body.strip());
                return 0;
            }
            out.println("unhealthy: " + uri + " answered " + status + " " + body.strip());
        } catch (IOException | GeneralSecurityException e) {
            out.println("unhealthy: " + uri + ": " + e);
        }
        return 1;
    }

    /** The health URL of a server started with {@code flags}. */
    static URI target(List<String> flags) {
        String port = "8080";
        String host = "127.0.0.1";
        boolean tls = false;
        for (int i = 0; i < flags.size(); i++) {
            String flag = flags.get(i);
            String name = flag.contains("=") ? flag.substring(0, flag.indexOf('=')) : flag;
            String value = flag.contains("=") ? flag.substring(flag.indexOf('=') + 1) : i + 1 < flags.size() ? flags.get(i + 1) : null;
            switch (name) {
                case "--http-port" -> port = value;
                case "--tls", "--tls-cert" -> tls = true;
                case "--bind" -> host = value == null || value.equals("0.0.0.0") || value.equals("::") ? host : value;
                default -> { }
            }
        }
        String literal = host.contains(":") ? "[" + host + "]" : host;
        return URI.create((tls ? "https" : "http") + "://" + literal + ":" + port + "/api/v1/health");
    }

    private static SSLContext trustingContext() throws GeneralSecurityException {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, new TrustManager[] {new X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) {
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        }}, null);
        return context;
    }
}
