package dev.turnout.orchestrator.app;

import java.nio.file.Path;
import java.util.List;

/**
 * TLS for the HTTP API, the embedded broker and the orchestrator's own broker connection
 * (docs/security.md).
 *
 * @param enabled    HTTPS and MQTT over TLS; with no {@code certFile} a CA and a server certificate are
 *                   generated in {@code <data>/tls/} on first start and reused after
 * @param certFile   operator-supplied server certificate (PEM, chain allowed); null: generated
 * @param keyFile    its private key (PEM); goes with {@code certFile}
 * @param caFile     the CA devices pin for an operator-supplied certificate; null: devices use their system
 *                   trust store (a publicly trusted certificate)
 * @param extraHosts more names for the generated server certificate (beyond the advertised host, this
 *                   machine's host name, localhost, 127.0.0.1 and a specific bind address)
 * @param brokerCaFile CA of an external broker's certificate ({@code ssl://} broker URL); null: the orchestrator's
 *                   CA when TLS is on, else the system trust store
 */
public record TlsOptions(boolean enabled, Path certFile, Path keyFile, Path caFile, List<String> extraHosts, Path brokerCaFile) {

    public TlsOptions {
        if ((certFile == null) != (keyFile == null)) {
            throw new IllegalArgumentException("--tls-cert and --tls-key go together");
        }
        if (caFile != null && certFile == null) {
            throw new IllegalArgumentException("--tls-ca goes with --tls-cert and --tls-key (a generated certificate has its own CA)");
        }
        enabled = enabled || certFile != null;
        extraHosts = extraHosts == null ? List.of() : List.copyOf(extraHosts);
        if (!extraHosts.isEmpty() && certFile != null) {
            throw new IllegalArgumentException("--tls-host names go into a generated certificate, not into one you supply");
        }
    }

    /** Plain HTTP and MQTT. */
    public static TlsOptions off() {
        return new TlsOptions(false, null, null, null, List.of(), null);
    }

    /** A generated CA and server certificate. */
    public static TlsOptions generated() {
        return new TlsOptions(true, null, null, null, List.of(), null);
    }

    /** True when the certificate is the operator's. */
    public boolean supplied() {
        return certFile != null;
    }

    /** These options with {@code file} as the CA of an external broker. */
    public TlsOptions withBrokerCa(Path file) {
        return new TlsOptions(enabled, certFile, keyFile, caFile, extraHosts, file);
    }
}
