package dev.turnout.orchestrator.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The operator token: the bearer secret every HTTP API route asks for (docs/security.md). 256
 * random bits, base64url, created once into {@code <data>/operator.token} (mode 0600) and read from
 * there at every start. {@link #rotate()} ({@code turnout token rotate}) replaces it; so does
 * deleting the file and restarting the server.
 *
 * <p>Only a SHA-256 of the token is compared, with {@link MessageDigest#isEqual}: the comparison
 * takes the same time whatever the candidate, and its length does not show.
 */
public final class OperatorToken {

    public static final String FILE = "operator.token";

    private final Path file;
    private volatile String token;
    private volatile byte[] digest;
    private final boolean created;

    /**
     * Replaces the token by a new random one: written to the file first (atomically, mode 0600),
     * then in force. The old token stops working at once.
     */
    public synchronized String rotate() throws IOException {
        String fresh = Secrets.newSecret();
        Secrets.writePrivate(file, fresh + "\n");
        byte[] freshDigest = sha256(fresh);
        token = fresh;
        digest = freshDigest;
        return fresh;
    }

    private OperatorToken(Path file, String token, boolean created) {
        this.file = file;
        this.token = token;
        this.digest = sha256(token);
        this.created = created;
    }

    /** Reads {@code <dataDir>/operator.token}, creating it (mode 0600, atomically) on first start. */
    public static OperatorToken loadOrCreate(Path dataDir) throws IOException {
        Path file = dataDir.resolve(FILE).toAbsolutePath();
        boolean created = Secrets.createSecretFile(file);
        String token = read(file);
        if (token.length() < 16) {
            throw new IOException(file + " holds no usable operator token (at least 16 characters);"
                    + " delete it and restart the server to create a new one");
        }
        return new OperatorToken(file, token, created);
    }

    /** The first line of a token file, trimmed. */
    public static String read(Path file) throws IOException {
        return Secrets.firstLine(file);
    }

    /** True when {@code candidate} is the token; constant time. */
    public boolean matches(String candidate) {
        return candidate != null && MessageDigest.isEqual(digest, sha256(candidate));
    }

    /** The token itself: for the server's own tests and in-process clients (the demo). Never log it. */
    public String value() {
        return token;
    }

    public Path file() {
        return file;
    }

    /** True when this start created the file. */
    public boolean created() {
        return created;
    }

    static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return "OperatorToken[" + file + "]";
    }
}
