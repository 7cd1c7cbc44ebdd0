package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.port.RolloutStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The rollouts this engine drives, as {@link ClusterMembership} gives them: the unfinished ones, and
 * the ended ones with devices still under way, whose late reports still update the record (issue 23, 3).
 */
final class DrivenRollouts {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);

    private final ClusterMembership cluster;
    private final RolloutStore store;
    private final Map<String, Rollout> active = new LinkedHashMap<>();
    /** Ended rollouts this engine drove whose devices were still under way (offline when it succeeded, activated before an abort). */
    private final Map<String, Rollout> finishing = new LinkedHashMap<>();

    DrivenRollouts(ClusterMembership cluster, RolloutStore store) {
        this.cluster = cluster;
        this.store = store;
    }

    Set<String> ids() {
        return active.keySet();
    }

    /** The unfinished rollout {@code id} if this engine drives it, else null. */
    Rollout get(String id) {
        return active.get(id);
    }

    /** The unfinished rollouts, as they are now. */
    List<Rollout> unfinished() {
        return List.copyOf(active.values());
    }

    /** The ended rollouts with devices still under way, as they are now. */
    List<Rollout> finishing() {
        return List.copyOf(finishing.values());
    }

    void clear() {
        active.clear();
        finishing.clear();
    }

    /** The unfinished rollouts the cluster gives this orchestrator now (alone: all of them, at start); driven from now on. */
    List<ClusterMembership.Taken> takeUp(Instant now) {
        List<ClusterMembership.Taken> taken = cluster.takeUp(now, active.keySet());
        taken.forEach(t -> active.put(t.rollout().id(), t.rollout()));
        return taken;
    }

    /** Takes up the ended rollouts whose devices may still finish late (or be found skipped). */
    void takeUpFinishing(Instant now) {
        for (Rollout r : store.listRollouts()) {
            if (r.state().isTerminal() && RolloutFacts.stillUnderWay(r, Set.of()) && cluster.claim(r.id(), now)) {
                finishing.put(r.id(), r);
            }
        }
    }

    /**
     * A new rollout, claimed and stored in one transaction: driven from now on. Returns the devices
     * under way in ended rollouts of its app that it takes (the caller records them as skipped and
     * stores those rollouts, which then stop being kept for late reports unless others are under way).
     */
    List<Superseded> created(Rollout rollout, Set<String> deviceIds, Instant now) {
        store.inTransaction(() -> {
            cluster.claim(rollout.id(), now);
            store.saveRollout(rollout);
        });
        active.put(rollout.id(), rollout);
        List<Superseded> superseded = new java.util.ArrayList<>();
        for (Rollout old : finishing.values()) {
            if (old.app().equals(rollout.app())) {
                old.devices().stream().filter(d -> RolloutFacts.underWay(d) && deviceIds.contains(d.deviceId()))
                        .forEach(d -> superseded.add(new Superseded(old, d.deviceId(), rollout)));
            }
        }
        return superseded;
    }

    /** {@code r} was stored: once it ended it is kept only while devices are under way (with several orchestrators, under its lease). */
    void stored(Rollout r) {
        if (!r.state().isTerminal()) {
            return;
        }
        active.remove(r.id());
        if (RolloutFacts.stillUnderWay(r, Set.of())) {
            finishing.put(r.id(), r); // with several orchestrators it keeps the lease: late reports come here
        } else {
            finishing.remove(r.id());
            cluster.release(r.id());
        }
    }

    /** Runs {@code work} if this orchestrator still drives {@code r}; false, and {@code r} no longer driven, if another took it. */
    boolean whileDriving(Rollout r, Instant now, Runnable work) {
        if (cluster.whileDriving(r.id(), now, work)) {
            return true;
        }
        LOG.warn("orchestrator {} lost the lease of rollout {}: another orchestrator drives it now", cluster.instance(), r.id());
        active.remove(r.id());
        finishing.remove(r.id());
        return false;
    }

    /** Why an operator command cannot act on rollout {@code id}, which this engine does not drive: the exception to throw. */
    RuntimeException notDriven(String id, String verb) {
        Rollout stored = store.findRollout(id).orElse(null);
        if (stored == null) {
            return new NotFoundException("rollout " + id + " does not exist");
        }
        if (!stored.state().isTerminal()) {
            String where = cluster.drivenElsewhere(id).orElse(null);
            if (where != null) {
                return new ConflictException("rollout " + id + " is driven by orchestrator " + where + "; send the command there");
            }
        }
        return new ConflictException("rollout " + id + " is " + stored.state() + " and cannot be " + verb);
    }

    /** Gives up every rollout (a clean stop): other orchestrators take them over at once. */
    void releaseAll() {
        for (String id : List.copyOf(active.keySet())) {
            cluster.release(id);
            LOG.info("orchestrator {} hands rollout {} over", cluster.instance(), id);
        }
        finishing.keySet().forEach(cluster::release);
        clear();
    }
}
