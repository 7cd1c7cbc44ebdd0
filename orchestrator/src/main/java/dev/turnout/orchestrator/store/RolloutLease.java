package dev.turnout.orchestrator.store;

import java.time.Instant;

/** Which orchestrator drives a rollout, until when, and where its API is (for operators). */
public record RolloutLease(String rolloutId, String owner, String ownerUrl, Instant expiresAt) {
}
