package dev.turnout.orchestrator.port;

import dev.turnout.orchestrator.domain.Rollout;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Which rollouts this orchestrator drives, whether it runs alone or next to others on one store
 * (docs/scaling.md, "Several orchestrators"). The engine asks this port, never whether the store is
 * shared. Implementations: {@code cluster.SingleOrchestrator} (alone: every rollout is its own, no
 * report needs forwarding) and {@code cluster.LeasedRollouts} (a lease per rollout in PostgreSQL,
 * reports for others' rollouts forwarded through the store).
 */
public interface ClusterMembership {

    /** This orchestrator's name (logs, audit entries, lease owner). */
    String instance();

    /** A rollout to drive from now on; {@code fromAnother}: its decisions so far were another orchestrator's. */
    record Taken(Rollout rollout, boolean fromAnother) {
    }

    /**
     * The unfinished rollouts of the store this orchestrator starts driving now (it drives {@code driving}
     * already). Alone: every unfinished rollout, at the first call.
     */
    List<Taken> takeUp(Instant now, Set<String> driving);

    /**
     * The engine dropped what it held of the rollouts it drives and reads them again (the store refused a transaction):
     * the next {@link #takeUp} gives every unfinished rollout this orchestrator may drive, as at start.
     */
    default void retakeAll() {
    }

    /** Claims a rollout (a new one, or an ended one whose late reports are wanted); false if another holds it. */
    boolean claim(String rolloutId, Instant now);

    /**
     * Runs {@code work} if this orchestrator still drives the rollout, fenced: nobody takes it over
     * before the work commits. False, and the work not run, once another orchestrator took it.
     */
    boolean whileDriving(String rolloutId, Instant now, Runnable work);

    /** Gives a rollout up: it ended, or this orchestrator stops. */
    void release(String rolloutId);

    /** Who drives an unfinished rollout not driven here ("b at http://b:8080"), to send commands there; empty if nobody. */
    Optional<String> drivenElsewhere(String rolloutId);

    /** Hands a device report to whoever drives the other rollouts holding that device (alone: nobody). */
    void forward(String deviceId, String app, String kind, byte[] payload, Instant now);

    /** A device was enrolled: others decide whether it joins the rollouts they drive. */
    void enrolled(String deviceId, Instant now);

    /** A report another orchestrator forwarded to a rollout this one drives. */
    record Forwarded(String rolloutId, String deviceId, String kind, byte[] payload) {
    }

    /** Takes the reports forwarded to the rollouts in {@code driving}, oldest first (alone: none). */
    List<Forwarded> forwarded(Set<String> driving, Instant now);

    /**
     * True when it is time to read back from the store what other orchestrators received (presence,
     * reports): they store it, only the rollout's driver decides. Alone: never.
     */
    boolean readBackDue(Instant now);

    /** Whether this orchestrator does the fleet's chores (re-signing desired states, pruning the audit trail) until {@code until}. */
    boolean choresAreMine(Instant now, Instant until);
}
