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
     * Publishes a signed desired state that the device must act on now (an activation): it may leave before desired
     * states handed over earlier for other devices (the next wave's STAGE messages), never before an earlier one of
     * its own device.
     */
    default void publishActivation(String deviceId, byte[] signedEnvelope) {
        publishDesired(deviceId, signedEnvelope);
    }

    /** Publishes a rollout event for monitoring subscribers, on its rollout's topic. */
    void publishRolloutEvent(RolloutEvent event);
}
