package dev.turnout.orchestrator.store;

import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * What several orchestrators on one store share (see docs/design-notes.md, "Several
 * orchestrators"): who drives which rollout, and the device reports one received for a rollout
 * another drives. The defaults are a store nobody shares: every lease is one's own, nothing is
 * forwarded. Thread-safe, blocking.
 */
public interface RolloutLeases {

    /** True when several orchestrators may share this store: rollouts then need leases. */
    default boolean shared() {
        return false;
    }

    /** Ids of the rollouts that are not in a terminal state, oldest first. */
    List<String> activeRolloutIds();

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

    /** Keeps a device report for the orchestrator that drives {@code rolloutId}. */
    default void forwardReport(String rolloutId, String deviceId, String kind, byte[] payload, Instant receivedAt) {
        throw new UnsupportedOperationException("this store is not shared");
    }

    /** Takes (and deletes) up to {@code limit} forwarded reports per rollout, oldest first. */
    default List<ForwardedReport> takeForwardedReports(Collection<String> rolloutIds, int limit) {
        return List.of();
    }

    /** Calls {@code wake} (on some thread) soon after a report has been forwarded; by default nobody is told. */
    default void onForwarded(Runnable wake) {
    }
}
