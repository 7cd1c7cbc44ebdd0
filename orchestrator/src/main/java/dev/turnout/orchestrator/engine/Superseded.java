package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Rollout;

/**
 * A device still under way in ended rollout {@code ended} (offline when it ended) whose desired state
 * the newer rollout {@code by} has replaced: the device applies only its newest desired state, so it
 * will never finish {@code ended}, which records it as skipped.
 */
record Superseded(Rollout ended, String deviceId, Rollout by) {
}
