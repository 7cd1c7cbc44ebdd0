package dev.turnout.orchestrator.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;

/**
 * The orchestrator's own broker identity: a user name and a secret. By default the name is
 * {@value #NAME_PREFIX}{@code -<signing key id>} (also the MQTT client id, so two orchestrators
 * never take over each other's session) and the secret is generated once into
 * {@code <data>/broker.secret} (mode 0600). For an external broker the operator may name both.
 */
public final class OrchestratorIdentity {

    /** Names starting with this are reserved: no device or monitor can be enrolled under them. */
    public static final String NAME_PREFIX = "turnout-orchestrator";
    public static final String SECRET_FILE = "broker.secret";

    private final String name;
    private final String secret;

    public OrchestratorIdentity(String name, String secret) {
        if (name == null || !Names.isValid(name)) {
            throw new IllegalArgumentException("broker user name '" + name + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (secret == null || secret.isEmpty()) {
            throw new IllegalArgumentException("the broker password is empty");
        }
        this.name = name;
        this.secret = secret;
    }

    /** The generated identity of the orchestrator whose signing key has {@code keyId}. */
    public static OrchestratorIdentity loadOrCreate(Path dataDir, String keyId) throws IOException {
        Path file = dataDir.resolve(SECRET_FILE);
        Secrets.createSecretFile(file);
        return new OrchestratorIdentity(NAME_PREFIX + "-" + keyId, Secrets.firstLine(file));
    }

    /** An identity the operator gives: a user name and a file holding the password (first line). */
    public static OrchestratorIdentity fromFile(String name, Path passwordFile) throws IOException {
        return new OrchestratorIdentity(name, Secrets.firstLine(passwordFile));
    }

    public String name() {
        return name;
    }

    /** The secret, for the orchestrator's own MQTT connection. */
    public String secret() {
        return secret;
    }

    boolean matches(String user, byte[] password) {
        return name.equals(user) && MessageDigest.isEqual(secret.getBytes(StandardCharsets.UTF_8), password);
    }

    @Override
    public String toString() {
        return "OrchestratorIdentity[" + name + "]";
    }
}
