package dev.turnout.broker;

import java.util.Optional;

/**
 * The identities a broker accepts. The orchestrator implements this over its store; the broker
 * asks it on every CONNECT. Implementations must be thread-safe and answer quickly (a slow
 * password hash is fine, I/O to another host is not).
 */
public interface BrokerIdentities {

    /**
     * The role of {@code username} when {@code password} is its current secret; empty for an
     * unknown or revoked name or a wrong secret.
     */
    Optional<Role> authenticate(String username, byte[] password);

    /**
     * Whether {@code username} is still allowed, asked once more for every connection after the broker registered it
     * (before its CONNACK): a connection that slipped in while its identity was being revoked, too late for the
     * revocation's disconnect to find it, loses every permission and is dropped. Must be cheap. A revocation must
     * make this false before it disconnects the name.
     */
    default boolean isActive(String username) {
        return true;
    }
}
