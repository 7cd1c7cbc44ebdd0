package dev.turnout.orchestrator.cluster;

import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.orchestrator.store.ForwardedReport;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Several orchestrators on one shared (PostgreSQL) store (docs/scaling.md, "Several orchestrators"):
 * a rollout is driven by the holder of its lease, renewed on every tick and inside every transaction
 * that decides for it (so nobody takes it over before those decisions commit); a rollout whose lease
 * expired is taken over; reports about devices of rollouts another orchestrator drives are forwarded
 * to it through the store.
 */
public final class LeasedRollouts implements ClusterMembership {

    /** Pseudo rollout id whose lease says which orchestrator re-signs expiring desired states. */
    static final String MAINTENANCE_LEASE = "~maintenance";
    /** Forwarded reports taken per rollout and drain. */
    private static final int FORWARDED_BATCH = 1000;
    /** How often what other orchestrators stored (presence, reports) is read back (a safety net). */
    static final Duration READ_BACK_EVERY = Duration.ofSeconds(5);

    private final FleetStore store;
    private final String instance;
    private final String url;
    private final Duration leaseTtl;
    private final Consumer<Duration> forwardedDelay;
    /** Rollouts another orchestrator drives: app and member devices, to forward their devices' reports. */
    private final Map<String, Foreign> foreign = new HashMap<>();
    private Instant lastReadBack;

    private record Foreign(String app, Set<String> devices) {
    }

    /**
     * @param url            where operators send commands for the rollouts this orchestrator drives
     * @param leaseTtl       how long a lease lasts without renewal: a dead orchestrator's rollouts are taken over after it
     * @param forwardedDelay told how long each forwarded report took to reach this orchestrator
     */
    public LeasedRollouts(FleetStore store, String instance, String url, Duration leaseTtl, Consumer<Duration> forwardedDelay) {
        this.store = store;
        this.instance = instance;
        this.url = url;
        this.leaseTtl = leaseTtl;
        this.forwardedDelay = forwardedDelay;
    }

    @Override
    public String instance() {
        return instance;
    }

    /** Takes over the rollouts whose lease is free or expired and learns which devices the others' rollouts hold. */
    @Override
    public List<Taken> takeUp(Instant now, Set<String> driving) {
        List<String> ids = store.activeRolloutIds();
        foreign.keySet().retainAll(ids);
        List<Taken> taken = new ArrayList<>();
        for (String id : ids) {
            if (driving.contains(id)) {
                continue;
            }
            boolean free = store.rolloutLease(id).map(l -> l.owner().equals(instance) || l.expiresAt().isBefore(now))
                    .orElse(true);
            if (free && claim(id, now)) {
                Rollout r = store.findRollout(id).orElse(null);
                if (r != null && !r.state().isTerminal()) {
                    foreign.remove(id);
                    taken.add(new Taken(r, true));
                }
            } else if (!foreign.containsKey(id)) {
                store.findRollout(id).ifPresent(r -> foreign.put(id, new Foreign(r.app(),
                        new HashSet<>(r.devices().stream().map(RolloutDevice::deviceId).toList()))));
            }
        }
        return taken;
    }

    @Override
    public boolean claim(String rolloutId, Instant now) {
        return store.claimRollout(rolloutId, instance, url, now, now.plus(leaseTtl));
    }

    @Override
    public boolean whileDriving(String rolloutId, Instant now, Runnable work) {
        boolean[] held = {false};
        // renewing the lease in the same transaction as the decisions fences them: nobody takes it meanwhile
        store.inTransaction(() -> {
            if (store.holdsRollout(rolloutId, instance, now, now.plus(leaseTtl))) {
                held[0] = true;
                work.run();
            }
        });
        return held[0];
    }

    @Override
    public void release(String rolloutId) {
        store.releaseRollout(rolloutId, instance);
    }

    @Override
    public Optional<String> drivenElsewhere(String rolloutId) {
        return Optional.of(store.rolloutLease(rolloutId)
                .map(l -> l.owner() + (l.ownerUrl() == null ? "" : " at " + l.ownerUrl()))
                .orElse("another orchestrator"));
    }

    @Override
    public void forward(String deviceId, String app, String kind, byte[] payload, Instant now) {
        for (Map.Entry<String, Foreign> f : foreign.entrySet()) {
            if ((app == null || f.getValue().app().equals(app)) && f.getValue().devices().contains(deviceId)) {
                store.forwardReport(f.getKey(), deviceId, kind, payload, now);
            }
        }
    }

    @Override
    public void enrolled(String deviceId, Instant now) {
        for (Map.Entry<String, Foreign> f : foreign.entrySet()) {
            f.getValue().devices().add(deviceId); // its reports go to the owner too, which decides whether it joins
            store.forwardReport(f.getKey(), deviceId, "enrolled", new byte[0], now);
        }
    }

    @Override
    public List<Forwarded> forwarded(Set<String> driving, Instant now) {
        if (driving.isEmpty()) {
            return List.of();
        }
        List<Forwarded> reports = new ArrayList<>();
        for (ForwardedReport f : store.takeForwardedReports(driving, FORWARDED_BATCH)) {
            forwardedDelay.accept(Duration.between(f.receivedAt(), now));
            reports.add(new Forwarded(f.rolloutId(), f.deviceId(), f.kind(), f.payload()));
        }
        return reports;
    }

    /** True at most every {@link #READ_BACK_EVERY}; the caller reads back when told so. */
    @Override
    public boolean readBackDue(Instant now) {
        if (lastReadBack != null && now.isBefore(lastReadBack.plus(READ_BACK_EVERY))) {
            return false;
        }
        lastReadBack = now;
        return true;
    }

    @Override
    public boolean choresAreMine(Instant now, Instant until) {
        return store.claimRollout(MAINTENANCE_LEASE, instance, url, now, until.plus(leaseTtl));
    }
}
