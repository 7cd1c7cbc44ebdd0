package dev.turnout.orchestrator.security;

import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;

/**
 * A password file entry in Mosquitto 2.0's own format, {@code $7$ITERATIONS$SALT$HASH}:
 * PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash, standard Base64 (what {@code mosquitto_passwd}
 * writes). Computed at enrollment, because the secret itself is never stored.
 */
public final class MosquittoPasswordHash {

    private static final int ITERATIONS = 1000;
    private static final int SALT_BYTES = 12;
    private static final int HASH_BYTES = 64;

    private MosquittoPasswordHash() {
    }

    public static String hash(String secret) {
        byte[] salt = Secrets.salt(SALT_BYTES);
        return "$7$" + ITERATIONS + "$" + Base64.getEncoder().encodeToString(salt) + "$"
                + Base64.getEncoder().encodeToString(pbkdf2(secret, salt, ITERATIONS));
    }

    public static boolean verify(String secret, String encoded) {
        String[] parts = encoded.split("\\$");
        if (parts.length != 5 || !parts[1].equals("7")) {
            return false;
        }
        byte[] salt = Base64.getDecoder().decode(parts[3]);
        byte[] expected = Base64.getDecoder().decode(parts[4]);
        return MessageDigest.isEqual(expected, pbkdf2(secret, salt, Integer.parseInt(parts[2])));
    }

    private static byte[] pbkdf2(String secret, byte[] salt, int iterations) {
        try {
            PBEKeySpec spec = new PBEKeySpec(secret.toCharArray(), salt, iterations, HASH_BYTES * 8);
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA512").generateSecret(spec).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA512 is not available", e);
        }
    }
}
