package dev.turnout.orchestrator.backup;

import dev.turnout.orchestrator.security.Keyring;
import dev.turnout.orchestrator.security.OperatorToken;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.security.TlsMaterial;

import java.util.List;
import java.util.regex.Pattern;

/**
 * Which files of a data directory a backup holds, under which names, and with which mode a restore
 * writes them. Deny by default: a restore writes no path that is not listed here.
 */
final class BackupLayout {

    /** The first entry of every backup. */
    static final String MANIFEST = "manifest.json";
    /** The SQLite database: the fleet store (unless PostgreSQL) and the broker identities. */
    static final String DATABASE = "turnout.db";
    static final String SIGNING_KEY = Keyring.ACTIVE;
    static final String ARTIFACTS = "artifacts/sha256/";

    private static final String TLS = "tls/";

    /** The files other than the database and the artifacts, each backed up when it exists. */
    static final List<String> FILES = List.of(SIGNING_KEY, Keyring.NEXT, Keyring.PREVIOUS, Keyring.IDENTITY, OperatorToken.FILE, OrchestratorIdentity.SECRET_FILE,
            TLS + TlsMaterial.CA_FILE, TLS + TlsMaterial.CA_KEY_FILE, TLS + TlsMaterial.SERVER_CERT_FILE, TLS + TlsMaterial.SERVER_KEY_FILE);

    /** Certificates: public, written 0644 like the server does; everything else is 0600. */
    private static final List<String> PUBLIC = List.of(TLS + TlsMaterial.CA_FILE, TLS + TlsMaterial.SERVER_CERT_FILE);
    private static final Pattern ARTIFACT = Pattern.compile("artifacts/sha256/([0-9a-f]{64})");

    private BackupLayout() {
    }

    /** True for a path a backup may hold (the manifest aside). */
    static boolean allowed(String path) {
        return DATABASE.equals(path) || FILES.contains(path) || ARTIFACT.matcher(path).matches();
    }

    /** The SHA-256 (hex) an artifact's path names, or null for another path. */
    static String artifactDigest(String path) {
        var m = ARTIFACT.matcher(path);
        return m.matches() ? m.group(1) : null;
    }

    /** The mode a restore gives {@code path}: 0600 (secrets, the database, artifacts) or 0644 (certificates). */
    static String mode(String path) {
        return PUBLIC.contains(path) ? "rw-r--r--" : "rw-------";
    }

    /** The same as a tar header's mode bits. */
    static int tarMode(String path) {
        return PUBLIC.contains(path) ? 0100644 : 0100600;
    }
}
