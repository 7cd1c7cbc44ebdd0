package dev.turnout.orchestrator.store;

import dev.turnout.broker.Role;

import java.time.Instant;

/**
 * A broker identity as stored: never the secret, only its hash ({@link dev.turnout.broker.PasswordHash}:
 * HMAC-SHA256 for the random secrets issued now, Argon2id for those of older versions until their
 * first check; checked by the embedded broker and the HTTP API) and its Mosquitto {@code $7$} hash
 * (written into a Mosquitto password file).
 */
public record BrokerIdentity(String name, Role role, String secretHash, String mosquittoHash, Instant createdAt) {
}
