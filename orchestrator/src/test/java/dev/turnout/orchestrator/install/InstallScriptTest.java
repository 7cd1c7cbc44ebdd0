package dev.turnout.orchestrator.install;

import dev.turnout.orchestrator.security.TlsMaterial;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The install script as rendered, and curl's pin of a TLS orchestrator's key. */
class InstallScriptTest {

    @TempDir
    Path dir;

    private static final String SHA = "a".repeat(64);

    private static InstallScript.Inputs inputs(String device, String curl) {
        return new InstallScript.Inputs(device, "http://10.0.0.5:8080/", "t".repeat(43), SHA, "b".repeat(64),
                Instant.parse("2026-12-06T21:00:00Z"), curl);
    }

    @Test
    void theScriptIsValidShWithEveryValueFilledInAndTheLineChecksItsHash() throws Exception {
        String script = InstallScript.render(inputs("pi-3", ""));
        assertThat(script).doesNotContain("@@").contains("DEVICE='pi-3'", "BASE='http://10.0.0.5:8080/install/" + "t".repeat(43) + "'",
                "DEB_SHA256='" + SHA + "'", "CURL_OPTS=''", "set -eu");
        Files.writeString(dir.resolve("s.sh"), script);
        for (String sh : List.of("/bin/sh", "/usr/bin/dash")) {
            if (Files.isExecutable(Path.of(sh))) {
                Process p = new ProcessBuilder(sh, "-n", dir.resolve("s.sh").toString()).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
                assertThat(p.exitValue()).as(sh + " -n: " + out).isZero();
            }
        }
        assertThat(InstallScript.command(inputs("pi-3", ""), SHA)).isEqualTo("curl -fsSL -o turnout-install.sh http://10.0.0.5:8080/install/"
                + "t".repeat(43) + " && echo '" + SHA + "  turnout-install.sh' | sha256sum -c - && sudo sh turnout-install.sh");
    }

    @Test
    void aValueThatWouldLeaveItsQuotesIsRefused() {
        assertThatThrownBy(() -> InstallScript.render(inputs("pi'; rm -rf /; '", ""))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void withTlsCurlPinsTheServersPublicKeyAsOpensslComputesIt() throws Exception {
        assertThat(InstallScript.curlOptions(null)).isEmpty();
        TlsMaterial tls = TlsMaterial.loadOrGenerate(dir.resolve("tls"), List.of("10.0.0.5"), Clock.systemUTC());
        String options = InstallScript.curlOptions(tls.certificatePem());
        assertThat(options).startsWith("--insecure --pinnedpubkey sha256//");
        Files.writeString(dir.resolve("cert.pem"), tls.certificatePem());
        Process p = new ProcessBuilder("sh", "-c", "openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der"
                + " | openssl dgst -sha256 -binary | base64").directory(dir.toFile()).redirectErrorStream(true).start();
        String pin = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(options).isEqualTo("--insecure --pinnedpubkey sha256//" + pin);
        assertThat(InstallScript.command(inputs("pi-3", options), SHA)).startsWith("curl -fsSL " + options + " -o turnout-install.sh ");
    }
}
