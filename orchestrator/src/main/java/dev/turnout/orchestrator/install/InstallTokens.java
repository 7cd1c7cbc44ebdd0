package dev.turnout.orchestrator.install;

import dev.turnout.orchestrator.store.InstallToken;
import dev.turnout.orchestrator.store.InstallTokenStore;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Optional;

/**
 * One-time install tokens (docs/install.md, "One line on the Pi"): 256 random bits, URL-safe, that let one
 * device fetch its install script, the edge package and, once, its config. The store keeps the token's SHA-256
 * only, and the config sealed with AES-GCM under a key derived from the token (a different hash of it): a copy
 * of the store neither names a working token nor shows the broker secret. Spending a token drops the sealed config.
 */
public final class InstallTokens {

    /** How long a token works when nothing else is asked. */
    public static final Duration DEFAULT_LIFETIME = Duration.ofHours(1);
    /** The longest a token may work: it is a credential in a URL. */
    public static final Duration MAX_LIFETIME = Duration.ofDays(7);
    /** Spent and expired tokens are kept this long, so their URLs answer 410 rather than 404. */
    static final Duration KEPT_AFTER_EXPIRY = Duration.ofDays(7);

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int GCM_TAG_BITS = 128;
    private static final int NONCE_BYTES = 12;

    /** A token as handed out, once: its text and when it stops working. */
    public record Issued(String token, String deviceId, String configSha256, Instant expiresAt) {
        @Override
        public String toString() {
            return "Issued[" + deviceId + ", expires " + expiresAt + "]";
        }
    }

    /** What a token in a URL is worth now. */
    public enum State {
        /** Unused and unexpired: the script and the package are served, and the config once. */
        VALID,
        /** Its config was fetched: 410. */
        USED,
        /** Past its expiry: 410. */
        EXPIRED,
        /** No such token (or a malformed one): 404. */
        UNKNOWN
    }

    /** A token looked up: its state and, unless {@link State#UNKNOWN}, what it was issued for. */
    public record Lookup(State state, String deviceId, String configSha256, Instant expiresAt) {
    }

    private final InstallTokenStore store;
    private final Clock clock;

    public InstallTokens(InstallTokenStore store, Clock clock) {
        this.store = Objects.requireNonNull(store, "store");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** Issues a token for {@code deviceId} that hands out {@code config} once within {@code lifetime}. */
    public Issued issue(String deviceId, String config, Duration lifetime) {
        if (lifetime.isNegative() || lifetime.isZero() || lifetime.compareTo(MAX_LIFETIME) > 0) {
            throw new IllegalArgumentException("an install token lasts more than 0 and at most 7 days, not " + lifetime);
        }
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        String token = Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
        byte[] clear = config.getBytes(StandardCharsets.UTF_8);
        String configSha256 = sha256Hex(clear);
        Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS); // as stored (milliseconds): the script shows it
        Instant expires = now.plus(lifetime);
        store.insertInstallToken(new InstallToken(hash(token), deviceId, seal(token, clear), configSha256, now, expires, null),
                now.minus(KEPT_AFTER_EXPIRY));
        return new Issued(token, deviceId, configSha256, expires);
    }

    /** What {@code token} is worth now; looking does not spend it. */
    public Lookup lookup(String token) {
        Optional<InstallToken> found = find(token);
        if (found.isEmpty()) {
            return new Lookup(State.UNKNOWN, null, null, null);
        }
        InstallToken t = found.get();
        State state = t.usedAt() != null ? State.USED : clock.instant().isBefore(t.expiresAt()) ? State.VALID : State.EXPIRED;
        return new Lookup(state, t.deviceId(), t.configSha256(), t.expiresAt());
    }

    /**
     * Spends {@code token} and returns the config it holds; empty when it is not {@link State#VALID} (then
     * {@link #lookup} says why). Of two callers at once, one gets the config.
     */
    public Optional<String> spend(String token) {
        Optional<InstallToken> found = find(token);
        if (found.isEmpty() || found.get().usedAt() != null) {
            return Optional.empty();
        }
        InstallToken t = found.get();
        if (!store.spendInstallToken(t.tokenHash(), clock.instant())) {
            return Optional.empty();
        }
        return Optional.of(new String(open(token, t.sealedConfig()), StandardCharsets.UTF_8));
    }

    private Optional<InstallToken> find(String token) {
        if (token == null || !token.matches("[A-Za-z0-9_-]{43}")) {
            return Optional.empty();
        }
        return store.findInstallToken(hash(token));
    }

    /** The token as stored: hex SHA-256 (256 random bits: a fast hash protects it as well as a slow one). */
    static String hash(String token) {
        return sha256Hex(token.getBytes(StandardCharsets.US_ASCII));
    }

    /** Hex SHA-256 of {@code bytes}. */
    public static String sha256Hex(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    private static byte[] seal(String token, byte[] clear) {
        try {
            byte[] nonce = new byte[NONCE_BYTES];
            RANDOM.nextBytes(nonce);
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, key(token), new GCMParameterSpec(GCM_TAG_BITS, nonce));
            byte[] sealed = cipher.doFinal(clear);
            byte[] out = Arrays.copyOf(nonce, NONCE_BYTES + sealed.length);
            System.arraycopy(sealed, 0, out, NONCE_BYTES, sealed.length);
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot seal the install config: " + e.getMessage(), e);
        }
    }

    private static byte[] open(String token, byte[] sealed) {
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.DECRYPT_MODE, key(token), new GCMParameterSpec(GCM_TAG_BITS, sealed, 0, NONCE_BYTES));
            return cipher.doFinal(sealed, NONCE_BYTES, sealed.length - NONCE_BYTES);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot open the install config: " + e.getMessage(), e);
        }
    }

    /** The sealing key: a hash of the token under another label than the stored hash, so one never gives the other. */
    private static SecretKeySpec key(String token) {
        MessageDigest d = digest();
        d.update("turnout install config key\0".getBytes(StandardCharsets.US_ASCII));
        return new SecretKeySpec(d.digest(token.getBytes(StandardCharsets.US_ASCII)), "AES");
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
