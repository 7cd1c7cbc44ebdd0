package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.security.TlsMaterial;
import dev.turnout.proto.tls.PinnedTrust;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Which CA the CLI trusts for an {@code https://} server: the file in {@code TURNOUT_CA}, else the
 * CA in the local server's data directory ({@code $TURNOUT_DATA} or {@code ./turnout-data}, file
 * {@code tls/ca.pem}: the CLI runs on the server's host), else the system trust store (an
 * operator-supplied, publicly trusted certificate).
 *
 * @param pinned the pinned CA; null: the system trust store
 * @param hint   what to do when the server's certificate is not trusted
 */
record CliTrust(PinnedTrust pinned, String hint) {

    /** The trust for the server, resolved from the environment; a bad {@code TURNOUT_CA} is a {@link CliException}. */
    static CliTrust resolve(Map<String, String> env) {
        String fromEnv = env.get("TURNOUT_CA");
        if (fromEnv != null && !fromEnv.isBlank()) {
            try {
                return new CliTrust(PinnedTrust.fromFile(Path.of(fromEnv)),
                        "is TURNOUT_CA the CA of this server? (tls/ca.pem in its data directory)");
            } catch (IOException e) {
                throw new CliException("TURNOUT_CA: " + e.getMessage());
            }
        }
        Path local = localCa(env);
        if (local != null) {
            try {
                return new CliTrust(PinnedTrust.fromFile(local),
                        "set TURNOUT_CA to the CA of the server you address (tls/ca.pem in its data directory)");
            } catch (IOException e) {
                throw new CliException(e.getMessage());
            }
        }
        return new CliTrust(null, "set TURNOUT_CA to the server's CA certificate (tls/ca.pem in its data directory,"
                + " printed by `turnout server` at start)");
    }

    /** The CA file of the server on this host, if there is one. */
    static Path localCa(Map<String, String> env) {
        Path data = Cli.dataDir(env, null);
        Path ca = data.resolve("tls").resolve(TlsMaterial.CA_FILE);
        return Files.isRegularFile(ca) ? ca : null;
    }

    /** A TLS context for the HTTP client. */
    SSLContext sslContext() {
        return (pinned != null ? pinned : PinnedTrust.system()).sslContext("orchestrator");
    }
}
