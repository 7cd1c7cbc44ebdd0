package dev.turnout.orchestrator.domain;

import java.time.Instant;
import java.util.Objects;

/**
 * A person who uses the API, the CLI or the dashboard under their own name: {@code passwordHash} is
 * Argon2id (never the password); {@code createdBy} names the account that created it.
 */
public record OperatorAccount(String name, OperatorRole role, String passwordHash, Instant createdAt, String createdBy) {

    public OperatorAccount {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(passwordHash, "passwordHash");
        Objects.requireNonNull(createdAt, "createdAt");
        Objects.requireNonNull(createdBy, "createdBy");
    }
}
