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
    void aPlainHttpClientIsBuiltWithoutTouchingIt() {
        // the JDK client asks a context without given parameters for its defaults, which this one refuses
        assertThat(java.net.http.HttpClient.newBuilder().sslContext(TlsRefused.context("test"))
                .sslParameters(TlsRefused.parameters()).build()).isNotNull();
    }
}
