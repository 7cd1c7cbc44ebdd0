package dev.turnout.orchestrator.store;

import java.time.Instant;

/**
 * A device report that an orchestrator received for a rollout another orchestrator drives: the
 * raw protobuf bytes of the status or presence, kept until the owner takes them.
 */
public record ForwardedReport(long id, String rolloutId, String deviceId, String kind, byte[] payload, Instant receivedAt) {
}
