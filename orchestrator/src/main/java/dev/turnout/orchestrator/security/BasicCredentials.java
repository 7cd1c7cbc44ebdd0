package dev.turnout.orchestrator.security;

import dev.turnout.broker.Role;
import dev.turnout.orchestrator.store.BrokerIdentity;
import dev.turnout.orchestrator.store.IdentityStore;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Checks the HTTP Basic credentials of devices and monitors (their broker identity: name and
 * secret) against the hash in the {@link IdentityStore} ({@link StoredSecrets}: one store read and
 * one HMAC-SHA256 per request, so a fleet resuming its downloads with range requests costs the
 * server next to nothing, and a revoked identity is refused at its next request). Blocking: call
 * it off the event loop.
 */
public final class BasicCredentials {

    /** Who a request's Basic credentials belong to. */
    public record Principal(String name, Role role) {
    }

    private final IdentityStore store;

    public BasicCredentials(IdentityStore store) {
        this.store = store;
    }

    /** The identity when {@code secret} is its current secret; empty for an unknown, revoked or wrong one. */
    public Optional<Principal> verify(String name, String secret) {
        if (name == null || secret == null || name.isEmpty() || secret.isEmpty() || !Names.isValid(name)) {
            return Optional.empty();
        }
        Optional<BrokerIdentity> identity = store.find(name);
        if (identity.isEmpty() || !StoredSecrets.matches(store, identity.get(), secret)) {
            return Optional.empty();
        }
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
