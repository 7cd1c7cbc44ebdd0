package dev.turnout.orchestrator.port;

import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.store.AuditEntry;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * What the rollout engine needs from the store about rollouts: keep them, find the releases they
 * send, write the audit trail, and group writes into transactions whose commit comes before anything
 * is published. Blocking; the engine calls it from its own thread.
 */
public interface RolloutStore {

    /**
     * Runs {@code work} as one transaction: everything it writes is stored together or not at
     * all, and a batch of writes costs one commit. Nested calls join the outer transaction.
     */
    default void inTransaction(Runnable work) {
        work.run();
    }

    /**
     * Runs {@code action} once what has been written so far is durable: at once outside a
     * transaction, after the commit inside one (never, if it rolls back). Publishing goes here, so
     * nothing is announced that a crash could make the store forget.
     */
    default void afterCommit(Runnable action) {
        action.run();
    }

    /**
     * Calls {@code listener} whenever the store refuses a transaction (a write or its commit failed: a full disk, an
     * I/O error, a lost connection). Whatever was changed in memory for it is not stored: an engine that keeps
     * rollouts in memory reads them again.
     */
    default void onRefusedTransaction(Runnable listener) {
    }

    /** Inserts or replaces a rollout with all of its devices, atomically. */
    void saveRollout(Rollout rollout);

    Optional<Rollout> findRollout(String id);

    /** Every rollout, newest first. */
    List<Rollout> listRollouts();

    /** Rollouts that are not in a terminal state. */
    List<Rollout> activeRollouts();

    /** Ids of the unfinished rollouts, without reading them (stores answer it from one column). */
    default List<String> activeRolloutIds() {
        return activeRollouts().stream().map(Rollout::id).toList();
    }

    Optional<Release> findRelease(String app, String version);

    /** The rollback floor of an app (no rollout may go below it), if one was set. */
    Optional<String> findFloor(String app);

    void appendAudit(AuditEntry entry);

    /** Deletes audit entries with {@code action} older than {@code before}; returns how many went. */
    default int pruneAudit(String action, Instant before) {
        return 0;
    }
}
