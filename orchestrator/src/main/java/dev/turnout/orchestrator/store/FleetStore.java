package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.port.DeviceRegistry;
import dev.turnout.orchestrator.port.RolloutStore;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Everything the orchestrator remembers: what the rollout engine needs ({@link RolloutStore},
 * {@link DeviceRegistry}), and enrollment, releases, artifacts, desired states, the audit trail and
 * the leases of several orchestrators. Implementations are thread-safe and blocking: never call
 * them from an event loop.
 */
public interface FleetStore extends RolloutStore, DeviceRegistry, AutoCloseable {

    /** Adds a device; {@link dev.turnout.orchestrator.domain.ConflictException} if the id is taken. */
    void insertDevice(Device device);

    Optional<DesiredRecord> findDesired(String deviceId);

    /** Replaces the desired state of a device; the sequence must grow (not checked here). */
    void saveDesired(String deviceId, DesiredRecord desired);

    /** Every device id with a desired state. */
    List<String> devicesWithDesired();

    /** Adds an artifact; a second save of the same digest is ignored. */
    void saveArtifact(Artifact artifact);

    Optional<Artifact> findArtifact(String digest);

    /** Adds a release; {@link dev.turnout.orchestrator.domain.ConflictException} if app:version exists. */
    void insertRelease(Release release);

    List<Release> listReleases();

    /**
     * Since when one device of a rollout has been waiting for its report (its activation time), or
     * empty; read once per device that succeeds, so stores answer it without loading the rollout.
     */
    default Optional<java.time.Instant> waitingSince(String rolloutId, String deviceId) {
        return findRollout(rolloutId).map(r -> r.device(deviceId)).map(d -> d.waitingSince());
    }

    /** The newest {@code limit} audit entries, newest first. */
    List<AuditEntry> audit(int limit);

    /** The newest {@code limit} audit entries whose subject or actor is {@code who}, newest first. */
    List<AuditEntry> auditAbout(String who, int limit);

    /** Every audit entry with {@code action} written at or after {@code since}, oldest first. */
    List<AuditEntry> auditByAction(String action, Instant since);

    // ---- several orchestrators on one store (see docs/design-notes.md, "Several orchestrators") ----

    /** True when several orchestrators may share this store: rollouts then need leases. */
    default boolean shared() {
        return false;
    }

    /** Ids of the rollouts that are not in a terminal state, oldest first. */
    default List<String> activeRolloutIds() {
        return activeRollouts().stream().map(Rollout::id).toList();
    }

    /**
     * Takes the lease of a rollout for {@code owner} until {@code until} if nobody holds it, its holder
     * let it expire (before {@code now}) or {@code owner} holds it already; true if {@code owner} holds it now.
     */
    default boolean claimRollout(String rolloutId, String owner, String ownerUrl, Instant now, Instant until) {
        return true;
    }

    /**
     * Extends the lease {@code owner} holds on a rollout to {@code until}; false if it expired or another
     * owner took it. Inside a transaction this also fences: nobody takes the lease until it commits.
     */
    default boolean holdsRollout(String rolloutId, String owner, Instant now, Instant until) {
        return true;
    }

    /** Gives a lease up (a finished rollout, a clean stop). */
    default void releaseRollout(String rolloutId, String owner) {
    }

    default Optional<RolloutLease> rolloutLease(String rolloutId) {
        return Optional.empty();
    }

    @Override
    default java.util.Map<String, DeviceApp> unsettledDeviceApps(String rolloutId, String app) {
        java.util.Map<String, DeviceApp> apps = new java.util.HashMap<>();
        findRollout(rolloutId).ifPresent(r -> r.devices().stream().filter(d -> !d.state().isSettled()).forEach(d ->
                deviceApps(d.deviceId()).stream().filter(a -> a.app().equals(app)).forEach(a -> apps.put(d.deviceId(), a))));
        return apps;
    }

    /** Keeps a device report for the orchestrator that drives {@code rolloutId}. */
    default void forwardReport(String rolloutId, String deviceId, String kind, byte[] payload, Instant receivedAt) {
        throw new UnsupportedOperationException("this store is not shared");
    }

    /** Takes (and deletes) up to {@code limit} forwarded reports per rollout, oldest first. */
    default List<ForwardedReport> takeForwardedReports(java.util.Collection<String> rolloutIds, int limit) {
        return List.of();
    }

    /** Calls {@code wake} (on some thread) soon after a report has been forwarded; by default nobody is told. */
    default void onForwarded(Runnable wake) {
    }

    @Override
    void close();
}
