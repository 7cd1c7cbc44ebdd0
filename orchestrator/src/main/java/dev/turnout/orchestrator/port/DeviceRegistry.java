package dev.turnout.orchestrator.port;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the rollout engine needs from the store about devices: who is enrolled, whether they are
 * online, and what each last reported about each app. Blocking; the engine calls it from its own thread.
 */
public interface DeviceRegistry {

    Optional<Device> findDevice(String id);

    /** Every device, sorted by id. */
    List<Device> listDevices();

    /** Records what a device said about itself; a null platform keeps the known one. */
    default void updatePresence(String deviceId, boolean online, Instant lastSeen, String platform) {
        updatePresence(deviceId, online, lastSeen, platform, null);
    }

    /** As above; a null {@code agentVersion} (the daemon's version, from its presence) keeps the known one too. */
    void updatePresence(String deviceId, boolean online, Instant lastSeen, String platform, String agentVersion);

    boolean saveDeviceApp(String deviceId, DeviceApp app);

    List<DeviceApp> deviceApps(String deviceId);

    /**
     * What the not yet settled devices of a rollout last reported about {@code app}, by device id,
     * whichever orchestrator received it.
     */
    Map<String, DeviceApp> unsettledDeviceApps(String rolloutId, String app);
}
