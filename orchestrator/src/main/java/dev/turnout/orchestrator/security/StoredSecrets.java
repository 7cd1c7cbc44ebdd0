package dev.turnout.orchestrator.security;

import dev.turnout.broker.PasswordHash;
import dev.turnout.orchestrator.store.BrokerIdentity;
import dev.turnout.orchestrator.store.IdentityStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks a device's or monitor's secret against its stored hash, for the embedded broker and the
 * HTTP API alike. Secrets issued now are stored as HMAC-SHA256 ({@link PasswordHash#hashMachineSecret}),
 * microseconds to check; an identity issued by an older version still holds an Argon2id hash, which
 * is replaced by the fast form at its first successful check (the secret is in hand only then), so a
 * fleet pays Argon2id once per device, not once per reconnect.
 */
final class StoredSecrets {

    private static final Logger LOG = LoggerFactory.getLogger(StoredSecrets.class);

    private StoredSecrets() {
    }

    /** True when {@code secret} is {@code identity}'s; blocking (a store write on a legacy hash's first check). */
    static boolean matches(IdentityStore store, BrokerIdentity identity, String secret) {
        String stored = identity.secretHash();
        if (!PasswordHash.verify(secret, stored)) {
            return false;
        }
        if (PasswordHash.isArgon2(stored) && secret.length() >= PasswordHash.MACHINE_SECRET_MIN_CHARS) {
            try {
                if (store.replaceSecretHash(identity.name(), stored, PasswordHash.hashMachineSecret(secret))) {
                    LOG.debug("the Argon2id hash of {} was replaced by its HMAC-SHA256 form", identity.name());
                }
            } catch (RuntimeException e) {
                LOG.warn("the secret of {} verified, but its hash could not be moved to the fast form: {}", identity.name(), e.toString());
            }
        }
        return true;
    }
}
