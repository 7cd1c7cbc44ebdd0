package dev.turnout.broker;

import org.bouncycastle.crypto.generators.Argon2BytesGenerator;
import org.bouncycastle.crypto.params.Argon2Parameters;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the orchestrator stores instead of a secret, and what a standalone broker's identities file
 * holds; two forms, told apart by their prefix, both checked by {@link #verify}:
 * <ul>
 * <li>{@link #hash}: Argon2id (Bouncy Castle) in the PHC string format
 * {@code $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH}, on purpose slow (tens of ms, 19 MiB) — for a
 * secret a person may have chosen (the orchestrator's broker password can be the operator's);</li>
 * <li>{@link #hashMachineSecret}: {@code $hmac-sha256$v=1$SALT$MAC}, HMAC-SHA256 of the secret keyed
 * by a random salt, microseconds to check — for the long random secrets the orchestrator makes for
 * devices and monitors (256 bits): nobody can guess such a secret, so slowness protects nothing and
 * only made every reconnect storm cost one Argon2id per device. Refused for anything shorter than
 * {@link #MACHINE_SECRET_MIN_CHARS}, when hashing and when checking.</li>
 * </ul>
 */
public final class PasswordHash {

    private static final int MEMORY_KIB = 19_456;
    private static final int ITERATIONS = 2;
    private static final int PARALLELISM = 1;
    private static final int SALT_BYTES = 16;
    private static final int HASH_BYTES = 32;
    private static final Pattern PHC = Pattern.compile(
            "\\$argon2id\\$v=19\\$m=(\\d{1,7}),t=(\\d{1,3}),p=(\\d{1,2})\\$([A-Za-z0-9+/]+)\\$([A-Za-z0-9+/]+)");
    private static final Base64.Encoder B64 = Base64.getEncoder().withoutPadding();
    private static final Base64.Decoder B64D = Base64.getDecoder();
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The shortest secret {@link #hashMachineSecret} takes: 32 characters (at least 128 random bits in base64). */
    public static final int MACHINE_SECRET_MIN_CHARS = 32;
    private static final String MACHINE_PREFIX = "$hmac-sha256$v=1$";
    private static final Pattern MACHINE = Pattern.compile("\\$hmac-sha256\\$v=1\\$([A-Za-z0-9+/]{22})\\$([A-Za-z0-9+/]{43})");

    private PasswordHash() {
    }

    public static String hash(String secret) {
        byte[] salt = new byte[SALT_BYTES];
        RANDOM.nextBytes(salt);
        byte[] hash = argon2(secret, salt, MEMORY_KIB, ITERATIONS, PARALLELISM, HASH_BYTES);
        return "$argon2id$v=19$m=" + MEMORY_KIB + ",t=" + ITERATIONS + ",p=" + PARALLELISM + "$"
                + B64.encodeToString(salt) + "$" + B64.encodeToString(hash);
    }

    /**
     * The fast form for a random secret a machine made ({@link #MACHINE_SECRET_MIN_CHARS} characters or
     * more, e.g. 32 random bytes in base64url); {@link IllegalArgumentException} for a shorter one.
     */
    public static String hashMachineSecret(String secret) {
        if (secret == null || secret.length() < MACHINE_SECRET_MIN_CHARS) {
            throw new IllegalArgumentException("a machine secret has at least " + MACHINE_SECRET_MIN_CHARS
                    + " characters; hash a shorter one with Argon2id (PasswordHash.hash)");
        }
        byte[] salt = new byte[SALT_BYTES];
        RANDOM.nextBytes(salt);
        return MACHINE_PREFIX + B64.encodeToString(salt) + "$" + B64.encodeToString(hmac(salt, secret));
    }

    /** True for an Argon2id hash: slow to check; a machine secret's is worth replacing by {@link #hashMachineSecret}. */
    public static boolean isArgon2(String encoded) {
        return encoded != null && encoded.startsWith("$argon2id$");
    }

    /** True when {@code encoded} has the prefix of one of the two forms (not a check of the rest). */
    public static boolean isKnownForm(String encoded) {
        return isArgon2(encoded) || (encoded != null && encoded.startsWith(MACHINE_PREFIX));
    }

    /** True when {@code secret} hashes to {@code encoded} (either form); false for anything malformed. */
    public static boolean verify(String secret, String encoded) {
        if (secret == null || encoded == null) {
            return false;
        }
        if (encoded.startsWith(MACHINE_PREFIX)) {
            Matcher m = MACHINE.matcher(encoded);
            if (!m.matches() || secret.length() < MACHINE_SECRET_MIN_CHARS) {
                return false;
            }
            return MessageDigest.isEqual(B64D.decode(m.group(2)), hmac(B64D.decode(m.group(1)), secret));
        }
        Matcher m = PHC.matcher(encoded);
        if (!m.matches()) {
            return false;
        }
        int memory = Integer.parseInt(m.group(1));
        int iterations = Integer.parseInt(m.group(2));
        int parallelism = Integer.parseInt(m.group(3));
        if (memory < 8 || memory > 1 << 20 || iterations < 1 || parallelism < 1) {
            return false;
        }
        byte[] salt = B64D.decode(m.group(4));
        byte[] expected = B64D.decode(m.group(5));
        byte[] actual = argon2(secret, salt, memory, iterations, parallelism, expected.length);
        return MessageDigest.isEqual(expected, actual);
    }

    private static byte[] hmac(byte[] salt, String secret) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(salt, "HmacSHA256"));
            return mac.doFinal(secret.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this Java runtime", e);
        }
    }

    private static byte[] argon2(String secret, byte[] salt, int memoryKib, int iterations, int parallelism, int length) {
        Argon2Parameters params = new Argon2Parameters.Builder(Argon2Parameters.ARGON2_id)
                .withVersion(Argon2Parameters.ARGON2_VERSION_13)
                .withMemoryAsKB(memoryKib)
                .withIterations(iterations)
                .withParallelism(parallelism)
                .withSalt(salt)
                .build();
        Argon2BytesGenerator generator = new Argon2BytesGenerator();
        generator.init(params);
        byte[] out = new byte[length];
        generator.generateBytes(secret.getBytes(StandardCharsets.UTF_8), out);
        return out;
    }
}
