package dev.turnout.orchestrator.security;

import dev.turnout.broker.PasswordHash;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.store.BrokerIdentity;
import dev.turnout.orchestrator.store.IdentityStore;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks the HTTP Basic credentials of devices and monitors (their broker identity: name and
 * secret) against the Argon2id hash in the {@link IdentityStore}.
 *
 * <p>An Argon2id verification costs tens of milliseconds and 19 MiB; a fleet fetching its archives
 * (with range requests on every resume) would spend the server's CPU on it. A successful check is
 * therefore remembered for {@link #TTL}: a SHA-256 of the secret, keyed by the <em>stored hash</em>.
 * The store is read on every request, so a revoked identity (row deleted) is refused at once and a
 * re-enrolled one (new stored hash) never matches an old entry. Failed checks are never cached.
 * Blocking: call it off the event loop.
 */
public final class BasicCredentials {

    /** How long a successful verification is remembered. */
    public static final Duration TTL = Duration.ofMinutes(5);
    private static final int MAX_ENTRIES = 50_000;

    /** Who a request's Basic credentials belong to. */
    public record Principal(String name, Role role) {
    }

    private record Verified(byte[] secretDigest, long expiresAtMillis) {
    }

    private final IdentityStore store;
    private final Clock clock;
    private final Map<String, Verified> verified = new ConcurrentHashMap<>();

    public BasicCredentials(IdentityStore store, Clock clock) {
        this.store = store;
        this.clock = clock;
    }

    /** The identity when {@code secret} is its current secret; empty for an unknown, revoked or wrong one. */
    public Optional<Principal> verify(String name, String secret) {
        if (name == null || secret == null || name.isEmpty() || secret.isEmpty() || !Names.isValid(name)) {
            return Optional.empty();
        }
        Optional<BrokerIdentity> identity = store.find(name);
        if (identity.isEmpty()) {
            return Optional.empty();
        }
        String storedHash = identity.get().secretHash();
        byte[] digest = OperatorToken.sha256(secret);
        long now = clock.millis();
        Verified known = verified.get(storedHash);
        if (known != null && known.expiresAtMillis() > now && MessageDigest.isEqual(known.secretDigest(), digest)) {
            return Optional.of(new Principal(name, identity.get().role()));
        }
        if (!PasswordHash.verify(secret, storedHash)) {
            return Optional.empty();
        }
        if (verified.size() >= MAX_ENTRIES) {
            verified.values().removeIf(v -> v.expiresAtMillis() <= now);
            if (verified.size() >= MAX_ENTRIES) {
                verified.clear();
            }
        }
        verified.put(storedHash, new Verified(digest, now + TTL.toMillis()));
        return Optional.of(new Principal(name, identity.get().role()));
    }

    /** Parses an {@code Authorization: Basic ...} value; empty when malformed. */
    public static Optional<String[]> parse(String header) {
        if (header == null || header.length() < 7 || !header.regionMatches(true, 0, "Basic ", 0, 6)) {
            return Optional.empty();
        }
        try {
            String decoded = new String(java.util.Base64.getDecoder().decode(header.substring(6).trim()), StandardCharsets.UTF_8);
            int colon = decoded.indexOf(':');
            if (colon <= 0) {
                return Optional.empty();
            }
            return Optional.of(new String[] {decoded.substring(0, colon), decoded.substring(colon + 1)});
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
