package dev.turnout.orchestrator.store;

import dev.turnout.broker.Role;

import java.time.Instant;

/**
 * A broker identity as stored: never the secret, only its Argon2id hash (checked by the embedded
 * broker) and its Mosquitto {@code $7$} hash (written into a Mosquitto password file).
 */
public record BrokerIdentity(String name, Role role, String secretHash, String mosquittoHash, Instant createdAt) {
}
