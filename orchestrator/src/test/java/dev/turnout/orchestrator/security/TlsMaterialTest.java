package dev.turnout.orchestrator.security;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TlsMaterialTest {

    @TempDir
    Path dir;

    private final Clock clock = Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC);

    @Test
    void firstStartCreatesACaAndAServerCertificateNamingEveryHostWithPrivateKeys() throws Exception {
        List<String> names = TlsMaterial.serverNames("turnout.example", "10.0.0.7", List.of("fleet.example"));
        assertThat(names).contains("turnout.example", "localhost", "127.0.0.1", "10.0.0.7", "fleet.example");
        assertThat(TlsMaterial.serverNames("10.0.0.8", "0.0.0.0", List.of())).doesNotContain("0.0.0.0");

        TlsMaterial tls = TlsMaterial.loadOrGenerate(dir, names, clock);

        X509Certificate server = tls.chain()[0];
        X509Certificate ca = TlsMaterial.readCertificates(dir.resolve("ca.pem")).get(0);
        assertThat(TlsMaterial.names(server)).containsAll(names);
        assertThat(tls.names("TURNOUT.example")).isTrue();
        assertThat(tls.names("other.example")).isFalse();
        server.verify(ca.getPublicKey());
        assertThat(ca.getBasicConstraints()).isGreaterThanOrEqualTo(0);
        assertThat(server.getBasicConstraints()).isEqualTo(-1);
        assertThat(server.getExtendedKeyUsage()).contains("1.3.6.1.5.5.7.3.1"); // serverAuth
        assertThat(ca.getPublicKey().getAlgorithm()).isEqualTo("EC");
        assertThat(server.getSigAlgName()).isEqualTo("SHA256withECDSA");
        assertThat(Duration.between(clock.instant(), ca.getNotAfter().toInstant())).isGreaterThan(Duration.ofDays(19 * 365));
        assertThat(Duration.between(clock.instant(), server.getNotAfter().toInstant())).isBetween(Duration.ofDays(700), Duration.ofDays(731));
        assertThat(server.getNotBefore().toInstant()).isBefore(clock.instant()); // a device clock a little behind still accepts it
        for (String key : List.of("ca.key", "server.key")) {
            assertThat(Files.getPosixFilePermissions(dir.resolve(key))).as(key).isEqualTo(PosixFilePermissions.fromString("rw-------"));
            assertThat(Files.readString(dir.resolve(key))).startsWith("-----BEGIN PRIVATE KEY-----");
        }
        assertThat(tls.caPem()).isEqualTo(Files.readString(dir.resolve("ca.pem")));
        assertThat(tls.caFile()).isEqualTo(dir.resolve("ca.pem"));
    }

    @Test
    void aRestartReusesTheCaAndTheServerCertificate() throws Exception {
        List<String> names = List.of("turnout.example", "127.0.0.1");
        TlsMaterial first = TlsMaterial.loadOrGenerate(dir, names, clock);
        String caBefore = Files.readString(dir.resolve("ca.pem"));
        String keyBefore = Files.readString(dir.resolve("server.key"));

        TlsMaterial again = TlsMaterial.loadOrGenerate(dir, names, Clock.offset(clock, Duration.ofDays(100)));

        assertThat(again.chain()[0]).isEqualTo(first.chain()[0]);
        assertThat(Files.readString(dir.resolve("ca.pem"))).isEqualTo(caBefore);
        assertThat(Files.readString(dir.resolve("server.key"))).isEqualTo(keyBefore);
        assertThat(again.keyPem()).isEqualTo(first.keyPem());
    }

    @Test
    void anotherAdvertisedHostOrANearExpiryReissuesTheServerCertificateButKeepsTheCa() throws Exception {
        TlsMaterial first = TlsMaterial.loadOrGenerate(dir, List.of("old.example", "127.0.0.1"), clock);
        String ca = Files.readString(dir.resolve("ca.pem"));

        TlsMaterial moved = TlsMaterial.loadOrGenerate(dir, List.of("new.example", "127.0.0.1"), clock);
        assertThat(moved.chain()[0]).isNotEqualTo(first.chain()[0]);
        assertThat(moved.names("new.example")).isTrue();
        assertThat(Files.readString(dir.resolve("ca.pem"))).isEqualTo(ca);
        moved.chain()[0].verify(first.chain()[1].getPublicKey());

        TlsMaterial renewed = TlsMaterial.loadOrGenerate(dir, List.of("new.example", "127.0.0.1"),
                Clock.offset(clock, Duration.ofDays(2 * 365 - 10)));
        assertThat(renewed.chain()[0]).isNotEqualTo(moved.chain()[0]);
        assertThat(Files.readString(dir.resolve("ca.pem"))).isEqualTo(ca);
    }

    @Test
    void aCaCertificateWithoutItsKeyIsAnErrorNotASilentNewCa() throws Exception {
        TlsMaterial.loadOrGenerate(dir, List.of("127.0.0.1"), clock);
        Files.delete(dir.resolve("ca.key"));
        String ca = Files.readString(dir.resolve("ca.pem"));

        assertThatThrownBy(() -> TlsMaterial.loadOrGenerate(dir, List.of("127.0.0.1"), clock))
                .isInstanceOf(IOException.class).hasMessageContaining("ca.pem exists without").hasMessageContaining("ca.key");
        assertThat(Files.readString(dir.resolve("ca.pem"))).isEqualTo(ca);
    }

    @Test
    void suppliedMaterialIsCheckedAndGoesIntoAKeyStoreForTheBroker() throws Exception {
        TlsMaterial.Authority ca = TlsMaterial.authority(dir.resolve("site-ca"), clock);
        TlsMaterial.Issued issued = ca.issue(List.of("broker.site"), "site", Duration.ofDays(30));
        issued.writeTo(dir.resolve("site.pem"), dir.resolve("site.key"));
        TlsMaterial.Issued other = ca.issue(List.of("other.site"), "other", Duration.ofDays(30));
        other.writeTo(dir.resolve("other.pem"), dir.resolve("other.key"));

        TlsMaterial supplied = TlsMaterial.supplied(dir.resolve("site.pem"), dir.resolve("site.key"), dir.resolve("site-ca/ca.pem"));
        assertThat(supplied.caPem()).contains("BEGIN CERTIFICATE");
        assertThat(supplied.names("broker.site")).isTrue();
        assertThatThrownBy(() -> TlsMaterial.supplied(dir.resolve("site.pem"), dir.resolve("other.key"), null))
                .hasMessageContaining("does not belong to");
        assertThatThrownBy(() -> TlsMaterial.supplied(dir.resolve("missing.pem"), dir.resolve("site.key"), null))
                .hasMessageContaining("missing.pem does not exist");

        Path store = dir.resolve("broker.p12");
        supplied.writeKeyStore(store, "pw".toCharArray());
        assertThat(Files.getPosixFilePermissions(store)).isEqualTo(PosixFilePermissions.fromString("rw-------"));
        KeyStore loaded = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(store)) {
            loaded.load(in, "pw".toCharArray());
        }
        assertThat(loaded.getCertificateChain("turnout")).hasSize(1);
        assertThat(loaded.getKey("turnout", "pw".toCharArray())).isNotNull();
    }
}
