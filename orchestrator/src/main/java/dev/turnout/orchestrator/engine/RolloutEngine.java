package dev.turnout.orchestrator.engine;

import dev.turnout.proto.transfer.DownloadReports;
import dev.turnout.orchestrator.cluster.LeasedRollouts;
import dev.turnout.orchestrator.cluster.SingleOrchestrator;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.Target;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.policy.WavePolicy;
import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.port.DeviceRegistry;
import dev.turnout.orchestrator.port.FleetEvents;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEventType;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * Moves rollouts forward. It changes state only on device events ({@link FleetEvents}), operator
 * commands and {@link #tick()}; time comes from the injected {@link Clock}. Not thread-safe: the
 * caller runs every method on one thread. Every decision is stored before it is published.
 *
 * <p>The loop: a report ({@link ReportJudge}, the verdict table) or a tick ({@link Timeouts}, the
 * silence table) changes devices; {@link #advance} applies the wave policy's steps; the rollout is
 * stored; the {@link Outbox} publishes after the commit. Planning, staging, activation, rollback and
 * operator commands are the collaborators named below.
 */
public final class RolloutEngine implements FleetEvents {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);
    private static final Duration REFRESH_EVERY = Duration.ofHours(1);
    private static final Duration REFRESH_AFTER = DesiredStates.VALIDITY.dividedBy(2);
    /**
     * Device transitions (one audit row per status event) are kept this long; operator actions and
     * rollout decisions, which the DORA figures and `turnout history` rely on, are kept for good.
     */
    static final Duration DEVICE_STATUS_RETENTION = Duration.ofDays(30);

    private final RolloutStore store;
    private final DeviceRegistry devices;
    private final ClusterMembership cluster;
    private final DesiredStates desired;
    private final Clock clock;
    private final DrivenRollouts rollouts;
    private final DeviceReports reports;
    private final DownloadBoard downloads = new DownloadBoard();
    private final Outbox outbox;
    private final Journal journal;
    private final RolloutPlanner planner;
    private final Staging staging;
    private final Activations activations;
    private final Timeouts timeouts;
    private final Reminders reminders;
    private final ReportJudge judge;
    private final Rollbacks rollbacks;
    private final OperatorCommands commands;
    /** Device id -> the signing keys it trusts, from its presence (docs/security.md, "Signing-key rotation"). */
    private final Map<String, List<String>> trustedKeyIds = new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * The store refused a transaction since the rollouts were read: what they say in memory may be ahead of the store
     * (a wave started that no device was told of), so they are read again before the engine does anything else.
     */
    private volatile boolean stale;
    private final AppRemovals removals;
    private Instant lastRefresh;

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
        this.rollouts = new DrivenRollouts(cluster, store);
        this.outbox = new Outbox(store, transport, clock);
        this.reports = new DeviceReports(devices, store, this::backOnline);
        this.journal = new Journal(store, outbox, clock);
        this.planner = new RolloutPlanner(store, devices, desired, clock);
        this.staging = new Staging(desired, outbox);
        this.activations = new Activations(desired, outbox, journal, reports);
        this.timeouts = new Timeouts(journal, reports);
        this.reminders = new Reminders(desired, reports, timeouts);
        this.judge = new ReportJudge(journal, timeouts, activations, clock);
        this.rollbacks = new Rollbacks(desired, outbox, journal);
        this.commands = new OperatorCommands(journal, rollbacks, judge, activations, clock);
        this.removals = new AppRemovals(store, devices, desired, journal);
        store.onRefusedTransaction(() -> stale = true);
    }

    /** The orchestrator instance this engine runs in. */
    public String instance() {
        return cluster.instance();
    }

    /** Ids of the rollouts this engine drives now. */
    public Set<String> driving() {
        return Set.copyOf(rollouts.ids());
    }

    /** Where wave decision latencies go (metrics); replaces the previous listener. */
    public void onWaveDecision(WaveDecisions listener) {
        outbox.onWaveDecision(listener);
    }

    /**
     * Activates large waves in steps of {@code Activations.ACTIVATION_CHUNK} devices (and stages
     * large fleets in steps), each step its own store transaction run through {@code engineThread}
     * (the thread that runs every other engine method), so that the first devices of a wave get their
     * desired state while the rest are being signed.
     */
    public void continueOn(Executor engineThread) {
        activations.continueOn(engineThread, () -> store.inTransaction(this::pacedStep));
    }

    /**
     * True when the open store transaction holds desired states (a wave started, a device joined):
     * whoever batches device reports into one transaction should commit it now, so that they go out.
     */
    public boolean desiredWaiting() {
        return outbox.desiredWaiting();
    }

    /**
     * True when a step that activates more devices of a started wave is queued on the engine thread: whoever
     * runs a batch of device reports should end it, so that the step runs before the reports queued behind it
     * (a 1,780-device wave was activated 100 devices every 250 ms, each step behind the reports of the last).
     */
    public boolean activationWaiting() {
        return activations.activationWaiting();
    }

    /** Signs desired states and bundle manifests with the orchestrator key. */
    public DesiredStates desiredStates() {
        return desired;
    }

    /** Reloads the rollouts that were not finished; decisions already made are not made again. */
    public void start() {
        stale = false;
        reload();
        skip(supersededMeanwhile(), clock.instant());
        tick();
    }

    /** Drops what memory holds of the rollouts and reads the unfinished ones again from the store. */
    private void reload() {
        rollouts.clear();
        cluster.retakeAll();
        staging.clear();
        outbox.drop();
        reports.reset();
        reminders.started(clock.instant());
        takeUp(clock.instant());
        rollouts.takeUpFinishing(clock.instant());
    }

    /**
     * After the store refused a transaction (its disk full, say), forgets what was decided in memory and not stored,
     * reading the unfinished rollouts again: the reports it could not store come again (they were not acknowledged)
     * and are judged afresh, and nothing is published that the store does not hold. Runs first in every engine step.
     */
    private void freshen() {
        if (!stale) {
            return;
        }
        stale = false;
        reload();
        LOG.warn("the store refused a transaction: what was decided in it is dropped (none of it was published) and the {}"
                + " unfinished rollout(s) are read again from the store", rollouts.unfinished().size());
    }

    /**
     * Plans a rollout; unless it is a dry run, stores it, stages the release everywhere and starts
     * wave 1. An unfinished rollout of the app on some of its devices makes it a conflict, unless the
     * request supersedes it: then that rollout ends ({@link OperatorCommands#supersede}) in the same transaction.
     */
    public Rollout create(RolloutRequest request, String actor) {
        freshen();
        RolloutPlanner.Plan plan = planner.plan(request);
        Rollout rollout = plan.rollout();
        if (request.dryRun()) {
            return rollout;
        }
        List<Rollout> replaced = new ArrayList<>();
        for (Rollout other : planner.overlapping(plan, request.supersede())) {
            replaced.add(driven(other.id(), "superseded")); // every check before anything changes
        }
        Instant now = rollout.createdAt();
        store.inTransaction(() -> {
            Set<String> deviceIds = new HashSet<>(plan.deviceIds());
            List<Superseded> superseded = rollouts.created(rollout, deviceIds, now);
            commands.created(plan, actor);
            for (Rollout old : replaced) {
                commands.supersede(old, rollout, deviceIds, actor);
                persistAndPublish(old);
            }
            skip(superseded, now);
        });
        reports.refresh(plan.inventory(), now); // presence another orchestrator received
        staging.begin(rollout, activations.paced());
        advance(rollout, now);
        persistAndPublish(rollout);
        if (staging.unfinished(rollout)) {
            activations.requestStep();
        }
        return rollout;
    }

    /**
     * Removes {@code app} from the targeted devices that have it: each gets a signed desired state whose entry for the app
     * is a removal (stored and audited as {@code app.remove} before it is published). Refused while an unfinished rollout
     * of the app holds one of them.
     */
    public AppRemovals.Removal removeApp(String app, Target target, String actor) {
        freshen();
        return removals.remove(app, target, actor);
    }

    /** As {@link #removeApp(String, Target, String)}, ignoring the app's update lock or waiting for it at most {@code lockTimeout}. */
    public AppRemovals.Removal removeApp(String app, Target target, String actor, boolean force, java.time.Duration lockTimeout) {
        freshen();
        return removals.remove(app, target, actor, force, lockTimeout);
    }

    public Rollout pause(String id, String actor) {
        Rollout r = driven(id, "paused");
        commands.pause(r, actor);
        return stored(r);
    }

    public Rollout resume(String id, String actor) {
        Rollout r = driven(id, "resumed");
        commands.resume(r, actor);
        advance(r, clock.instant());
        return stored(r);
    }

    public Rollout abort(String id, String actor) {
        Rollout r = driven(id, "aborted");
        commands.abort(r, actor);
        return stored(r);
    }

    /**
     * Rolls an unfinished rollout back now, as {@code onFailure: rollback} would: every device it
     * activated gets a signed rollback to its previous release, the others are cancelled.
     */
    public Rollout rollBack(String id, String actor) {
        Rollout r = driven(id, "rolled back");
        commands.rollBack(r, actor);
        advance(r, clock.instant()); // ends the rollback now if no device has to go back
        return stored(r);
    }

    /** Starts the next wave of a rollout that waits for approval between waves. */
    public Rollout approve(String id, String actor) {
        Rollout r = driven(id, "approved");
        commands.approve(r, actor);
        advance(r, clock.instant());
        return stored(r);
    }

    /**
     * A device enrolled after rollouts started: it joins every unfinished, non-static rollout whose
     * target it matches, in the last wave (activated at once if that wave is under way).
     */
    public void onEnrolled(String deviceId) {
        freshen();
        Device device = devices.findDevice(deviceId).orElse(null);
        if (device == null) {
            return;
        }
        cluster.enrolled(deviceId, clock.instant());
        join(device);
    }

    /**
     * A device's labels or groups changed: like a device enrolled now, it joins every unfinished,
     * non-static rollout whose target it matches now (unless another unfinished rollout of the app
     * holds it). Rollouts it no longer matches keep it: a rollout under way does not drop devices.
     */
    public void onRetagged(String deviceId) {
        onEnrolled(deviceId);
    }

    /**
     * Moves every unfinished rollout on time alone (device timeouts, soak periods) and, once an
     * hour, re-signs desired states before they expire.
     */
    public void tick() {
        freshen();
        Instant now = clock.instant();
        boolean readBack = cluster.readBackDue(now);
        if (readBack) {
            reports.refresh(devices.listDevices(), now);
        }
        takeUp(now);
        if ((lastRefresh == null || !now.isBefore(lastRefresh.plus(REFRESH_EVERY)))
                && cluster.choresAreMine(now, now.plus(REFRESH_EVERY))) {
            lastRefresh = now;
            chores(now);
        }
        for (Rollout r : rollouts.unfinished()) {
            whileDriving(r, now, () -> {
                RolloutState before = r.state();
                Instant updated = r.updatedAt();
                if (readBack && reconcile(r)) {
                    r.touched(now);
                }
                advance(r, now);
                reminders.remind(r, now);
                if (r.state() != before || !r.updatedAt().equals(updated) || !outbox.isEmpty()) {
                    persistAndPublish(r);
                }
            });
        }
        for (Rollout r : rollouts.finishing()) {
            // an ended rollout's late reports may reach another orchestrator, which stores them: read them here
            whileDriving(r, now, () -> {
                if (readBack && reconcile(r)) {
                    persistAndPublish(r);
                }
            });
        }
        drainForwarded();
    }

    @Override
    public void onStatus(String topicDeviceId, StatusEvent e) {
        freshen();
        outbox.reportTakenUp(true);
        try {
            Instant now = clock.instant();
            if (DownloadReports.isProgress(e)) { // shown, not stored, audited or judged: no transition
                if (e.getDeviceId().equals(topicDeviceId) && reports.enrolled(topicDeviceId)) {
                    downloads.report(topicDeviceId, e, now);
                    // a device downloading its release is not silent: it is not reminded (Reminders)
                    rollouts.unfinished().forEach(r -> {
                        RolloutDevice d = r.app().equals(e.getApp()) ? r.device(topicDeviceId) : null;
                        if (d != null) {
                            d.heard(now);
                        }
                    });
                }
                return;
            }
            if (!reports.status(topicDeviceId, e, now)) {
                return;
            }
            downloads.report(topicDeviceId, e, now);
            forEachConcerned(r -> decideOnStatus(r, topicDeviceId, e, now));
            cluster.forward(topicDeviceId, e.getApp(), "status", e.toByteArray(), now);
        } finally {
            outbox.reportTakenUp(false);
        }
    }

    /** The downloads running on devices now, as their last progress reports said. */
    public DownloadBoard downloads() {
        return downloads;
    }

    @Override
    public void onPresence(String topicDeviceId, Presence p) {
        freshen();
        if (!p.getOnline()) {
            downloads.offline(topicDeviceId);
        }
        if (p.getTrustedKeyIdsCount() > 0) { // the broker's will carries none: keep what the device said last
            trustedKeyIds.put(topicDeviceId, List.copyOf(p.getTrustedKeyIdsList()));
        }
        Instant now = clock.instant();
        reports.presence(topicDeviceId, p, now).ifPresent(taken -> {
            forEachConcerned(r -> decideOnPresence(r, topicDeviceId, taken, now));
            cluster.forward(topicDeviceId, null, "presence", taken.toByteArray(), now);
        });
    }

    @Override
    public void onHealth(String topicDeviceId, HealthReport h) {
        reports.health(topicDeviceId, h, clock.instant());
    }

    /** Applies the reports other orchestrators forwarded for the rollouts this one drives. */
    public void drainForwarded() {
        freshen();
        for (ClusterMembership.Forwarded f : cluster.forwarded(rollouts.ids(), clock.instant())) {
            Rollout r = rollouts.get(f.rolloutId());
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

    /** Gives up the rollouts this engine drives (a clean stop): other orchestrators take them over at once. */
    public void releaseLeases() {
        rollouts.releaseAll();
        staging.clear();
    }

    // ---- the loop: a device changed, the wave policy says what follows, the rollout is stored and published

    private void decideOnStatus(Rollout r, String deviceId, StatusEvent e, Instant now) {
        RolloutDevice d = r.device(deviceId);
        if (d == null || !r.app().equals(e.getApp())) {
            return;
        }
        d.heard(now);
        String reason = DeviceReports.reason(e);
        // the bytes it moved to stage the release: kept with the rollout's device, summed in rollout status
        boolean counted = DownloadReports.isTotal(e) && r.version().equals(e.getVersion())
                && d.downloaded(e.getDownload().getBytesMoved(), e.getDownload().getBytesTotal());
        if (judge.apply(r, d, e.getVersion(), e.getState(), e.getSequence(), reason, DeviceReports.blankToNull(e.getMessage()))
                || counted) {
            decide(r, now);
        }
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
            if (judge.apply(r, d, summary.getRunningVersion(), UpdateState.ACTIVE, p.getLastSequence(), null,
                    "reported by presence")) {
                decide(r, now);
            }
        }
    }

    /** A device of {@code r} changed: the rollout moves on and is stored, if this orchestrator still drives it. */
    private void decide(Rollout r, Instant now) {
        whileDriving(r, now, () -> {
            advance(r, now);
            persistAndPublish(r);
        });
    }

    /**
     * Fails the devices whose time ran out, then applies the wave policy's steps until it says to
     * wait (or the rollout pauses or ends). An ended rollout does not move.
     */
    private void advance(Rollout r, Instant now) {
        if (r.state().isTerminal()) {
            return;
        }
        timeouts.failOverdue(r, now);
        RolloutFacts facts = new RolloutFacts(r, reports);
        while (true) {
            int n = r.currentWave();
            WavePolicy.Step step = WavePolicy.next(facts, now);
            switch (step) {
                case WAIT -> {
                    return;
                }
                case PAUSE -> {
                    journal.moveTo(r, RolloutState.PAUSED, failedTooOften(r, facts));
                    return;
                }
                case ROLL_BACK -> {
                    rollbacks.start(r, failedTooOften(r, facts), now);
                    timeouts.failOverdue(r, now); // then the policy says whether the rollback already ended
                }
                case ACTIVATE_MORE -> {
                    activations.requestActivationStep();
                    return;
                }
                case SOAK -> r.waveMovedTo(n, WaveState.SOAKING, now);
                case COMPLETE_WAVE -> {
                    r.waveMovedTo(n, WaveState.DONE, now);
                    LOG.info("rollout {}: wave {} completed", r.id(), n);
                    journal.event(r, RolloutEventType.WAVE_COMPLETED, n, "", "wave " + n + " completed");
                }
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
                    activations.startWave(r, n + 1, now);
                }
                case SUCCEED -> {
                    journal.moveTo(r, RolloutState.SUCCEEDED, RolloutFacts.successReason(r));
                    return;
                }
                case END_ROLLED_BACK, END_FAILED -> {
                    rollbacks.end(r, step == WavePolicy.Step.END_ROLLED_BACK);
                    return;
                }
            }
        }
    }

    /** Failures passed maxFailures: writes down the moment the change failed and returns why. */
    private String failedTooOften(Rollout r, RolloutFacts facts) {
        String why = facts.failures() + " device(s) failed, more than maxFailures " + r.strategy().maxFailures() + ": "
                + RolloutFacts.failedSummary(r);
        // a separate entry marks the moment the change failed (time to restore and change failure rate use it)
        journal.audit(Journal.ENGINE, "rollout.failure", r.id(), why);
        return why;
    }

    /** One paced step: the next activations of every running wave that has devices left, else the next staging step. */
    private void pacedStep() {
        activations.stepRuns();
        freshen();
        Instant now = clock.instant();
        for (Rollout r : rollouts.unfinished()) {
            boolean activates = r.state() == RolloutState.RUNNING && r.currentWaveState() == WaveState.ACTIVATING
                    && RolloutFacts.awaitingActivation(r, r.currentWave()) > 0;
            // activation first: the running wave's devices are waiting now, staging only prepares later waves
            if (activates) {
                activations.activateSome(r, r.currentWave(), now);
                r.touched(now);
                advance(r, now);
            } else if (staging.unfinished(r)) {
                staging.step(r);
            } else {
                continue;
            }
            persistAndPublish(r);
            if (staging.unfinished(r)) {
                activations.requestStep();
            }
        }
    }

    /** Stores the rollout, then publishes the desired states and events its changes produced. */
    private void persistAndPublish(Rollout r) {
        store.saveRollout(r);
        rollouts.stored(r);
        if (r.state().isTerminal()) {
            staging.forget(r.id());
        }
        outbox.publishAfterCommit(r);
    }

    private Rollout stored(Rollout r) {
        persistAndPublish(r);
        return r;
    }

    // ---- which rollouts this engine drives (cluster membership)

    /**
     * Each rollout a report may concern: those driven, then the ended ones with devices still under
     * way, listed after the driven ones took the report (one that ended on it is asked again, as ended).
     */
    private void forEachConcerned(Consumer<Rollout> action) {
        rollouts.unfinished().forEach(action);
        rollouts.finishing().forEach(action);
    }

    /**
     * Devices of ended rollouts that newer rollouts took before they finished: SKIPPED (the device
     * applies only its newest desired state), and each such rollout stored once.
     */
    private void skip(List<Superseded> superseded, Instant now) {
        Map<Rollout, List<Superseded>> byRollout = new LinkedHashMap<>();
        superseded.forEach(s -> byRollout.computeIfAbsent(s.ended(), r -> new ArrayList<>()).add(s));
        byRollout.forEach((ended, devices) -> whileDriving(ended, now, () -> {
            devices.forEach(s -> judge.superseded(ended, ended.device(s.deviceId()), s.by()));
            persistAndPublish(ended);
        }));
    }

    /**
     * The devices under way in ended rollouts this engine keeps whose desired state a newer rollout
     * has replaced since (e.g. created by another orchestrator, or before devices were marked skipped):
     * the device applies only its desired state, so they will never finish the older rollout.
     */
    private List<Superseded> supersededMeanwhile() {
        List<Superseded> found = new ArrayList<>();
        for (Rollout r : rollouts.finishing()) {
            for (RolloutDevice d : r.devices()) {
                DesiredApp now = RolloutFacts.underWay(d) ? desired.current(d.deviceId(), r.app()) : null;
                if (now != null && !now.rolloutId().isEmpty() && !now.rolloutId().equals(r.id())) {
                    store.findRollout(now.rolloutId()).ifPresent(by -> found.add(new Superseded(r, d.deviceId(), by)));
                }
            }
        }
        return found;
    }

    /** Runs {@code work} on {@code r} if this orchestrator still drives it; else stops driving it. */
    private boolean whileDriving(Rollout r, Instant now, Runnable work) {
        if (rollouts.whileDriving(r, now, work)) {
            return true;
        }
        staging.forget(r.id());
        outbox.drop(); // its decisions are the other orchestrator's now
        return false;
    }

    /** The rollout an operator command names, if this engine drives it; else why not, as a conflict. */
    private Rollout driven(String id, String verb) {
        freshen();
        Rollout r = rollouts.get(id);
        if (r == null) {
            throw rollouts.notDriven(id, verb);
        }
        if (!whileDriving(r, clock.instant(), () -> { })) {
            throw new ConflictException("rollout " + id + " is now driven by another orchestrator; try again");
        }
        return r;
    }

    /** Starts driving the unfinished rollouts the cluster gives this orchestrator (alone: all of them, at start). */
    private void takeUp(Instant now) {
        for (ClusterMembership.Taken t : rollouts.takeUp(now)) {
            Rollout r = t.rollout();
            if (t.fromAnother()) {
                takeOver(r, now);
                continue;
            }
            LOG.info("resuming rollout {} ({}:{}) in state {} at wave {}", r.id(), r.app(), r.version(), r.state(),
                    r.currentWave());
            resumeStaging(r);
        }
    }

    /** A rollout taken up from the store whose staging was cut short: it goes on, now or in steps. */
    private void resumeStaging(Rollout r) {
        if (staging.resume(r, activations.paced())) {
            if (activations.paced()) {
                activations.requestStep();
            } else {
                persistAndPublish(r);
            }
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
        for (Device d : devices.listDevices()) {
            if (r.device(d.id()) != null) {
                if (d.online()) {
                    if (reports.markOnline(d.id())) {
                        // its time to report counts again in the other rollouts too: they check their timeouts afresh
                        rollouts.unfinished().forEach(other -> other.earliestWaiting(Instant.MIN));
                    }
                } else {
                    reports.wentOffline(d.id());
                }
            }
        }
        store.inTransaction(() -> {
            for (RolloutDevice d : r.devices()) {
                if (!d.state().isSettled()) {
                    desired.stored(d.deviceId()).ifPresent(outbox::add);
                }
            }
            reconcile(r);
            journal.audit(Journal.ENGINE, "rollout.takeover", r.id(), "driven by " + cluster.instance());
            advance(r, now);
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
            changed |= judge.apply(r, d, a.version(), state, a.sequence(), a.reason(), a.message());
        }
        return changed;
    }

    /** Adds a newly enrolled device to the rollouts this engine drives whose target it matches. */
    private void join(Device device) {
        String deviceId = device.id();
        reports.wentOffline(deviceId);
        Instant now = clock.instant();
        for (Rollout r : rollouts.unfinished()) {
            if (r.strategy().staticTarget() || r.device(deviceId) != null
                    || (r.state() != RolloutState.RUNNING && r.state() != RolloutState.PAUSED)
                    || !Target.parse(r.target()).matches(device) || heldByAnother(r, deviceId)) {
                continue;
            }
            RolloutDevice joined = planner.joining(r, deviceId);
            int last = joined.wave();
            r.add(joined);
            r.touched(now);
            staging.stage(r, joined);
            journal.audit(Journal.ENGINE, "rollout.join", r.id(), deviceId + " joins wave " + last);
            journal.event(r, RolloutEventType.DEVICE_JOINED, last, deviceId, "joined wave " + last);
            LOG.info("rollout {}: device {} enrolled and joins wave {}", r.id(), deviceId, last);
            if (r.state() == RolloutState.RUNNING && r.currentWave() == last && r.currentWaveState() != WaveState.PENDING) {
                activations.activate(r, joined, now);
            }
            persistAndPublish(r);
        }
    }

    /** True when another unfinished rollout of {@code r}'s app (driven here or elsewhere) has the device: one rollout per app and device. */
    private boolean heldByAnother(Rollout r, String deviceId) {
        for (Rollout other : rollouts.unfinished()) {
            if (other != r && other.app().equals(r.app()) && other.device(deviceId) != null) {
                return true;
            }
        }
        for (String id : store.activeRolloutIds()) {
            if (rollouts.get(id) == null) { // driven by another orchestrator: read it (alone, every one is driven here)
                Rollout other = store.findRollout(id).orElse(null);
                if (other != null && other.app().equals(r.app()) && other.device(deviceId) != null) {
                    return true;
                }
            }
        }
        return false;
    }

    /** A device that was away is back: the time it has to report starts again. */
    private void backOnline(String deviceId, Instant now) {
        for (Rollout r : rollouts.unfinished()) {
            RolloutDevice d = r.device(deviceId);
            if (d != null && RolloutFacts.underWay(d)) {
                d.restartWaiting(now);
                r.touched(now);
            }
        }
    }

    /**
     * The signing keys changed ({@code turnout key rotate|activate|retire}): re-signs every device's desired
     * state with the keys now in force and publishes it. Returns how many devices it went to.
     */
    public int resignAll() {
        List<DesiredStates.Decision> decisions = desired.resignAll(devices.listDevices().stream().map(d -> d.id()).toList());
        decisions.forEach(desired::publishInBackground);
        LOG.info("re-signed the desired state of {} device(s) for a change of the signing keys", decisions.size());
        return decisions.size();
    }

    /** The ids of the signing keys each device said in its last presence it trusts (none yet: absent). */
    public Map<String, List<String>> trustedKeyIds() {
        return java.util.Collections.unmodifiableMap(trustedKeyIds);
    }

    /** The fleet's hourly chores: re-signs desired states before they expire, prunes old device rows from the audit trail. */
    private void chores(Instant now) {
        List<DesiredStates.Decision> refreshed = desired.refreshOlderThan(REFRESH_AFTER);
        refreshed.forEach(desired::publishInBackground);
        if (!refreshed.isEmpty()) {
            LOG.info("re-signed the desired state of {} device(s) before it expires", refreshed.size());
        }
        int pruned = store.pruneAudit("device.status", now.minus(DEVICE_STATUS_RETENTION))
                + store.pruneAudit(DeviceReports.LATE_STATUS, now.minus(DEVICE_STATUS_RETENTION));
        if (pruned > 0) {
            LOG.info("pruned {} device status entries older than {} days from the audit trail", pruned,
                    DEVICE_STATUS_RETENTION.toDays());
        }
    }
}
