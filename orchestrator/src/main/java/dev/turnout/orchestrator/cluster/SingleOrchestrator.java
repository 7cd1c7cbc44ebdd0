package dev.turnout.orchestrator.cluster;

import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.port.RolloutStore;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** One orchestrator on its own store: every rollout is its own, every report reaches it, nothing is forwarded. */
public final class SingleOrchestrator implements ClusterMembership {

    private final RolloutStore store;
    private boolean takenUp;

    public SingleOrchestrator(RolloutStore store) {
        this.store = store;
    }

    @Override
    public String instance() {
        return "single";
    }

    @Override
    public List<Taken> takeUp(Instant now, Set<String> driving) {
        if (takenUp) {
            return List.of();
        }
        takenUp = true;
        return store.activeRollouts().stream().map(r -> new Taken(r, false)).toList();
    }

    @Override
    public void retakeAll() {
        takenUp = false;
    }

    @Override
    public boolean claim(String rolloutId, Instant now) {
        return true;
    }

    @Override
    public boolean whileDriving(String rolloutId, Instant now, Runnable work) {
        work.run();
        return true;
    }

    @Override
    public void release(String rolloutId) {
    }

    @Override
    public Optional<String> drivenElsewhere(String rolloutId) {
        return Optional.empty();
    }

    @Override
    public void forward(String deviceId, String app, String kind, byte[] payload, Instant now) {
    }

    @Override
    public void enrolled(String deviceId, Instant now) {
    }

    @Override
    public List<Forwarded> forwarded(Set<String> driving, Instant now) {
        return List.of();
    }

    @Override
    public boolean readBackDue(Instant now) {
        return false;
    }

    @Override
    public boolean choresAreMine(Instant now, Instant until) {
        return true;
    }
}
