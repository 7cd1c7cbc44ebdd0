package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Phase;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.Target;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.policy.DeviceVerdicts;
import dev.turnout.orchestrator.policy.RollbackTargets;
import dev.turnout.orchestrator.policy.WavePolicy;
import dev.turnout.orchestrator.cluster.LeasedRollouts;
import dev.turnout.orchestrator.cluster.SingleOrchestrator;
import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.port.DeviceRegistry;
import dev.turnout.orchestrator.port.FleetEvents;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEventType;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Moves rollouts forward. It changes state only on device events ({@link FleetEvents}), operator
 * commands and {@link #tick()}; time comes from the injected {@link Clock}. Not thread-safe: the
 * caller runs every method on one thread. Every decision is stored before it is published.
 */
public final class RolloutEngine implements FleetEvents {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);
    private static final String ENGINE = "engine";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration REFRESH_EVERY = Duration.ofHours(1);
    /**
     * Device transitions (one audit row per status event) are kept this long; operator actions and
     * rollout decisions, which the DORA figures and `turnout history` rely on, are kept for good.
     */
    static final Duration DEVICE_STATUS_RETENTION = Duration.ofDays(30);
    private static final Duration REFRESH_AFTER = DesiredStates.VALIDITY.dividedBy(2);
    /**
     * Devices of a starting wave activated per engine step once {@link #continueOn} is set: the first
     * desired states of a wave go out after this many are signed and stored, not after the whole wave.
     */
    static final int ACTIVATION_CHUNK = 100;
    /** The first step of a wave is smaller, so that its first desired states go out within milliseconds of the decision. */
    static final int FIRST_ACTIVATION_STEP = 10;
    /**
     * Devices staged per engine step once {@link #continueOn} is set: {@code create} stages the first
     * step (wave 1 comes first) and activates wave 1 at once; the rest is staged in the steps after,
     * between device reports, so the canaries do not wait behind the whole fleet's STAGE messages.
     */
    static final int STAGE_CHUNK = 500;

    private final RolloutStore store;
    private final DeviceRegistry devices;
    private final ClusterMembership cluster;
    private final DesiredStates desired;
    private final Clock clock;
    private final Map<String, Rollout> active = new LinkedHashMap<>();
    /**
     * Ended rollouts this engine drove whose devices were still under way (offline when it succeeded,
     * activated before an abort): their late reports still update the record (issue 23, 3).
     */
    private final Map<String, Rollout> finishing = new LinkedHashMap<>();
    /** Report ingestion: checks, presence, last reports, audit rows; knows which devices are offline. */
    private final DeviceReports reports;
    static final Duration LAST_SEEN_EVERY = DeviceReports.LAST_SEEN_EVERY;
    /** "rolloutId/deviceId" of activated devices that wait for their update window: no timeout meanwhile. */
    private final Set<String> inWindowWait = new java.util.HashSet<>();
    private final Outbox outbox;
    private Instant lastRefresh;
    /** Runs further activation steps on the engine thread; null: a wave's devices are all activated in one step. */
    private java.util.concurrent.Executor continuation;
    private boolean continuationRequested;
    /** Ids of the rollouts this engine drives that may still have devices to stage. */
    private final Set<String> staging = new LinkedHashSet<>();

    /** Told how long the engine took from a device report that completed a wave to the next wave's first desired state. */
    @FunctionalInterface
    public interface WaveDecisions {
        /**
         * @param wave  the wave that started
         * @param nanos from taking up the report that completed the wave before to handing the first
         *              desired state of {@code wave} to the transport (after its store commit)
         */
        void decided(String rolloutId, int wave, long nanos);
    }

    /**
     * An engine on {@code store} alone, or, when the store is shared, next to other orchestrators
     * under the default name and lease; use the other constructor to name it ({@link LeasedRollouts}).
     */
    public RolloutEngine(FleetStore store, DesiredStates desired, FleetTransport transport, Clock clock) {
        this(store, store, store.shared() ? new LeasedRollouts(store, "single", null, Duration.ofSeconds(10), d -> { })
                : new SingleOrchestrator(store), desired, transport, clock);
    }

    /**
     * @param cluster which rollouts this engine drives: all of them alone ({@link SingleOrchestrator}),
     *                those it holds the lease of next to other orchestrators ({@link LeasedRollouts})
     */
    public RolloutEngine(RolloutStore store, DeviceRegistry devices, ClusterMembership cluster, DesiredStates desired,
                         FleetTransport transport, Clock clock) {
        this.store = store;
        this.devices = devices;
        this.cluster = cluster;
        this.desired = desired;
        this.clock = clock;
        this.outbox = new Outbox(store, desired, transport, clock);
        this.reports = new DeviceReports(devices, store, this::backOnline);
    }

    /** The orchestrator instance this engine runs in. */
    public String instance() {
        return cluster.instance();
    }

    /** Ids of the rollouts this engine drives now. */
    public Set<String> driving() {
        return Set.copyOf(active.keySet());
    }

    /** Where wave decision latencies go (metrics); replaces the previous listener. */
    public void onWaveDecision(WaveDecisions listener) {
        outbox.onWaveDecision(listener);
    }

    /**
     * Activates large waves in steps of {@value #ACTIVATION_CHUNK} devices, each step its own store
     * transaction run through {@code engineThread} (the thread that runs every other engine method),
     * so that the first devices of a wave get their desired state while the rest are being signed.
     */
    public void continueOn(java.util.concurrent.Executor engineThread) {
        this.continuation = engineThread;
    }

    /**
     * True when the open store transaction holds desired states (a wave started, a device joined):
     * whoever batches device reports into one transaction should commit it now, so that they go out.
     */
    public boolean desiredWaiting() {
        return outbox.desiredWaiting();
    }

    /** Signs desired states and bundle manifests with the orchestrator key. */
    public DesiredStates desiredStates() {
        return desired;
    }

    /** Reloads the rollouts that were not finished; decisions already made are not made again. */
    public void start() {
        active.clear();
        finishing.clear();
        staging.clear();
        reports.reset();
        takeUp(clock.instant());
        loadFinishing();
        tick();
    }

    /** Starts driving the unfinished rollouts the cluster gives this orchestrator (alone: all of them, at start). */
    private void takeUp(Instant now) {
        for (ClusterMembership.Taken t : cluster.takeUp(now, active.keySet())) {
            Rollout r = t.rollout();
            if (t.fromAnother()) {
                takeOver(r, now);
                continue;
            }
            active.put(r.id(), r);
            LOG.info("resuming rollout {} ({}:{}) in state {} at wave {}", r.id(), r.app(), r.version(), r.state(),
                    r.currentWave());
            resumeStaging(r);
        }
    }

    /** Takes up the ended rollouts whose devices may still finish late, unless newer rollouts of the app took them all. */
    private void loadFinishing() {
        Map<String, Set<String>> newer = new java.util.HashMap<>();
        for (Rollout r : store.listRollouts()) { // newest first
            Set<String> taken = newer.computeIfAbsent(r.app(), a -> new java.util.HashSet<>());
            if (r.state().isTerminal() && stillUnderWay(r, taken) && cluster.claim(r.id(), clock.instant())) {
                finishing.put(r.id(), r);
            }
            r.devices().forEach(d -> taken.add(d.deviceId()));
        }
    }

    /** A device activated or rolling back when its rollout ended: it may still report. */
    private static boolean underWay(RolloutDevice d) {
        return d.state() == RolloutDeviceState.ACTIVATING || d.state() == RolloutDeviceState.ROLLING_BACK;
    }

    /** True if some device of ended rollout {@code r} is under way and not among {@code takenByNewer}. */
    private static boolean stillUnderWay(Rollout r, Set<String> takenByNewer) {
        if (r.count(RolloutDeviceState.ACTIVATING) + r.count(RolloutDeviceState.ROLLING_BACK) == 0) {
            return false;
        }
        return r.devices().stream().anyMatch(d -> underWay(d) && !takenByNewer.contains(d.deviceId()));
    }

    /** Plans a rollout; unless it is a dry run, stores it, stages the release everywhere and starts wave 1. */
    public Rollout create(RolloutRequest request, String actor) {
        if (request.app() == null || request.app().isBlank() || request.version() == null || request.version().isBlank()) {
            throw new InvalidInputException("app and version are required");
        }
        RolloutStrategy strategy = RolloutStrategy.parse(request.waves(), request.soak(), request.maxFailures(),
                request.onFailure(), request.deviceTimeout(), request.approveEachWave(), request.offlineCountsAsFailure(),
                request.staticTarget(), request.rollback(), request.emergency());
        Target target = Target.parse(request.target());
        if (store.findRelease(request.app(), request.version()).isEmpty()) {
            throw new NotFoundException("release " + request.app() + ":" + request.version() + " does not exist");
        }
        List<Device> inventory = devices.listDevices();
        if (target.kind() == Target.Kind.DEVICE) {
            Set<String> known = new LinkedHashSet<>();
            inventory.forEach(d -> known.add(d.id()));
            for (String id : target.values()) {
                if (!known.contains(id)) {
                    throw new InvalidInputException("target names device " + id + ", which is not enrolled");
                }
            }
        }
        List<String> ids = target.select(inventory);
        if (ids.isEmpty()) {
            throw new InvalidInputException("no enrolled device matches target '" + target + "'");
        }
        List<Integer> sizes = WavePolicy.plan(strategy.waves(), ids.size());
        Instant now = clock.instant();
        List<RolloutDevice> devices = new ArrayList<>();
        int at = 0;
        for (int w = 0; w < sizes.size(); w++) {
            for (int i = 0; i < sizes.get(w); i++, at++) {
                String id = ids.get(at);
                devices.add(RolloutDevice.planned(id, w + 1, previousRelease(id, request.app())));
            }
        }
        Rollout rollout = new Rollout(newId(now), request.app(), request.version(), target.toString(), strategy, now,
                RolloutState.RUNNING, null, now, 0, WaveState.DONE, now, 0, devices);
        if (Boolean.TRUE.equals(request.dryRun())) {
            return rollout;
        }
        for (Rollout other : store.activeRollouts()) { // also those other orchestrators drive
            if (other.app().equals(rollout.app()) && ids.stream().anyMatch(id -> other.device(id) != null)) {
                throw new ConflictException("rollout " + other.id() + " of " + other.app() + " is still " + other.state()
                        + " on some of these devices; abort it first");
            }
        }
        store.inTransaction(() -> {
            cluster.claim(rollout.id(), now);
            store.saveRollout(rollout);
        });
        active.put(rollout.id(), rollout);
        Set<String> taken = new java.util.HashSet<>(ids);
        finishing.values().removeIf(old -> old.app().equals(rollout.app()) && !stillUnderWay(old, taken));
        audit(actor, strategy.rollback() ? "rollout.rollback" : "rollout.create", rollout.id(), rollout.app() + ":"
                + rollout.version() + " to " + rollout.target() + " in waves " + sizes);
        if (strategy.emergency() != null) {
            audit(actor, "rollout.emergency", rollout.id(), strategy.emergency());
        }
        LOG.info("rollout {} created: {}:{} to {} devices in waves {}", rollout.id(), rollout.app(), rollout.version(),
                ids.size(), sizes);
        event(rollout, RolloutEventType.CREATED, 0, "", "waves " + sizes);
        reports.refresh(inventory, now); // presence another orchestrator received
        staging.add(rollout.id());
        stageSome(rollout, continuation == null ? Integer.MAX_VALUE : STAGE_CHUNK);
        advance(rollout, now);
        persistAndPublish(rollout);
        if (staging.contains(rollout.id())) {
            requestContinuation();
        }
        return rollout;
    }

    /** Stages up to {@code budget} devices told nothing yet (in wave order); forgets the rollout once none is left. */
    private void stageSome(Rollout r, int budget) {
        for (RolloutDevice d : r.devices()) {
            if (needsStaging(d)) {
                if (budget-- == 0) {
                    return;
                }
                stage(r, d);
            }
        }
        staging.remove(r.id());
    }

    /** A device the rollout has neither staged nor activated (activation alone also makes it fetch the release). */
    private static boolean needsStaging(RolloutDevice d) {
        return d.stageSequence() == 0 && !d.wasActivated() && d.state() == RolloutDeviceState.PENDING;
    }

    /** A rollout taken up from the store whose staging was cut short (the orchestrator stopped): it goes on. */
    private void resumeStaging(Rollout r) {
        if ((r.state() == RolloutState.RUNNING || r.state() == RolloutState.PAUSED)
                && r.devices().stream().anyMatch(RolloutEngine::needsStaging)) {
            staging.add(r.id());
            if (continuation == null) {
                stageSome(r, Integer.MAX_VALUE);
                persistAndPublish(r);
            } else {
                requestContinuation();
            }
        }
    }

    private void stage(Rollout r, RolloutDevice d) {
        DesiredStates.Decision decision = desired.commit(d.deviceId(), r.app(),
                new DesiredApp(r.app(), r.version(), Phase.STAGE, r.strategy().rollback(), r.id()));
        d.staging(decision.sequence());
        outbox.add(decision);
    }

    /**
     * A device enrolled after rollouts started: it joins every unfinished, non-static rollout whose
     * target it matches, in the last wave (activated at once if that wave is under way).
     */
    public void onEnrolled(String deviceId) {
        Device device = devices.findDevice(deviceId).orElse(null);
        if (device == null) {
            return;
        }
        cluster.enrolled(deviceId, clock.instant());
        join(device);
    }

    /** Adds a newly enrolled device to the rollouts this engine drives whose target it matches. */
    private void join(Device device) {
        String deviceId = device.id();
        reports.wentOffline(deviceId);
        Instant now = clock.instant();
        for (Rollout r : List.copyOf(active.values())) {
            if (r.strategy().staticTarget() || r.device(deviceId) != null
                    || (r.state() != RolloutState.RUNNING && r.state() != RolloutState.PAUSED)
                    || !Target.parse(r.target()).matches(device)) {
                continue;
            }
            int last = r.waveCount();
            RolloutDevice joined = RolloutDevice.planned(deviceId, last, previousRelease(deviceId, r.app()));
            r.add(joined);
            r.touched(now);
            stage(r, joined);
            audit(ENGINE, "rollout.join", r.id(), deviceId + " joins wave " + last);
            event(r, RolloutEventType.DEVICE_JOINED, last, deviceId, "joined wave " + last);
            LOG.info("rollout {}: device {} enrolled and joins wave {}", r.id(), deviceId, last);
            if (r.state() == RolloutState.RUNNING && r.currentWave() == last && r.currentWaveState() != WaveState.PENDING) {
                activate(r, joined, now);
            }
            persistAndPublish(r);
        }
    }

    /** What a device goes back to on rollback: the release it last ran healthy, from its last report ({@link RollbackTargets}). */
    private DesiredApp previousRelease(String deviceId, String app) {
        DeviceApp report = devices.deviceApps(deviceId).stream().filter(a -> a.app().equals(app)).findFirst().orElse(null);
        return RollbackTargets.previous(app, desired.current(deviceId, app), report,
                version -> store.findRelease(app, version).isPresent());
    }

    public Rollout pause(String id, String actor) {
        Rollout r = activeOrConflict(id, "paused");
        if (r.state() != RolloutState.RUNNING) {
            throw new ConflictException("rollout " + id + " is " + r.state() + " and cannot be paused");
        }
        changeState(r, RolloutState.PAUSED, "paused by " + actor);
        audit(actor, "rollout.pause", id, null);
        persistAndPublish(r);
        return r;
    }

    public Rollout resume(String id, String actor) {
        Rollout r = activeOrConflict(id, "resumed");
        if (r.state() != RolloutState.PAUSED) {
            throw new ConflictException("rollout " + id + " is " + r.state() + " and cannot be resumed");
        }
        r.tolerateCurrentFailures();
        changeState(r, RolloutState.RUNNING, null);
        audit(actor, "rollout.resume", id, null);
        advance(r, clock.instant());
        persistAndPublish(r);
        return r;
    }

    public Rollout abort(String id, String actor) {
        Rollout r = activeOrConflict(id, "aborted");
        changeState(r, RolloutState.ABORTED, "aborted by " + actor);
        for (RolloutDevice d : r.devices()) {
            if (!d.wasActivated() && !d.state().isSettled()) {
                cancel(r, d, "the rollout was aborted");
            }
        }
        audit(actor, "rollout.abort", id, null);
        persistAndPublish(r);
        return r;
    }

    /**
     * Rolls an unfinished rollout back now, as {@code onFailure: rollback} would: every device it
     * activated gets a signed rollback to its previous release, the others are cancelled.
     */
    public Rollout rollBack(String id, String actor) {
        Rollout r = activeOrConflict(id, "rolled back");
        if (r.state() != RolloutState.RUNNING && r.state() != RolloutState.PAUSED) {
            throw new ConflictException("rollout " + id + " is " + r.state() + " and cannot be rolled back");
        }
        audit(actor, "rollout.rollback-now", id, null);
        startRollback(r, "rolled back by " + actor, clock.instant());
        persistAndPublish(r);
        return r;
    }

    /** Starts the next wave of a rollout that waits for approval between waves. */
    public Rollout approve(String id, String actor) {
        Rollout r = activeOrConflict(id, "approved");
        if (r.state() != RolloutState.RUNNING || r.currentWaveState() != WaveState.DONE || r.currentWave() == 0
                || r.currentWave() >= r.waveCount()) {
            throw new ConflictException("rollout " + id + " is not waiting for approval");
        }
        audit(actor, "rollout.approve", id, "wave " + (r.currentWave() + 1));
        r.moveTo(RolloutState.RUNNING, null, clock.instant());
        startWave(r, r.currentWave() + 1, clock.instant());
        advance(r, clock.instant());
        persistAndPublish(r);
        return r;
    }

    /**
     * Moves every unfinished rollout on time alone (device timeouts, soak periods) and, once an
     * hour, re-signs desired states before they expire.
     */
    public void tick() {
        Instant now = clock.instant();
        boolean readBack = cluster.readBackDue(now);
        if (readBack) {
            reports.refresh(devices.listDevices(), now);
        }
        takeUp(now);
        if ((lastRefresh == null || !now.isBefore(lastRefresh.plus(REFRESH_EVERY)))
                && cluster.choresAreMine(now, now.plus(REFRESH_EVERY))) {
            lastRefresh = now;
            List<DesiredStates.Decision> refreshed = desired.refreshOlderThan(REFRESH_AFTER);
            refreshed.forEach(desired::publish);
            if (!refreshed.isEmpty()) {
                LOG.info("re-signed the desired state of {} device(s) before it expires", refreshed.size());
            }
            int pruned = store.pruneAudit("device.status", now.minus(DEVICE_STATUS_RETENTION));
            if (pruned > 0) {
                LOG.info("pruned {} device status entries older than {} days from the audit trail", pruned,
                        DEVICE_STATUS_RETENTION.toDays());
            }
        }
        for (Rollout r : List.copyOf(active.values())) {
            if (!cluster.whileDriving(r.id(), now, () -> tickOne(r, now, readBack))) {
                lost(r);
            }
        }
        for (Rollout r : List.copyOf(finishing.values())) {
            // an ended rollout's late reports may reach another orchestrator, which stores them: read them here
            if (!cluster.whileDriving(r.id(), now, () -> {
                if (readBack && reconcile(r)) {
                    persistAndPublish(r);
                }
            })) {
                lost(r);
            }
        }
        drainForwarded();
    }

    private void tickOne(Rollout r, Instant now, boolean readBack) {
        RolloutState before = r.state();
        Instant updated = r.updatedAt();
        if (readBack && reconcile(r)) {
            r.touched(now);
        }
        evaluate(r, now);
        if (r.state() != before || !r.updatedAt().equals(updated) || !outbox.isEmpty()) {
            persistAndPublish(r);
        }
    }

    /**
     * Drives a rollout another orchestrator drove until now, from what the store says: decisions
     * already made are kept (their desired states are published again with the same bytes and
     * sequence, which devices ignore), reports the store holds for its devices are applied, then the
     * rollout moves on.
     */
    private void takeOver(Rollout r, Instant now) {
        LOG.info("orchestrator {} drives rollout {} ({}:{}) from now on: {} at wave {}", cluster.instance(), r.id(), r.app(),
                r.version(), r.state(), r.currentWave());
        active.put(r.id(), r);
        for (Device d : devices.listDevices()) {
            if (r.device(d.id()) != null) {
                if (d.online()) {
                    if (reports.markOnline(d.id())) {
                        // its time to report counts again in the other rollouts too: they check their timeouts afresh
                        active.values().forEach(other -> other.earliestWaiting(Instant.MIN));
                    }
                } else {
                    reports.wentOffline(d.id());
                }
            }
        }
        store.inTransaction(() -> {
            for (RolloutDevice d : r.devices()) {
                if (!d.state().isSettled()) {
                    desired.publishAgain(d.deviceId());
                }
            }
            reconcile(r);
            audit(ENGINE, "rollout.takeover", r.id(), "driven by " + cluster.instance());
            evaluate(r, now);
            persistAndPublish(r);
        });
        resumeStaging(r);
    }

    /**
     * Applies what the store says the rollout's unsettled devices last reported, whichever
     * orchestrator received it: a report that reached no owner (sent while the rollout changed
     * hands, or before another instance knew the rollout) still counts. True if a device changed.
     */
    private boolean reconcile(Rollout r) {
        boolean changed = false;
        for (Map.Entry<String, DeviceApp> e : devices.unsettledDeviceApps(r.id(), r.app()).entrySet()) {
            RolloutDevice d = r.device(e.getKey());
            DeviceApp a = e.getValue();
            if (d == null || a.version() == null || a.state() == null) {
                continue;
            }
            UpdateState state;
            try {
                state = UpdateState.valueOf(a.state());
            } catch (IllegalArgumentException unknown) {
                continue;
            }
            changed |= judge(r, d, a.version(), state, a.sequence(), a.reason(), a.message());
        }
        return changed;
    }

    /** Gives up the rollouts this engine drives (a clean stop): other orchestrators take them over at once. */
    public void releaseLeases() {
        for (String id : List.copyOf(active.keySet())) {
            cluster.release(id);
            LOG.info("orchestrator {} hands rollout {} over", cluster.instance(), id);
        }
        finishing.keySet().forEach(cluster::release);
        finishing.clear();
        active.clear();
        staging.clear();
    }

    /** Another orchestrator took the lease: stop driving the rollout (its decisions are its own now). */
    private void lost(Rollout r) {
        LOG.warn("orchestrator {} lost the lease of rollout {}: another orchestrator drives it now", cluster.instance(), r.id());
        active.remove(r.id());
        finishing.remove(r.id());
        staging.remove(r.id());
        outbox.drop();
    }

    /** Applies the reports other orchestrators forwarded for the rollouts this one drives. */
    public void drainForwarded() {
        for (ClusterMembership.Forwarded f : cluster.forwarded(active.keySet(), clock.instant())) {
            Rollout r = active.get(f.rolloutId());
            if (r == null) {
                continue;
            }
            Instant now = clock.instant();
            try {
                switch (f.kind()) {
                    case "status" -> {
                        StatusEvent e = StatusEvent.parseFrom(f.payload());
                        reports.online(f.deviceId(), now);
                        decideOnStatus(r, f.deviceId(), e, now);
                    }
                    case "presence" -> {
                        Presence p = Presence.parseFrom(f.payload());
                        if (p.getOnline()) {
                            reports.online(f.deviceId(), now);
                        } else {
                            reports.wentOffline(f.deviceId());
                        }
                        decideOnPresence(r, f.deviceId(), p, now);
                    }
                    case "enrolled" -> devices.findDevice(f.deviceId()).ifPresent(this::join); // not forwarded again
                    default -> LOG.warn("ignored a forwarded report of unknown kind {}", f.kind());
                }
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                LOG.warn("dropped a malformed forwarded {} of {}: {}", f.kind(), f.deviceId(), e.getMessage());
            }
        }
    }

    @Override
    public void onStatus(String topicDeviceId, StatusEvent e) {
        outbox.reportTakenUp(true);
        try {
            applyStatus(topicDeviceId, e);
        } finally {
            outbox.reportTakenUp(false);
        }
    }

    private void applyStatus(String topicDeviceId, StatusEvent e) {
        Instant now = clock.instant();
        if (!reports.status(topicDeviceId, e, now)) {
            return;
        }
        for (Rollout r : List.copyOf(active.values())) {
            decideOnStatus(r, topicDeviceId, e, now);
        }
        for (Rollout r : List.copyOf(finishing.values())) {
            decideOnStatus(r, topicDeviceId, e, now);
        }
        cluster.forward(topicDeviceId, e.getApp(), "status", e.toByteArray(), now);
    }

    private void decideOnStatus(Rollout r, String deviceId, StatusEvent e, Instant now) {
        RolloutDevice d = r.device(deviceId);
        if (d == null || !r.app().equals(e.getApp())) {
            return;
        }
        String reason = DeviceReports.reason(e);
        if (judge(r, d, e.getVersion(), e.getState(), e.getSequence(), reason, blankToNull(e.getMessage()))) {
            decide(r, now);
        }
    }

    /** A device of {@code r} changed: the rollout moves on and is stored, if this orchestrator still drives it. */
    private void decide(Rollout r, Instant now) {
        if (!cluster.whileDriving(r.id(), now, () -> {
            evaluate(r, now);
            persistAndPublish(r);
        })) {
            lost(r);
        }
    }

    @Override
    public void onPresence(String topicDeviceId, Presence p) {
        Instant now = clock.instant();
        if (!reports.presence(topicDeviceId, p, now)) {
            return;
        }
        for (Rollout r : List.copyOf(active.values())) {
            decideOnPresence(r, topicDeviceId, p, now);
        }
        for (Rollout r : List.copyOf(finishing.values())) {
            decideOnPresence(r, topicDeviceId, p, now);
        }
        cluster.forward(topicDeviceId, null, "presence", p.toByteArray(), now);
    }

    private void decideOnPresence(Rollout r, String deviceId, Presence p, Instant now) {
        RolloutDevice d = r.device(deviceId);
        if (d == null) {
            return;
        }
        for (var summary : p.getAppsList()) {
            if (!r.app().equals(summary.getApp()) || summary.getState() != UpdateState.ACTIVE) {
                continue;
            }
            // a device that reconnects tells its running version and the last sequence it accepted
            if (judge(r, d, summary.getRunningVersion(), UpdateState.ACTIVE, p.getLastSequence(), null, "reported by presence")) {
                decide(r, now);
            }
        }
    }

    /** A device that was away is back: the time it has to report starts again. */
    private void backOnline(String deviceId, Instant now) {
        for (Rollout r : active.values()) {
            RolloutDevice d = r.device(deviceId);
            if (d != null && (d.state() == RolloutDeviceState.ACTIVATING || d.state() == RolloutDeviceState.ROLLING_BACK)) {
                d.restartWaiting(now);
                r.touched(now);
            }
        }
    }

    @Override
    public void onHealth(String topicDeviceId, HealthReport h) {
        reports.health(topicDeviceId, h, clock.instant());
    }

    /** Applies one report about {@code version} to a device of a rollout, as the verdict table says; true if the device changed. */
    private boolean judge(Rollout r, RolloutDevice d, String version, UpdateState state, long sequence, String reason,
                          String message) {
        DeviceVerdicts.Answers answers = DeviceVerdicts.Answers.of(d, r.version(), version, sequence);
        DeviceVerdicts.Verdict verdict = DeviceVerdicts.verdict(DeviceVerdicts.Phase.of(r.state()), d.state(),
                DeviceVerdicts.Said.of(state), answers);
        String why = reason == null ? state.name() : reason;
        String key = r.id() + "/" + d.deviceId();
        if (verdict != DeviceVerdicts.Verdict.WAITING_FOR_WINDOW && d.state() == RolloutDeviceState.ACTIVATING
                && (answers == DeviceVerdicts.Answers.STAGE || answers == DeviceVerdicts.Answers.ACTIVATION)
                && inWindowWait.remove(key)) {
            d.restartWaiting(clock.instant()); // any other news of the release: the window opened, its time to report starts now
            d.noted(null);
        }
        switch (verdict) {
            case STAGED -> d.staged();
            case WAITING_FOR_WINDOW -> {
                if (!inWindowWait.add(key)) {
                    return false;
                }
                d.noted("waiting for its update window" + (message == null ? "" : ": " + message));
            }
            case SUCCEEDED -> {
                d.succeeded(message);
                LOG.info("rollout {}: device {} is ACTIVE on {}", r.id(), d.deviceId(), version);
                event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), "active on " + version);
            }
            case FAILED -> fail(r, d, why, message);
            case ROLLED_BACK -> {
                d.rolledBack("back on " + version);
                event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), "rolled back to " + version);
            }
            case ROLLBACK_FAILED -> {
                d.failed(why, "rollback to " + version + " failed: " + orEmpty(message));
                event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), d.message());
            }
            case LATE_SUCCEEDED -> {
                d.succeeded(late(r, "active on " + version));
                event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), d.message());
                finishedLate(r, d);
            }
            case LATE_FAILED -> {
                d.failed(why, late(r, orEmpty(message)));
                event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), why + ": " + d.message());
                finishedLate(r, d);
            }
            case LATE_ROLLED_BACK -> {
                d.rolledBack(late(r, "back on " + version));
                event(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), d.message());
                finishedLate(r, d);
            }
            case IGNORE -> {
                return false;
            }
        }
        return true;
    }

    private static final String FINISHED_LATE = "finished late";

    private static String late(Rollout r, String what) {
        return FINISHED_LATE + " (the rollout had ended " + r.state() + ")" + (what.isEmpty() ? "" : ": " + what);
    }

    /**
     * A device of an ended rollout reported its outcome: the rollout keeps its state, its reason names
     * the devices that finished late (a succeeded rollout's list of offline devices is recomputed).
     */
    private void finishedLate(Rollout r, RolloutDevice d) {
        Instant now = clock.instant();
        String base = r.state() == RolloutState.SUCCEEDED ? successReason(r) : r.reason();
        if (base != null && base.contains("; " + FINISHED_LATE + ": ")) {
            base = base.substring(0, base.indexOf("; " + FINISHED_LATE + ": "));
        } else if (base != null && base.startsWith(FINISHED_LATE + ": ")) {
            base = null;
        }
        List<String> late = r.devices().stream().filter(x -> x.message() != null && x.message().startsWith(FINISHED_LATE))
                .map(x -> x.deviceId() + " " + x.state()).toList();
        String list = FINISHED_LATE + ": " + String.join(", ", late);
        r.moveTo(r.state(), base == null ? list : base + "; " + list, now);
        LOG.info("rollout {} ({}): device {} finished late, {}", r.id(), r.state(), d.deviceId(), d.state());
        audit(ENGINE, "rollout.late", r.id(), d.deviceId() + " " + d.state() + ": " + d.message());
    }

    private boolean fail(Rollout r, RolloutDevice d, String reason, String message) {
        d.failed(reason, message);
        LOG.info("rollout {}: device {} failed: {}{}", r.id(), d.deviceId(), reason, message == null ? "" : " (" + message + ")");
        event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), reason + (message == null ? "" : ": " + message));
        return true;
    }

    private void evaluate(Rollout r, Instant now) {
        if (r.state() == RolloutState.RUNNING || r.state() == RolloutState.PAUSED) {
            advance(r, now);
        } else if (r.state() == RolloutState.ROLLING_BACK) {
            finishRollback(r, now);
        }
    }

    /** Applies the wave policy's steps until it says to wait (or the rollout pauses, rolls back or ends). */
    private void advance(Rollout r, Instant now) {
        // runs on every report: walks the devices only when one of them may have timed out
        Instant timedOutIfBefore = now.minus(r.strategy().deviceTimeout());
        if (r.state() == RolloutState.RUNNING && r.mayHaveWaitedSince(timedOutIfBefore)) {
            timeOut(r, timedOutIfBefore, now);
        }
        WavePolicy.Facts facts = facts(r);
        while (true) {
            int n = r.currentWave();
            switch (WavePolicy.next(facts, now)) {
                case WAIT -> {
                    return;
                }
                case PAUSE, ROLL_BACK -> {
                    failedTooOften(r, now);
                    return;
                }
                case ACTIVATE_MORE -> {
                    requestContinuation();
                    return;
                }
                case SOAK -> r.waveMovedTo(n, WaveState.SOAKING, now);
                case COMPLETE_WAVE -> completeWave(r, n, now);
                case AWAIT_APPROVAL -> {
                    String waiting = "waiting for approval to start wave " + (n + 1);
                    if (!waiting.equals(r.reason())) {
                        r.moveTo(RolloutState.RUNNING, waiting, now);
                    }
                    return;
                }
                case START_NEXT_WAVE -> {
                    if (r.reason() != null) {
                        r.moveTo(RolloutState.RUNNING, null, now);
                    }
                    startWave(r, n + 1, now);
                }
                case SUCCEED -> {
                    changeState(r, RolloutState.SUCCEEDED, successReason(r));
                    return;
                }
            }
        }
    }

    /** What the wave policy reads of a rollout: its counts, and the devices of its current wave. */
    private WavePolicy.Facts facts(Rollout r) {
        return new WavePolicy.Facts() {
            @Override public RolloutState state() {
                return r.state();
            }
            @Override public RolloutStrategy strategy() {
                return r.strategy();
            }
            @Override public int currentWave() {
                return r.currentWave();
            }
            @Override public WaveState waveState() {
                return r.currentWaveState();
            }
            @Override public Instant waveChangedAt() {
                return r.waveChangedAt();
            }
            @Override public int waveCount() {
                return r.waveCount();
            }
            @Override public long failures() {
                return r.count(RolloutDeviceState.FAILED) - r.toleratedFailures();
            }
            @Override public int targeted() {
                return r.devices().size();
            }
            @Override public long toActivate() {
                return awaitingActivation(r, r.currentWave());
            }
            @Override public int waveSize() {
                return r.wave(r.currentWave()).size();
            }
            @Override public int settled() {
                return r.settled(r.currentWave());
            }
            @Override public int away() {
                return reports.offlineCount();
            }
            @Override public boolean anyActive() {
                return r.count(RolloutDeviceState.ACTIVE) > 0;
            }
            @Override public boolean allSettledOrAway() {
                return r.wave(r.currentWave()).stream().allMatch(RolloutEngine.this::settledOrAway);
            }
        };
    }

    private static String successReason(Rollout r) {
        long failed = r.count(RolloutDeviceState.FAILED);
        List<String> away = r.devices().stream().filter(d -> !d.state().isSettled()).map(RolloutDevice::deviceId).toList();
        List<String> why = new ArrayList<>();
        if (failed > 0) {
            why.add(failed + " device(s) failed within maxFailures: " + failedSummary(r));
        }
        if (!away.isEmpty()) {
            why.add(away.size() + " device(s) offline, updating when they return: " + String.join(", ", away));
        }
        return why.isEmpty() ? null : String.join("; ", why);
    }

    /** Applies the failure action: failures passed the threshold. */
    private void failedTooOften(Rollout r, Instant now) {
        long failures = r.count(RolloutDeviceState.FAILED) - r.toleratedFailures();
        String why = failures + " device(s) failed, more than maxFailures " + r.strategy().maxFailures() + ": "
                + failedSummary(r);
        // a separate entry marks the moment the change failed (time to restore and change failure rate use it)
        audit(ENGINE, "rollout.failure", r.id(), why);
        switch (r.strategy().onFailure()) {
            case PAUSE -> changeState(r, RolloutState.PAUSED, why);
            case ROLLBACK -> startRollback(r, why, now);
        }
    }

    private void completeWave(Rollout r, int n, Instant now) {
        r.waveMovedTo(n, WaveState.DONE, now);
        LOG.info("rollout {}: wave {} completed", r.id(), n);
        event(r, RolloutEventType.WAVE_COMPLETED, n, "", "wave " + n + " completed");
    }

    private void startWave(Rollout r, int n, Instant now) {
        r.waveMovedTo(n, WaveState.ACTIVATING, now);
        outbox.waveStarted(n);
        List<RolloutDevice> members = r.wave(n);
        LOG.info("rollout {}: wave {} starts on {} device(s): {}{}", r.id(), n, members.size(),
                String.join(", ", members.stream().limit(20).map(RolloutDevice::deviceId).toList()), members.size() > 20 ? ", ..." : "");
        event(r, RolloutEventType.WAVE_STARTED, n, "", "wave " + n + " activates " + members.size() + " device(s)");
        activateSome(r, n, now, FIRST_ACTIVATION_STEP);
    }

    /** Activates the devices of wave {@code n} not activated yet: all of them, or one chunk with {@link #continueOn}. */
    private void activateSome(Rollout r, int n, Instant now) {
        activateSome(r, n, now, ACTIVATION_CHUNK);
    }

    private void activateSome(Rollout r, int n, Instant now, int chunk) {
        int budget = continuation == null ? Integer.MAX_VALUE : chunk;
        for (RolloutDevice d : r.wave(n)) {
            if (budget == 0) {
                return;
            }
            if (!awaitsActivation(d)) {
                continue;
            }
            if (r.strategy().offlineCountsAsFailure() && reports.isOffline(d.deviceId())) {
                fail(r, d, "OFFLINE", "offline when wave " + n + " started");
                continue;
            }
            activate(r, d, now);
            budget--;
        }
    }

    private static boolean awaitsActivation(RolloutDevice d) {
        return !d.wasActivated() && (d.state() == RolloutDeviceState.PENDING || d.state() == RolloutDeviceState.STAGED);
    }

    /** Devices of wave {@code n} still to activate: PENDING and STAGED are the states before activation (no walk). */
    private static long awaitingActivation(Rollout r, int n) {
        return r.count(n, RolloutDeviceState.PENDING) + r.count(n, RolloutDeviceState.STAGED);
    }

    /**
     * Fails the activated devices that did not report within the device timeout (offline devices and
     * those waiting for their update window wait), and notes when the next one can time out.
     */
    private void timeOut(Rollout r, Instant timedOutIfBefore, Instant now) {
        Instant earliest = null;
        for (RolloutDevice d : r.devices()) {
            if (d.state() != RolloutDeviceState.ACTIVATING && d.state() != RolloutDeviceState.ROLLING_BACK) {
                continue;
            }
            boolean counts = d.state() == RolloutDeviceState.ACTIVATING && !reports.isOffline(d.deviceId())
                    && !inWindowWait.contains(r.id() + "/" + d.deviceId());
            if (counts && !d.waitingSince().isAfter(timedOutIfBefore)) {
                fail(r, d, "TIMEOUT", "no ACTIVE report within " + Durations.format(r.strategy().deviceTimeout()));
                r.touched(now);
            } else if ((counts || d.state() == RolloutDeviceState.ROLLING_BACK)
                    && (earliest == null || d.waitingSince().isBefore(earliest))) {
                earliest = d.waitingSince();
            }
        }
        r.earliestWaiting(earliest);
    }

    private void requestContinuation() {
        if (continuation != null && !continuationRequested) {
            continuationRequested = true;
            try {
                continuation.execute(() -> store.inTransaction(this::continueActivations));
            } catch (java.util.concurrent.RejectedExecutionException stopping) {
                continuationRequested = false; // the next start or tick goes on where this left off
            }
        }
    }

    /** One more step of every running wave that still has devices to activate, and of every unfinished staging. */
    private void continueActivations() {
        continuationRequested = false;
        Instant now = clock.instant();
        for (Rollout r : List.copyOf(active.values())) {
            if (staging.contains(r.id()) && r.state() != RolloutState.RUNNING && r.state() != RolloutState.PAUSED) {
                staging.remove(r.id()); // rolled back or aborted: nothing more to stage
            }
            boolean activates = r.state() == RolloutState.RUNNING && r.currentWaveState() == WaveState.ACTIVATING
                    && awaitingActivation(r, r.currentWave()) > 0;
            // activation first: the running wave's devices are waiting now, staging only prepares later waves
            if (activates) {
                activateSome(r, r.currentWave(), now);
                r.touched(now);
                advance(r, now);
            } else if (staging.contains(r.id())) {
                stageSome(r, STAGE_CHUNK);
            } else {
                continue;
            }
            persistAndPublish(r);
            if (staging.contains(r.id())) {
                requestContinuation();
            }
        }
    }

    private void activate(Rollout r, RolloutDevice d, Instant now) {
        // the same decision stored already (an orchestrator stopped between storing it and storing the rollout):
        // the device gets those very bytes again, never a second activation with a new sequence
        DesiredStates.Decision decision = desired.commitOnce(d.deviceId(), r.app(),
                new DesiredApp(r.app(), r.version(), Phase.ACTIVATE, r.strategy().rollback(), r.id()));
        d.activating(decision.sequence(), now);
        outbox.add(decision);
    }

    /** Settled, or offline and waiting for its retained desired state (not a failure unless the strategy says so). */
    private boolean settledOrAway(RolloutDevice d) {
        return d.state().isSettled() || reports.isOffline(d.deviceId());
    }

    private void startRollback(Rollout r, String why, Instant now) {
        List<String> kept = new ArrayList<>();
        for (RolloutDevice d : r.devices()) {
            DesiredApp previous = d.previous();
            if (!d.wasActivated()) {
                cancel(r, d, null);
            } else if (RollbackTargets.knownHealthy(previous)) {
                DesiredStates.Decision decision = desired.commit(d.deviceId(), r.app(),
                        new DesiredApp(r.app(), previous.version(), Phase.ACTIVATE, true, r.id()));
                d.rollingBack(decision.sequence(), now);
                outbox.add(decision);
            } else if (previous == null) {
                outbox.add(desired.commit(d.deviceId(), r.app(), null));
                d.rolledBack("app removed: the device had no previous release");
            } else {
                // nothing says which release ran healthy there: sending it one would be a guess
                d.noted("no release known healthy before this rollout: keeps what it runs");
                kept.add(d.deviceId());
            }
        }
        changeState(r, RolloutState.ROLLING_BACK, kept.isEmpty() ? why
                : why + "; kept what they run (no release known healthy): " + String.join(", ", kept));
        finishRollback(r, now);
    }

    /**
     * A device the rollout never activated: its desired state goes back to its previous release (its
     * container was never touched), or loses the app if it had none.
     */
    private void cancel(Rollout r, RolloutDevice d, String why) {
        DesiredApp back = RollbackTargets.untouched(d.previous());
        outbox.add(desired.commit(d.deviceId(), r.app(), back));
        d.cancelled("never activated" + (why == null ? "" : ": " + why) + ": stays on "
                + (back == null ? "nothing" : back.version()));
    }

    private void finishRollback(Rollout r, Instant now) {
        for (RolloutDevice d : r.devices()) {
            if (d.state() == RolloutDeviceState.ROLLING_BACK
                    && !now.isBefore(d.waitingSince().plus(r.strategy().deviceTimeout()))) {
                d.failed("TIMEOUT", "no ACTIVE report on " + d.previous().version() + " within "
                        + Durations.format(r.strategy().deviceTimeout()));
                event(r, RolloutEventType.DEVICE_FAILED, d.wave(), d.deviceId(), d.message());
                r.touched(now);
            }
        }
        if (r.count(RolloutDeviceState.ROLLING_BACK) > 0) {
            return;
        }
        List<String> unconfirmed = r.devices().stream()
                .filter(d -> d.state() == RolloutDeviceState.FAILED && d.rollbackSequence() > 0)
                .map(d -> d.deviceId() + " (" + d.message() + ")").toList();
        if (unconfirmed.isEmpty()) {
            changeState(r, RolloutState.ROLLED_BACK, r.reason());
        } else {
            changeState(r, RolloutState.FAILED, r.reason() + "; rollback not confirmed on " + String.join(", ", unconfirmed));
        }
    }

    private void changeState(Rollout r, RolloutState next, String why) {
        Instant now = clock.instant();
        r.moveTo(next, why, now);
        LOG.info("rollout {} is {}{}", r.id(), next, why == null ? "" : ": " + why);
        audit(ENGINE, "rollout.state", r.id(), next + (why == null ? "" : ": " + why));
        event(r, RolloutEventType.STATE_CHANGED, r.currentWave(), "", why == null ? next.name() : why);
    }

    /** Stores the rollout, then publishes the desired states and events its changes produced. */
    private void persistAndPublish(Rollout r) {
        store.saveRollout(r);
        if (r.state().isTerminal()) {
            active.remove(r.id());
            staging.remove(r.id());
            if (stillUnderWay(r, Set.of())) {
                finishing.put(r.id(), r); // with several orchestrators it keeps the lease: late reports come here
            } else {
                finishing.remove(r.id());
                cluster.release(r.id());
            }
        }
        outbox.publishAfterCommit(r);
    }

    private void event(Rollout r, RolloutEventType type, int wave, String deviceId, String message) {
        outbox.event(r, type, wave, deviceId, message);
    }

    private Rollout activeOrConflict(String id, String verb) {
        Rollout r = active.get(id);
        if (r != null) {
            if (!cluster.whileDriving(id, clock.instant(), () -> { })) {
                lost(r);
                throw new ConflictException("rollout " + id + " is now driven by another orchestrator; try again");
            }
            return r;
        }
        Rollout stored = store.findRollout(id).orElseThrow(() -> new NotFoundException("rollout " + id + " does not exist"));
        if (!stored.state().isTerminal()) {
            cluster.drivenElsewhere(id).ifPresent(where -> {
                throw new ConflictException("rollout " + id + " is driven by orchestrator " + where + "; send the command there");
            });
        }
        throw new ConflictException("rollout " + id + " is " + stored.state() + " and cannot be " + verb);
    }

    private void audit(String actor, String action, String subject, String detail) {
        store.appendAudit(new AuditEntry(clock.instant(), actor, action, subject, detail));
    }

    private static String failedSummary(Rollout r) {
        return String.join(", ", r.devices().stream().filter(d -> d.state() == RolloutDeviceState.FAILED)
                .map(d -> d.deviceId() + " " + d.reason()).toList());
    }

    private static String newId(Instant now) {
        StringBuilder b = new StringBuilder("r-").append(Long.toString(now.toEpochMilli(), 36));
        for (int i = 0; i < 4; i++) {
            b.append(Character.forDigit(RANDOM.nextInt(36), 36));
        }
        return b.toString();
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }

}
