package dev.turnout.orchestrator.port;

import dev.turnout.proto.RolloutEvent;

/**
 * Port to the devices: how decisions leave the orchestrator. Implementations never block the
 * caller for long; delivery is asynchronous and at-least-once.
 */
public interface FleetTransport {

    /** Publishes a signed desired state, retained, for one device. */
    void publishDesired(String deviceId, byte[] signedEnvelope);

    /** Publishes a rollout event for monitoring subscribers, on its rollout's topic. */
    void publishRolloutEvent(RolloutEvent event);
}
