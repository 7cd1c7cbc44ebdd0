package dev.turnout.edge.tls;

import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TlsRefusedTest {

    @Test
    void refusesEveryUseAndSaysWhy() {
        SSLContext context = TlsRefused.context("the Docker engine is configured without TLS");
        assertThatThrownBy(context::getSocketFactory).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("configured without TLS");
        assertThatThrownBy(context::createSSLEngine).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> context.init(null, null, null)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aPlainClientRedirectedToHttpsFailsWithARecognisableRefusal() throws Exception {
        com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        int port = server.getAddress().getPort();
        server.createContext("/", exchange -> {
            exchange.getResponseHeaders().add("Location", "https://127.0.0.1:" + port + "/elsewhere");
            exchange.sendResponseHeaders(302, -1);
            exchange.close();
        });
        server.start();
        try {
            java.net.http.HttpClient plain = TlsRefused.plainHttp(java.net.http.HttpClient.newBuilder()
                    .followRedirects(java.net.http.HttpClient.Redirect.NORMAL), "test").build();
            assertThatThrownBy(() -> plain.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/")).build(),
                    java.net.http.HttpResponse.BodyHandlers.discarding()))
                    .isInstanceOf(java.io.IOException.class).matches(TlsRefused::isRefusal);
            assertThat(TlsRefused.isRefusal(new java.io.IOException("connection refused"))).isFalse();
        } finally {
            server.stop(0);
        }
    }

    @Test
    void aPlainHttpClientIsBuiltWithoutTouchingIt() {
        // the JDK client asks a context without given parameters for its defaults, which this one refuses
        assertThat(TlsRefused.plainHttp(java.net.http.HttpClient.newBuilder(), "test").build()).isNotNull();
    }
}
