package dev.turnout.proto.tls;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PinnedTrustTest {

    @TempDir
    Path dir;

    @Test
    void somethingThatIsNotACertificateIsRefusedNamingWhereItCameFrom() throws Exception {
        assertThatThrownBy(() -> PinnedTrust.fromPem("not a certificate", "the CA in your config (ca)"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("the CA in your config (ca) holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        assertThatThrownBy(() -> PinnedTrust.fromPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "ca"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("ca is not a valid PEM certificate");
        assertThatThrownBy(() -> PinnedTrust.fromFile(dir.resolve("missing.pem")))
                .isInstanceOf(IOException.class).hasMessage("CA file " + dir.resolve("missing.pem") + " does not exist");
        Files.writeString(dir.resolve("empty.pem"), "");
        assertThatThrownBy(() -> PinnedTrust.fromFile(dir.resolve("empty.pem"))).hasMessageContaining("holds no PEM certificate");
    }

    @Test
    void handshakeFailuresAreToldInWordsAndOtherFailuresAreLeftAlone() {
        SSLHandshakeException handshake = new SSLHandshakeException("x");
        handshake.initCause(new CertificateException("the broker certificate (CN=b) is not signed by the CA in your config (ca)",
                new CertificateException("PKIX path building failed")));
        Exception certificate = new RuntimeException("connect failed", handshake);
        assertThat(PinnedTrust.explain(certificate)).contains("not signed by the CA in your config");
        assertThat(PinnedTrust.explain(new IOException("wrapped", new SSLException("Unsupported or unrecognized SSL message"))))
                .contains("does not talk TLS on this port");
        assertThat(PinnedTrust.explain(new IOException("Connection refused"))).isNull();
    }

    @Test
    void theSystemTrustStoreIsAvailableForPubliclyTrustedServers() {
        PinnedTrust system = PinnedTrust.system();
        assertThat(system.source()).contains("system trust store");
        assertThat(system.sslContext("orchestrator")).isNotNull();
    }
}
