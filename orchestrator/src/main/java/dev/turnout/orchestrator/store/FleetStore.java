package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.port.DeviceRegistry;
import dev.turnout.orchestrator.port.RolloutStore;

import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything the orchestrator remembers, as the sum of its roles: what the rollout engine needs
 * ({@link RolloutStore}, {@link DeviceRegistry}), releases and artifacts ({@link ReleaseCatalog}),
 * desired states ({@link DesiredStateStore}), the audit trail ({@link AuditTrail}), the operator accounts
 * ({@link OperatorStore}), webhooks ({@link WebhookStore}), install tokens ({@link InstallTokenStore}) and the leases of several orchestrators ({@link RolloutLeases}); a caller that needs one role takes that interface.
 * Implementations are thread-safe and blocking: never call them from an event loop.
 */
public interface FleetStore extends RolloutStore, DeviceRegistry, ReleaseCatalog, DesiredStateStore, AuditTrail,
        OperatorStore, RolloutLeases, WebhookStore, InstallTokenStore, AutoCloseable {

    /**
     * Why the store refuses writes (its disk full, an I/O error), in words fit for a public health check, and since
     * when, while no write has succeeded since: what {@code GET /api/v1/health} reports. Empty when writes succeed.
     */
    default java.util.Optional<String> writesRefused() {
        return java.util.Optional.empty();
    }

    /** Adds a device; {@link dev.turnout.orchestrator.domain.ConflictException} if the id is taken. */
    void insertDevice(Device device);

    /** Replaces the labels and groups of an enrolled device (checked by the caller); false if it is not enrolled. */
    boolean updateDeviceTags(String id, Map<String, String> labels, List<String> groups);

    @Override
    default List<String> activeRolloutIds() {
        return activeRollouts().stream().map(Rollout::id).toList();
    }

    @Override
    default Map<String, DeviceApp> unsettledDeviceApps(String rolloutId, String app) {
        Map<String, DeviceApp> apps = new HashMap<>();
        findRollout(rolloutId).ifPresent(r -> r.devices().stream().filter(d -> !d.state().isSettled()).forEach(d ->
                deviceApps(d.deviceId()).stream().filter(a -> a.app().equals(app)).forEach(a -> apps.put(d.deviceId(), a))));
        return apps;
    }

    @Override
    int pruneAudit(String action, Instant before);

    @Override
    void close();
}
