package dev.turnout.orchestrator.port;

import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.StatusEvent;

/**
 * What devices report, already decoded; {@code topicDeviceId} is the device id taken from the
 * topic, which the broker ties to the authenticated client.
 */
public interface FleetEvents {

    void onStatus(String topicDeviceId, StatusEvent event);

    void onPresence(String topicDeviceId, Presence presence);

    void onHealth(String topicDeviceId, HealthReport report);
}
