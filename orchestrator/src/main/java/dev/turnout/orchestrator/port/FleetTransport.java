package dev.turnout.orchestrator.port;

import dev.turnout.proto.RolloutEvent;

/**
 * Port to the devices: how decisions leave the orchestrator. Implementations never block the
 * caller for long; delivery is asynchronous and at-least-once.
 */
public interface FleetTransport {

    /** Publishes a signed desired state, retained, for one device. */
    void publishDesired(String deviceId, byte[] signedEnvelope);

    /**
     * Publishes a signed desired state that no wave waits on (a STAGE, a state published again or re-signed): it may
     * leave after desired states handed over later. Whatever the order, a device's newest state is the one retained.
     */
    default void publishDesiredInBackground(String deviceId, byte[] signedEnvelope) {
        publishDesired(deviceId, signedEnvelope);
    }

    /** Publishes a rollout event for monitoring subscribers, on its rollout's topic. */
    void publishRolloutEvent(RolloutEvent event);
}
