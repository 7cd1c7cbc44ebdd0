package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.DiskFull;
import dev.turnout.edge.domain.EngineImage;
import dev.turnout.edge.domain.LogEntry;
import dev.turnout.edge.domain.ManagedContainer;
import dev.turnout.edge.domain.ServiceContainer;
import dev.turnout.edge.domain.StackContainers;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.domain.UpdateWindow;
import dev.turnout.edge.port.AgentVersions;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.ContainerRuntime;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.port.HostBoot;
import dev.turnout.edge.port.StateStore;
import dev.turnout.edge.port.StatusReporter;
import dev.turnout.edge.port.UpdateLocks;
import dev.turnout.edge.transfer.DownloadPace;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.DownloadProgress;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.compose.ComposeFile;
import dev.turnout.proto.agent.AgentDistribution;
import dev.turnout.proto.logs.LogTail;
import dev.turnout.proto.rules.SemVer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Clock;
import java.time.LocalTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * Converges each app to its desired release, one step at a time: every state is persisted (and
 * reported) before the side effect it announces. Not thread-safe: the daemon calls it from one worker
 * thread only.
 */
public final class UpdateEngine {

    /** Labels every managed container carries. */
    public static final String LABEL_DEVICE = "dev.turnout.device";
    public static final String LABEL_APP = "dev.turnout.app";
    public static final String LABEL_VERSION = "dev.turnout.version";
    public static final String LABEL_SEQUENCE = "dev.turnout.sequence";

    private static final Logger log = LoggerFactory.getLogger(UpdateEngine.class);
    /** After restarting a stopped app it is not restarted again for this long, doubling while it keeps going down. */
    private static final Duration DRIFT_BACKOFF_FIRST = Duration.ofSeconds(30);
    private static final Duration DRIFT_BACKOFF_MAX = Duration.ofMinutes(30);
    /** States in which a failure counts against the target version: the switch had begun. */
    private static final Set<UpdateState> APPLIED = EnumSet.of(UpdateState.APPLYING, UpdateState.VERIFYING, UpdateState.ROLLING_BACK);
    private static final Duration STOP_GRACE = Duration.ofSeconds(10);
    private static final int TRANSIENT_ATTEMPTS = 3;
    private static final Duration TRANSIENT_BACKOFF = Duration.ofSeconds(1);
    /**
     * How long a retry waits for an engine that does not answer (it restarts: systemd's restart of dockerd, or its
     * start after a power cut, takes seconds on a PC and up to a minute on a small device) before the next attempt.
     */
    private static final Duration ENGINE_BACK_WAIT = Duration.ofMinutes(2);

    private final String deviceId;
    private final String platform;
    private final DesiredStateVerifier verifier;
    private final StateStore store;
    private final ArtifactSource artifacts;
    private DownloadPace pace = new DownloadPace(0);
    private final ContainerRuntime runtime;
    private final HealthVerifier health;
    private final StatusReporter reporter;
    private final LongSupplier wallClockMs;
    private final Policy policy;
    private final HostBoot boot;
    private final UpdateLocks locks;
    /** Read once: one process lives on one boot. */
    private final String bootId;
    /** Brings Compose apps' services up and down. */
    private final StackSwitch stacks;
    /** This device's values for Compose releases' variables (its config's {@code variables}); they win over the release's. */
    private volatile Map<String, String> composeVariables = Map.of();
    /** In memory only: a restart of the daemon may repair once more at once. */
    private final Map<String, DriftBackOff> driftRepairs = new HashMap<>();
    /** Updates of the daemon itself (the reserved app {@value AgentDistribution#APP}). */
    private AgentUpdates agentUpdates;
    /** Containers whose removal failed, tried again by {@link #tick()}; in memory (a restart removes orphans anyway). */
    private final Set<String> leftovers = new LinkedHashSet<>();
    /** What a full disk stopped: tried again by {@link #tick()} once space returns. */
    private final DiskFullRetries diskFull;
    /** The newest desired state refused for the clock: judged again by {@link #tick()} once the clock is set. */
    private final ClockRefusals clockRefusals;

    private record DriftBackOff(int repairs, long notBeforeMs) {
    }

    /**
     * How the engine paces updates.
     *
     * @param maxRollbackAttempts failed attempts at one version (after APPLYING began) before the device gives up on it
     * @param updateWindow when ACTIVATE may switch, device local time (null: any time)
     * @param localClock the device's local time for the window
     * @param engineRetryBackoff first pause before retrying an engine call that failed for a passing reason (grows linearly)
     * @param lockTimeout how long an ACTIVATE waits for the running app's update lock when the desired state names no
     *                    timeout of its own
     */
    public record Policy(int maxRollbackAttempts, UpdateWindow updateWindow, Clock localClock, Duration engineRetryBackoff,
                         Duration lockTimeout) {

        /** Default lock timeout: as the device config's (declared first: DEFAULT uses it). */
        public static final Duration DEFAULT_LOCK_TIMEOUT = Duration.ofMinutes(10);

        /** Three attempts, any time (no window: the clock's zone does not matter). */
        public static final Policy DEFAULT = new Policy(3, null, Clock.systemUTC());

        public Policy {
            if (maxRollbackAttempts < 1) {
                throw new IllegalArgumentException("maxRollbackAttempts must be at least 1");
            }
            if (lockTimeout == null || lockTimeout.isNegative() || lockTimeout.isZero()) {
                throw new IllegalArgumentException("lockTimeout must be positive");
            }
        }

        public Policy(int maxRollbackAttempts, UpdateWindow updateWindow, Clock localClock, Duration engineRetryBackoff) {
            this(maxRollbackAttempts, updateWindow, localClock, engineRetryBackoff, DEFAULT_LOCK_TIMEOUT);
        }

        public Policy(int maxRollbackAttempts, UpdateWindow updateWindow, Clock localClock) {
            this(maxRollbackAttempts, updateWindow, localClock, TRANSIENT_BACKOFF);
        }

        /** This policy with another default lock timeout. */
        public Policy withLockTimeout(Duration timeout) {
            return new Policy(maxRollbackAttempts, updateWindow, localClock, engineRetryBackoff, timeout);
        }

        boolean insideWindow() {
            return updateWindow == null || updateWindow.contains(LocalTime.now(localClock));
        }
    }

    public UpdateEngine(String deviceId, String platform, DesiredStateVerifier verifier, StateStore store, ArtifactSource artifacts,
                        ContainerRuntime runtime, HealthVerifier health, StatusReporter reporter, LongSupplier wallClockMs) {
        this(deviceId, platform, verifier, store, artifacts, runtime, health, reporter, wallClockMs, Policy.DEFAULT);
    }

    /** A host whose boot is not known: every start recovers as after a reboot. */
    public UpdateEngine(String deviceId, String platform, DesiredStateVerifier verifier, StateStore store, ArtifactSource artifacts,
                        ContainerRuntime runtime, HealthVerifier health, StatusReporter reporter, LongSupplier wallClockMs,
                        Policy policy) {
        this(deviceId, platform, verifier, store, artifacts, runtime, health, reporter, wallClockMs, policy, HostBoot.UNKNOWN);
    }

    /** @param boot the host's boot: tells a restart of the daemon alone (resume a switch) from a reboot (judge it afresh) */
    public UpdateEngine(String deviceId, String platform, DesiredStateVerifier verifier, StateStore store, ArtifactSource artifacts,
                        ContainerRuntime runtime, HealthVerifier health, StatusReporter reporter, LongSupplier wallClockMs,
                        Policy policy, HostBoot boot) {
        this(deviceId, platform, verifier, store, artifacts, runtime, health, reporter, wallClockMs, policy, boot, UpdateLocks.NONE);
    }

    /** @param locks the apps' update locks: mounted into their containers, and an ACTIVATE waits while one is held */
    public UpdateEngine(String deviceId, String platform, DesiredStateVerifier verifier, StateStore store, ArtifactSource artifacts,
                        ContainerRuntime runtime, HealthVerifier health, StatusReporter reporter, LongSupplier wallClockMs,
                        Policy policy, HostBoot boot, UpdateLocks locks) {
        this.locks = locks;
        this.policy = policy;
        this.boot = boot;
        this.bootId = boot.bootId();
        this.deviceId = deviceId;
        this.platform = platform;
        this.verifier = verifier;
        this.store = store;
        this.artifacts = artifacts;
        this.runtime = runtime;
        this.health = health;
        this.reporter = reporter;
        this.wallClockMs = wallClockMs;
        this.stacks = new StackSwitch(deviceId, runtime, health, locks, System::nanoTime, d -> Thread.sleep(d.toMillis()));
        this.diskFull = new DiskFullRetries(boot::nanoTime);
        this.clockRefusals = new ClockRefusals(wallClockMs, boot::nanoTime);
        this.agentUpdates = new AgentUpdates(AgentVersions.builtInOnly("built-in"), store, artifacts, this::move,
                policy.maxRollbackAttempts(), () -> true);
    }

    /**
     * The daemon's own versions: with them, an entry of the reserved app {@value AgentDistribution#APP} switches this
     * daemon to an agent release (without, such an entry fails: this daemon cannot switch).
     *
     * @param delivered true once what the daemon reported so far reached the broker: a version on trial confirms then
     */
    /** This device's own values for the {@code ${VAR}}s of Compose releases (docs/compose.md); they win over the release's. */
    public UpdateEngine useComposeVariables(Map<String, String> variables) {
        this.composeVariables = Map.copyOf(variables);
        return this;
    }

    /** Stages releases at {@code pace} (the rate limit and the progress reports; the artifact source must use the same). */
    public UpdateEngine useDownloadPace(DownloadPace pace) {
        this.pace = pace;
        return this;
    }

    public UpdateEngine useAgentVersions(AgentVersions versions, java.util.function.BooleanSupplier delivered) {
        this.agentUpdates = new AgentUpdates(versions, store, artifacts, this::move, policy.maxRollbackAttempts(), delivered);
        return this;
    }

    /**
     * The daemon connected to the broker and reported: a version of it on trial is ACTIVE and confirms its trial to its
     * launcher (docs/edge-daemon.md, "Agent releases").
     */
    public void agentConnected() {
        if (!agentUpdates.exiting()) {
            agentUpdates.connected();
        }
    }

    /** Runs when a desired state the device has applied arrives again (the daemon publishes its presence again). */
    private volatile Runnable onRepeatedWhileSettled = () -> { };

    /** What to do when a desired state the device has applied (an app ACTIVE on it) arrives again. */
    public UpdateEngine onRepeatedWhileSettled(Runnable action) {
        this.onRepeatedWhileSettled = action;
        return this;
    }

    /** Handles one message from the desired-state topic. */
    public void onDesiredState(byte[] wire) {
        if (agentUpdates.exiting()) {
            return; // switched to another version of the daemon, which takes the desired state from the broker
        }
        DesiredStateVerifier.Verdict verdict = verifier.verify(wire);
        if (verdict instanceof DesiredStateVerifier.Unsaved unsaved) {
            if (!diskFull.arrivalWaiting(wire)) {
                reportUnsaved(unsaved); // once: a look that finds the disk still full has nothing new to say
            }
            diskFull.arrivedOnFullDisk(wire);
            clockRefusals.forget();
            return;
        }
        diskFull.arrivalTaken(); // this one, or a newer one than the state a full disk kept out
        if (verdict instanceof DesiredStateVerifier.Refused refused) {
            reportRefusal(refused);
            if (ClockRefusals.isClocks(refused.reason())) {
                clockRefusals.refused(wire);
            }
            return;
        }
        clockRefusals.forget();
        DesiredState state = verdict instanceof DesiredStateVerifier.Accepted a ? a.state() : ((DesiredStateVerifier.Repeated) verdict).state();
        if (verdict instanceof DesiredStateVerifier.Accepted) {
            log.info("accepted desired state sequence={} apps={}", state.getSequence(), state.getAppsCount());
        }
        boolean settledAgain = false;
        for (AppDesired want : state.getAppsList()) {
            AppRecord record = store.loadApp(want.getApp()).orElse(AppRecord.idle(want.getApp()));
            if (record.sequence() >= state.getSequence()) {
                if (verdict instanceof DesiredStateVerifier.Repeated && !settledAgain && record.sequence() == state.getSequence()
                        && record.state() == UpdateState.ACTIVE) {
                    settledAgain = true;
                    // the same state again (published again after an orchestrator restart or a silence, or the retained copy
                    // on a reconnect): the retained presence says where the device stands, in case the ACTIVE report was
                    // lost with a broker that forgot the orchestrator's session (both killed at once: reliability.md, row 4)
                    log.info("desired state sequence {} again: presence published again", state.getSequence());
                    onRepeatedWhileSettled.run();
                }
                continue; // already acted on this sequence (even if it rolled back): never retry it
            }
            if (resignedUnchanged(record, want)) {
                // the orchestrator re-signs desired states before they expire: same decision, new sequence.
                // A release this device rolled back must not be tried again every time that happens.
                store.saveApp(record.withTarget(want, state.getSequence()).withReason(record.reason(), record.message())
                        .withLogTail(record.logTail()));
                log.info("{}: desired state re-signed (sequence {}), nothing changed; stays {}", want.getApp(),
                        state.getSequence(), record.state());
                continue;
            }
            if (AgentDistribution.isAgent(want.getApp())) {
                agentUpdates.converge(record, want, state.getSequence());
                if (agentUpdates.exiting()) {
                    return; // the rest waits for the next version, which gets this desired state again
                }
                continue;
            }
            converge(record, want, state.getSequence());
        }
    }

    /**
     * A desired state that arrived on a full disk: each of its apps this device would act on is reported FAILED
     * DISK_FULL, its running version unchanged. Nothing is saved (nothing can be): the report needs no disk.
     */
    private void reportUnsaved(DesiredStateVerifier.Unsaved unsaved) {
        DesiredState state = unsaved.state();
        for (AppDesired want : state.getAppsList()) {
            AppRecord record = store.loadApp(want.getApp()).orElse(AppRecord.idle(want.getApp()));
            if (record.sequence() >= state.getSequence() || resignedUnchanged(record, want)) {
                continue; // nothing this device would do: nothing to say
            }
            AppRecord failed = record.withTarget(want, state.getSequence()).withState(UpdateState.FAILED)
                    .withReason(Reason.DISK_FULL, unsaved.message());
            log.info("{} {} -> FAILED (DISK_FULL: {}), not saved", want.getApp(), want.getRelease().getVersion(), unsaved.message());
            reporter.report(event(failed));
        }
    }

    /** Finishes or undoes whatever a crash interrupted; called once before any desired state. */
    public void recover() {
        removeOrphans();
        for (AppRecord record : store.loadApps()) {
            if (AgentDistribution.isAgent(record.app())) {
                agentUpdates.recover(record);
                continue;
            }
            try {
                switch (record.state()) {
                    case DOWNLOADING -> {
                        restartIfStopped(record); // after a reboot: what ran runs while the download goes on (and if it fails)
                        log.info("resuming download of {} {}", record.app(), record.targetVersion());
                        converge(record, record.target(), record.sequence());
                    }
                    // an ACTIVATE the daemon's end caught between STAGED and the switch: its sequence is spent, so go on here
                    case STAGED -> {
                        restartIfStopped(record);
                        if (record.target() != null && record.target().getPhase() == Phase.ACTIVATE) {
                            log.info("switching to the staged {} {}", record.app(), record.targetVersion());
                            converge(record, record.target(), record.sequence());
                        }
                    }
                    case APPLYING, VERIFYING -> {
                        if (isStack(record)) {
                            // never half of each: the whole app goes back to the release it ran before the switch
                            rollBackStack(record, Reason.INTERRUPTED, "the daemon restarted during " + record.state() + " of "
                                    + record.targetVersion() + "; putting the whole of " + (record.running() == null ? "nothing"
                                    : record.runningVersion()) + " back");
                        } else {
                            resumeSwitch(record);
                        }
                    }
                    case ROLLING_BACK -> restorePrevious(record);
                    case REMOVING -> {
                        log.info("finishing the removal of {}", record.app());
                        finishRemoval(record);
                    }
                    case FAILED -> {
                        restartIfStopped(record);
                        waitForSpaceIfDiskFull(record, record.state()); // a full disk before the switch: tried again later
                    }
                    default -> restartIfStopped(record);
                }
            } catch (RuntimeException e) {
                log.error("recovery of {} failed: {}", record.app(), e.toString());
            }
        }
    }

    /** One status event per app describing where it stands now (after a reconnect). */
    public List<StatusEvent> currentStatus() {
        List<StatusEvent> events = new ArrayList<>();
        for (AppRecord record : store.loadApps()) {
            events.add(event(record));
        }
        return events;
    }

    /**
     * True when {@code want} is the decision this app already settled (same release, phase, rollback
     * flag and rollout), only signed again with a later sequence.
     */
    private static boolean resignedUnchanged(AppRecord record, AppDesired want) {
        AppDesired had = record.target();
        if (had == null || !had.getRelease().equals(want.getRelease()) || had.getPhase() != want.getPhase()
                || had.getRollback() != want.getRollback() || !had.getRolloutId().equals(want.getRolloutId())
                || had.getForce() != want.getForce() || had.getLockTimeoutMs() != want.getLockTimeoutMs()) {
            return false;
        }
        return switch (record.state()) {
            case ACTIVE -> true;
            // judged unhealthy: settled; cut short by a restart (power loss): worth another attempt, within the loop guard
            case ROLLED_BACK -> record.reason() != Reason.INTERRUPTED;
            case STAGED -> want.getPhase() == Phase.STAGE;
            case REMOVED -> true; // removed, and told so again
            default -> false; // a transient failure, a wait or an unfinished update: carry on as usual
        };
    }

    private void converge(AppRecord current, AppDesired want, long sequence) {
        diskFull.forget(current.app()); // this update goes on now: a full disk that stops it again makes it wait again
        // the same update signed again while it waits for the lock: the wait goes on, its timeout does not start afresh
        long waitingSince = current.state() == UpdateState.WAITING_FOR_LOCK && current.target() != null
                && current.target().getRelease().equals(want.getRelease()) ? current.lockWaitSinceMs() : 0;
        AppRecord record = current.withTarget(want, sequence);
        if (want.getPhase() == Phase.REMOVE) {
            if (lockHeld(record)) {
                // a train is running: the app is removed once it releases its lock, as an update would wait
                waitForLock(record, waitingSince == 0 ? wallClockMs.getAsLong() : waitingSince);
                return;
            }
            finishRemoval(move(record, UpdateState.REMOVING, Reason.REASON_UNSPECIFIED, ""));
            return;
        }
        Release target = want.getRelease();
        if (target.getVersion().equals(record.runningVersion()) && isRunning(record.containerId())) {
            // already running: acknowledges a STAGE/ACTIVATE of this version and a fleet rollback to it
            move(record, UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED, "already running");
            return;
        }
        if (record.failedAttempts() >= policy.maxRollbackAttempts()) {
            move(record, UpdateState.FAILED, Reason.TOO_MANY_ATTEMPTS, target.getVersion() + " failed " + record.failedAttempts()
                    + " times; not trying it again" + (record.running() == null ? "" : ", " + record.runningVersion() + " keeps running"));
            return;
        }
        List<ImageArtifact> forPlatform = platformArtifacts(target);
        if (forPlatform.isEmpty()) { // the verifier refuses these; never let a gap there throw out of the handler
            move(record, UpdateState.FAILED, Reason.NO_IMAGE_FOR_PLATFORM, "release has no image for " + platform);
            return;
        }
        if (record.running() != null && record.running().hasCompose() != target.hasCompose()) {
            move(record, UpdateState.FAILED, Reason.MALFORMED, record.app() + " " + record.runningVersion() + " is "
                    + (target.hasCompose() ? "a single container" : "a Compose app") + " and " + target.getVersion() + " is "
                    + (target.hasCompose() ? "a Compose app" : "a single container") + ": remove the app first (turnout app remove), then deploy");
            return;
        }
        ImageArtifact artifact = forPlatform.get(0);
        try {
            record = move(record, UpdateState.DOWNLOADING, Reason.REASON_UNSPECIFIED, "");
        } catch (java.io.UncheckedIOException e) {
            if (!DiskFull.is(e)) {
                throw e;
            }
            // nothing began: the full disk refused the DOWNLOADING record itself. Said, not saved, and tried again later
            move(record, UpdateState.FAILED, Reason.DISK_FULL, "the device's disk is full: it could not save the update of "
                    + target.getVersion() + " (" + e.getMessage() + "); " + (record.running() == null ? "nothing runs"
                    : record.runningVersion() + " keeps running") + ", the update is tried again once space returns");
            return;
        }
        Path archive = null;
        String image = null;
        AppRecord downloading = record;
        DownloadProgress downloaded;
        long total = forPlatform.stream().mapToLong(ImageArtifact::getSize).sum();
        // the STAGED report carries the totals only when something had to be fetched: not for an activation of a staged release
        boolean fetching = forPlatform.stream().anyMatch(each -> !artifacts.isCached(each));
        // progress while bytes flow (at most one report per DownloadPace.REPORT_EVERY), the totals on STAGED
        artifacts.takeFetchNote(); // another app's, or an earlier attempt's: not this download's
        List<String> lost = new ArrayList<>();
        try (DownloadPace.Transfer transfer = pace.begin(want.getDownloadRateLimitBps(), total,
                progress -> reporter.report(event(downloading).toBuilder().setDownload(progress).build()))) {
            // every image of the release (one per service of a Compose app), fetched, checked and loaded in turn
            for (ImageArtifact each : forPlatform) {
                transfer.nextArchive(each.getSize());
                Path fetched = artifacts.fetch(each);
                if (ranBefore(downloading, target) && findImage(each).isEmpty()) {
                    lost.add("the engine had lost image " + each.getImageRef() + " of " + target.getVersion() + ": loaded it again");
                }
                String loaded = loadIntoEngine(each, fetched); // staged = in the engine too: ACTIVATE only swaps containers
                if (archive == null) {
                    archive = fetched;
                    image = loaded;
                }
            }
            downloaded = fetching ? transfer.summary() : null;
        } catch (UpdateFailure e) {
            if (stoppedByClose(e) || supersededQuietly(record, e)) {
                return;
            }
            move(record, UpdateState.FAILED, e.reason(), e.getMessage(), null, fetchNote(lost));
            return;
        }
        record = move(record, UpdateState.STAGED, Reason.REASON_UNSPECIFIED, "", downloaded, fetchNote(lost));
        if (want.getPhase() != Phase.ACTIVATE) {
            return;
        }
        if (!policy.insideWindow()) {
            move(record, UpdateState.WAITING_FOR_WINDOW, Reason.REASON_UNSPECIFIED, "switches inside the update window "
                    + policy.updateWindow());
            return;
        }
        if (lockHeld(record)) {
            waitForLock(record, waitingSince == 0 ? wallClockMs.getAsLong() : waitingSince);
            return;
        }
        if (target.hasCompose()) {
            activateStack(record);
            return;
        }
        activate(record, artifact, archive, image);
    }

    /** Whether the engine had {@code target}'s images before: it is the release that runs or the one kept for rollback. */
    private static boolean ranBefore(AppRecord record, Release target) {
        return record.running() != null && record.running().getVersion().equals(target.getVersion())
                || record.previous() != null && record.previous().getVersion().equals(target.getVersion());
    }

    /** What the artifact source says about the download, then the images the engine had lost (StatusEvent.fetch_note). */
    private String fetchNote(List<String> lost) {
        List<String> notes = new ArrayList<>();
        String fetched = artifacts.takeFetchNote();
        if (!fetched.isEmpty()) {
            notes.add(fetched);
        }
        notes.addAll(lost);
        String note = String.join("; ", notes);
        return note.length() <= 1024 ? note : note.substring(0, 1023) + "…";
    }

    /** The running app holds its update lock and this update does not force its way: the switch must wait. */
    private boolean lockHeld(AppRecord record) {
        return !record.target().getForce() && !record.containerId().isEmpty() && isRunning(record.containerId())
                && locks.held(record.app());
    }

    private Duration lockTimeout(AppDesired target) {
        return target.getLockTimeoutMs() > 0 ? Duration.ofMillis(target.getLockTimeoutMs()) : policy.lockTimeout();
    }

    private void waitForLock(AppRecord staged, long sinceMs) {
        move(staged.withLockWait(sinceMs), UpdateState.WAITING_FOR_LOCK, Reason.REASON_UNSPECIFIED, staged.app() + " " + staged.runningVersion()
                + " holds its update lock (" + UpdateLocks.CONTAINER_DIR + "/" + UpdateLocks.LOCK_FILE + "); "
                + (removing(staged) ? "removing it" : "switching to " + staged.targetVersion())
                + " once it is released, waiting at most " + human(lockTimeout(staged.target())));
    }

    private static boolean removing(AppRecord record) {
        return record.target() != null && record.target().getPhase() == Phase.REMOVE;
    }

    /**
     * An update waiting for the app's update lock: switches once the lock is released (inside the update window), fails
     * with LOCK_TIMEOUT, changing nothing, once it waited the lock timeout.
     */
    private void goOnWaitingForLock(AppRecord record) {
        if (lockHeld(record)) {
            Duration timeout = lockTimeout(record.target());
            long waited = wallClockMs.getAsLong() - record.lockWaitSinceMs();
            if (waited >= timeout.toMillis()) {
                move(record, UpdateState.FAILED, Reason.LOCK_TIMEOUT, record.app() + " held its update lock for longer than "
                        + human(timeout) + "; " + (removing(record) ? "it was not removed" : record.targetVersion() + " was not applied")
                        + ", " + record.runningVersion() + " keeps running");
            }
            return;
        }
        if (removing(record)) {
            log.info("{} released its update lock: removing it", record.app());
            finishRemoval(move(record, UpdateState.REMOVING, Reason.REASON_UNSPECIFIED, ""));
            return;
        }
        if (!policy.insideWindow()) {
            return; // released, but the window closed meanwhile: it waits for the window, still in this state
        }
        if (record.target().getRelease().hasCompose()) {
            log.info("{} released its update lock: activating {}", record.app(), record.targetVersion());
            activateStack(record);
            return;
        }
        Optional<ImageArtifact> artifact = artifactIfAny(record.target().getRelease());
        if (artifact.isEmpty()) {
            return;
        }
        Path archive;
        try {
            archive = artifacts.fetch(artifact.get());
        } catch (UpdateFailure e) {
            if (!stoppedByClose(e) && !supersededQuietly(record, e)) {
                move(record, UpdateState.FAILED, e.reason(), e.getMessage());
            }
            return;
        }
        log.info("{} released its update lock: activating {}", record.app(), record.targetVersion());
        activate(record, artifact.get(), archive, null);
    }

    private static String human(Duration d) {
        return d.toMillis() % 60_000 == 0 ? d.toMinutes() + " min" : String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
    }

    /** The container spec with the app's update lock directory mounted at {@link UpdateLocks#CONTAINER_DIR}. */
    private ContainerSpec withLockDir(String app, ContainerSpec spec) throws UpdateFailure {
        String dir = locks.hostDir(app);
        return dir == null ? spec : spec.toBuilder().addVolumes(dir + ":" + UpdateLocks.CONTAINER_DIR).build();
    }

    /**
     * Moves on time alone: puts back app containers stopped or removed by hand (DRIFT), switches an ACTIVATE
     * waiting for the update window once the window is open, and one waiting for the app's update lock once the lock is
     * released (or fails it with LOCK_TIMEOUT). The daemon calls it periodically on the worker
     * thread; tests call it with a controlled clock.
     */
    public void tick() {
        if (agentUpdates.exiting()) {
            return;
        }
        for (AppRecord record : store.loadApps()) {
            repairDrift(record);
        }
        removeLeftovers();
        retryAfterDiskFull();
        byte[] refusedForTheClock = clockRefusals.dueAfterClockSet();
        if (refusedForTheClock != null) {
            log.info("the wall clock was set: judging again the desired state refused for it");
            onDesiredState(refusedForTheClock);
        }
        for (AppRecord record : store.loadApps()) {
            if (record.state() == UpdateState.WAITING_FOR_LOCK && record.target() != null) {
                goOnWaitingForLock(record);
            }
        }
        if (!policy.insideWindow()) {
            return;
        }
        for (AppRecord record : store.loadApps()) {
            if (record.state() != UpdateState.WAITING_FOR_WINDOW || record.target() == null) {
                continue;
            }
            if (record.target().getRelease().hasCompose()) {
                if (lockHeld(record)) {
                    waitForLock(record, wallClockMs.getAsLong());
                } else {
                    log.info("update window {} open: activating {} {}", policy.updateWindow(), record.app(), record.targetVersion());
                    activateStack(record);
                }
                continue;
            }
            Optional<ImageArtifact> artifact = artifactIfAny(record.target().getRelease());
            if (artifact.isEmpty()) {
                continue;
            }
            Path archive;
            try {
                archive = artifacts.fetch(artifact.get()); // cached and verified when it was staged; re-checked here
            } catch (UpdateFailure e) {
                if (!stoppedByClose(e) && !supersededQuietly(record, e)) {
                    move(record, UpdateState.FAILED, e.reason(), e.getMessage());
                }
                continue;
            }
            if (lockHeld(record)) {
                waitForLock(record, wallClockMs.getAsLong());
                continue;
            }
            log.info("update window {} open: activating {} {}", policy.updateWindow(), record.app(), record.targetVersion());
            activate(record, artifact.get(), archive, null);
        }
    }

    /**
     * @param loadedImage the engine's id of the image, loaded (or found) a moment ago on the way to this call; null when
     *                    it was staged earlier
     */
    private void activate(AppRecord staged, ImageArtifact artifact, Path archive, String loadedImage) {
        AppRecord record = move(staged, UpdateState.APPLYING, Reason.REASON_UNSPECIFIED, "");
        Release target = record.target().getRelease();
        String image;
        try {
            // loaded when staged; loaded again if someone pruned the engine since
            image = loadedImage != null ? loadedImage : loadIntoEngine(artifact, archive);
        } catch (UpdateFailure e) {
            if (stoppedByClose(e)) {
                return;
            }
            move(record, UpdateState.FAILED, e.reason(), e.getMessage());
            return;
        }
        // The old container stops while the new one is created: the swap takes the longer of the two, not their sum,
        // and the app is down no longer than before (from the stop to the new start). Both begin after APPLYING is
        // saved, so a crash from here on is rolled back by recover() whichever of the two got done.
        String old = record.containerId();
        Stopping stopping = old.isEmpty() ? Stopping.NOTHING : Stopping.begin(() -> retryingTransient(() -> {
            runtime.stop(old, STOP_GRACE); // as the start below: an engine going down or coming back is waited for
            return null;
        }));
        String newContainer;
        try {
            String app = record.app();
            long sequence = record.sequence();
            ContainerSpec spec = withLockDir(app, target.getContainer());
            newContainer = retryingTransient(() -> runtime.create(containerName(app, target.getVersion(), sequence), image,
                    spec, labels(app, target.getVersion(), sequence)));
        } catch (UpdateFailure e) {
            stopping.awaitIgnoringFailure();
            if (stoppedByClose(e)) {
                // the daemon is going down (it may stay down): the old version runs meanwhile; APPLYING is saved, so
                // the next start rolls back properly (and checks it)
                startQuietly(old);
                return;
            }
            if (old.isEmpty()) {
                move(record, UpdateState.FAILED, e.reason(), e.getMessage());
            } else {
                rollBack(record, e.reason(), e.getMessage()); // it was stopped alongside: start it again and check it
            }
            return;
        } catch (RuntimeException | Error e) {
            stopping.finish(e); // nothing left running behind a failure this method does not handle
            throw e;
        }
        record = record.withNewContainer(newContainer);
        store.saveApp(record);
        try {
            stopping.await();
            // a start refused by an engine that is going down or coming back up is tried again once it answers
            retryingTransient(() -> {
                runtime.start(newContainer);
                return null;
            });
        } catch (UpdateFailure e) {
            rollBack(record, Reason.CONTAINER_START_FAILED, e.getMessage());
            return;
        }
        checkThenPromote(verifying(record, boot.nanoTime(), ""), null);
    }

    /** VERIFYING, saved with the boot and the point on its monotonic clock where the soak began. */
    private AppRecord verifying(AppRecord record, long soakStartNanos, String message) {
        return move(record.onBoot(bootId, soakStartNanos), UpdateState.VERIFYING, Reason.REASON_UNSPECIFIED, message);
    }

    /**
     * Health-checks the new container, then makes it the running release (ACTIVE) or rolls back.
     *
     * @param soaked how much of the soak a previous daemon process on this boot saw; null: the full soak
     */
    private void checkThenPromote(AppRecord record, Duration soaked) {
        String newContainer = record.newContainerId();
        Release target = record.target().getRelease();
        try {
            // the release's resource limits are watched through its check; a rollback's check below is the health alone
            if (soaked == null) {
                health.verify(newContainer, target);
            } else {
                health.resume(newContainer, target, soaked);
            }
        } catch (UpdateFailure e) {
            if (stoppedByClose(e)) {
                return;
            }
            rollBack(record, e.reason(), e.getMessage());
            return;
        }
        String oldContainer = record.containerId();
        Release olderPrevious = record.previous();
        record = record.withContainers(target, newContainer, record.running(), "", "");
        record = move(record, UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED, "");
        removeQuietly(oldContainer);
        collectGarbage(record, olderPrevious);
    }

    /**
     * A switch (APPLYING or VERIFYING) cut short by the daemon's end. On the boot that began it only the daemon
     * restarted (a crash, {@code kill -9}, {@code systemctl restart}) and the containers kept running: a new container
     * that still runs goes on with its check, VERIFYING with only the rest of the soak; one that is gone or stopped
     * is rolled back. After a reboot (or when the boot cannot be told) the new release is judged afresh: Docker
     * started the containers that have a restart policy (the old one too: it is stopped again), the new one is started
     * if it did not come back by itself, and it is checked through the full soak. A switch that had not yet created
     * its new container is rolled back either way.
     */
    private void resumeSwitch(AppRecord record) {
        boolean sameBoot = !bootId.isEmpty() && bootId.equals(record.bootId());
        String restarted = (sameBoot ? "the daemon" : bootId.isEmpty() || record.bootId().isEmpty() ? "the daemon or the host" : "the host")
                + " restarted during " + record.state();
        String fresh = record.newContainerId();
        ContainerStatus status;
        try {
            status = fresh.isEmpty() ? ContainerStatus.MISSING : runtime.status(fresh);
        } catch (UpdateFailure e) {
            rollBack(record, Reason.INTERRUPTED, restarted + "; cannot read the new container: " + e.getMessage());
            return;
        }
        if (status.equals(ContainerStatus.MISSING)) {
            rollBack(record, Reason.INTERRUPTED, restarted + (fresh.isEmpty() ? "" : "; the new container is gone"));
            return;
        }
        boolean up = status.running() || status.restarting();
        if (sameBoot && !up) { // it stopped by itself while no daemon watched (VERIFYING), or was never started (APPLYING)
            rollBack(record, record.state() == UpdateState.VERIFYING ? Reason.HEALTH_CHECK_FAILED : Reason.INTERRUPTED,
                    restarted + "; the new container is " + status.state() + ", not running");
            return;
        }
        log.info("{}: {}; going on with {} {}", record.app(), restarted, record.targetVersion(), fresh);
        try {
            if (!record.containerId().isEmpty()) {
                runtime.stop(record.containerId(), STOP_GRACE); // stopped before the switch; a restart policy may have started it
            }
            if (!up) {
                runtime.start(fresh);
            }
        } catch (UpdateFailure e) {
            rollBack(record, Reason.CONTAINER_START_FAILED, restarted + "; " + e.getMessage());
            return;
        }
        if (sameBoot && record.state() == UpdateState.VERIFYING) {
            Duration soaked = Duration.ofNanos(Math.max(0, boot.nanoTime() - record.soakStartNanos()));
            long soakMs = Math.max(0, record.target().getRelease().getHealth().getSoakMs());
            String resuming = String.format(Locale.ROOT, "%s; the new container is %s: resuming its check, %.1f s of its %.1f s soak left",
                    restarted, status.state(), Math.max(0, soakMs - soaked.toMillis()) / 1000.0, soakMs / 1000.0);
            checkThenPromote(verifying(record, record.soakStartNanos(), resuming), soaked);
        } else {
            checkThenPromote(verifying(record, boot.nanoTime(), restarted + "; checking " + record.targetVersion()
                    + " afresh through the full soak"), null);
        }
    }

    /** The old container's stop, run on its own short-lived thread next to the new container's create. */
    private static final class Stopping {

        /** An engine call that returns nothing. */
        @FunctionalInterface
        interface Call {
            void run() throws UpdateFailure;
        }

        /** No old container to stop. */
        static final Stopping NOTHING = new Stopping(null);

        /**
         * The longest wait for a stop: longer than the engine client's response timeout (5 min) and the stop's grace,
         * which end a stop first; only a stop stuck elsewhere reaches it.
         */
        static final Duration WAIT = Duration.ofMinutes(6);

        private final FutureTask<Void> task;

        private Stopping(FutureTask<Void> task) {
            this.task = task;
        }

        static Stopping begin(Call stop) {
            FutureTask<Void> task = new FutureTask<>(() -> {
                stop.run();
                return null;
            });
            Thread thread = new Thread(null, task, "edge-stop-old", 256 * 1024);
            thread.setDaemon(true);
            thread.start();
            return new Stopping(task);
        }

        /**
         * Waits for the stop and throws its failure as this thread's own; an Error (the process going down) too. The
         * stop is bounded by its grace and the engine client's timeout, as a stop on this thread was; this wait is
         * bounded besides by {@link #WAIT}, after which it gives up on the stop with an {@link Reason#ENGINE_ERROR}.
         */
        void await() throws UpdateFailure {
            if (task == null) {
                return;
            }
            boolean interrupted = false;
            long deadline = System.nanoTime() + WAIT.toNanos();
            try {
                while (true) {
                    try {
                        task.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                        return;
                    } catch (InterruptedException e) {
                        interrupted = true; // the engine is stopping it already: see that through, pass the interrupt on
                    }
                }
            } catch (TimeoutException e) {
                task.cancel(true);
                log.error("the old container's stop did not end within {} s; going on without it", WAIT.toSeconds());
                throw new UpdateFailure(Reason.ENGINE_ERROR, "the old container's stop did not end within " + WAIT.toSeconds() + " s",
                        true, e);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof UpdateFailure failure) {
                    throw failure;
                }
                if (cause instanceof Error error) {
                    throw error;
                }
                if (cause instanceof RuntimeException runtimeException) {
                    throw runtimeException;
                }
                throw new IllegalStateException(cause);
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        /** Waits for the stop whatever it does; anything it throws is added to {@code failure}. */
        void finish(Throwable failure) {
            try {
                await();
            } catch (UpdateFailure | RuntimeException | Error e) {
                failure.addSuppressed(e);
            }
        }

        /** As {@link #await()} for a caller that restarts the old container whatever the stop did. */
        void awaitIgnoringFailure() {
            try {
                await();
            } catch (UpdateFailure ignored) {
                // the rollback that follows starts the old container and checks it
            }
        }
    }

    /** One engine call that may fail for a passing reason (engine restarting, busy). */
    @FunctionalInterface
    private interface EngineCall<T> {
        T run() throws UpdateFailure;
    }

    /**
     * Makes sure the engine holds the signed image and returns the id the engine knows it by: nothing to load when the
     * engine has it already; else the archive must hold exactly that image, is loaded, and the engine must then have it.
     */
    private String loadIntoEngine(ImageArtifact artifact, Path archive) throws UpdateFailure {
        Optional<String> present = findImage(artifact);
        return present.isPresent() ? present.get() : load(artifact, archive);
    }

    /** Checks the archive against the release, loads it, and returns the id the engine gave the signed image. */
    private String load(ImageArtifact artifact, Path archive) throws UpdateFailure {
        runtime.checkArchive(archive, artifact);
        retryingTransient(() -> {
            runtime.loadImage(archive);
            return null;
        });
        return findImage(artifact).orElseThrow(() -> new UpdateFailure(Reason.IMAGE_ID_MISMATCH, "after docker load the engine has no image "
                + artifact.getImageId() + (artifact.getManifestDigest().isEmpty() ? "" : " (classic store) or " + artifact.getManifestDigest()
                + " (containerd store)")));
    }

    /**
     * The engine's id of the signed image, if the engine has it. Both ids are content digests: the classic image store
     * knows an image by its config digest, the containerd store by its manifest digest; the release signs both, and the
     * layers the engine reports (the same on both stores) must be the signed ones.
     */
    private Optional<String> findImage(ImageArtifact artifact) throws UpdateFailure {
        for (String id : new String[] {artifact.getImageId(), artifact.getManifestDigest()}) {
            if (id.isEmpty()) {
                continue;
            }
            Optional<EngineImage> image = runtime.inspectImage(id);
            if (image.isEmpty()) {
                continue;
            }
            if (artifact.getDiffIdsCount() > 0 && !image.get().layers().equals(artifact.getDiffIdsList())) {
                throw new UpdateFailure(Reason.LAYER_MISMATCH, "the engine's image " + image.get().id()
                        + " has other layers than the release signs");
            }
            return Optional.of(image.get().id());
        }
        return Optional.empty();
    }

    private <T> T retryingTransient(EngineCall<T> call) throws UpdateFailure {
        for (int attempt = 1; ; attempt++) {
            try {
                return call.run();
            } catch (UpdateFailure e) {
                if (!e.isTransient() || attempt >= TRANSIENT_ATTEMPTS) {
                    throw e;
                }
                log.warn("engine call failed (attempt {}), retrying: {}", attempt, e.getMessage());
                try {
                    Thread.sleep(policy.engineRetryBackoff().multipliedBy(attempt).toMillis()); // give the engine time to come back
                    awaitEngine();
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new UpdateFailure(Reason.INTERRUPTED, "interrupted while retrying");
                }
            }
        }
    }

    /**
     * Waits (at most {@link #ENGINE_BACK_WAIT}) while the engine does not answer: a restarting engine fails every call
     * until it is back, and the attempts of {@link #retryingTransient} would be spent in its first seconds.
     */
    private void awaitEngine() throws InterruptedException {
        if (runtime.answers()) {
            return;
        }
        log.warn("the container engine does not answer: waiting up to {} s for it", ENGINE_BACK_WAIT.toSeconds());
        long deadline = System.nanoTime() + ENGINE_BACK_WAIT.toNanos();
        while (!runtime.answers() && System.nanoTime() < deadline) {
            Thread.sleep(500);
        }
    }

    /**
     * A download given up, while the orchestrator was unreachable, for a newer desired state: not this release's
     * failure. Before, it was reported FAILED DOWNLOAD_FAILED, and an orchestrator that re-signed every device's
     * state after its restart (the same release, a newer sequence) had the rollout count it and roll back
     * (chaos soak, 2026-12-07, rollout 1). Nothing is reported; the record stays where it was, and the newer state
     * converges from there (a partial download resumes).
     */
    private boolean supersededQuietly(AppRecord record, UpdateFailure e) {
        if (!(e instanceof UpdateFailure.Superseded)) {
            return false;
        }
        log.info("{} {}: {}; the newer desired state takes over", record.app(), record.targetVersion(), e.getMessage());
        return true;
    }

    /** The daemon is closing: leave the persisted state as it is; the next start resumes or undoes it. */
    private static boolean stoppedByClose(UpdateFailure e) {
        return e.reason() == Reason.INTERRUPTED || Thread.currentThread().isInterrupted();
    }

    private void rollBack(AppRecord failed, Reason reason, String message) {
        log.warn("{} {} failed ({}): {}", failed.app(), failed.targetVersion(), reason, message);
        // read before anything stops or removes the new container: the report says why it failed in its own words
        String tail = failureLog(failed.newContainerId());
        AppRecord failing = tail.isEmpty() ? failed : failed.withLogTail(tail);
        String floor = store.loadTrust().versionFloor(failing.app());
        if (floor != null && failing.running() != null && !failing.newContainerId().isEmpty()
                && SemVer.compare(failing.runningVersion(), floor) < 0 && !isGone(failing.newContainerId())) {
            keepAboveFloor(failing, reason, message, floor);
            return;
        }
        AppRecord record = move(failing, UpdateState.ROLLING_BACK, reason, message);
        restorePrevious(record);
    }

    /**
     * The new release failed but the one before it is below the app's rollback floor: the device does not go back to
     * it. The new release's container stays the app's container (started again if it stopped; the drift repair keeps
     * it up) and the update is FAILED with BELOW_FLOOR; the old container is removed (nothing may go back to it). Only an
     * update that got as far
     * as a new container gets here: one whose new container was never created puts the old one back as before (the
     * state before the update, which the floor never stopped).
     */
    private void keepAboveFloor(AppRecord failing, Reason reason, String message, String floor) {
        String fresh = failing.newContainerId();
        startQuietly(fresh);
        AppRecord kept = failing.withContainers(failing.target().getRelease(), fresh, failing.running(), "", "");
        move(kept, UpdateState.FAILED, Reason.BELOW_FLOOR, failing.targetVersion() + " failed (" + reason + ": " + message
                + "); not rolling back to " + failing.runningVersion() + ", below the rollback floor " + floor + "; keeping "
                + failing.targetVersion());
        removeQuietly(failing.containerId()); // after FAILED is saved: a crash in between leaves an orphan, removed at start
    }

    private void restorePrevious(AppRecord record) {
        if (isStack(record)) {
            restoreStack(record);
            return;
        }
        removeQuietly(record.newContainerId());
        AppRecord cleared = record.withNewContainer("");
        store.saveApp(cleared);
        if (cleared.running() == null) {
            move(cleared, UpdateState.FAILED, cleared.reason(), cleared.message() + "; no previous release to go back to"
                    + (isGone(record.newContainerId()) ? ": no container of " + cleared.app() + " is running"
                    : ", and the new container " + record.newContainerId() + " could not be removed"));
            return;
        }
        try {
            String kept = cleared.containerId();
            String container = kept;
            if (kept.isEmpty() || retryingTransient(() -> runtime.status(kept)).equals(ContainerStatus.MISSING)) {
                container = recreate(cleared);
                cleared = cleared.withContainers(cleared.running(), container, cleared.previous(), "", "");
                store.saveApp(cleared);
            }
            String previous = container;
            retryingTransient(() -> {
                runtime.start(previous); // as above: an engine restarting under the rollback is waited for
                return null;
            });
            health.verify(container, cleared.running().getHealth());
        } catch (UpdateFailure e) {
            move(cleared, UpdateState.FAILED, Reason.ROLLBACK_FAILED, "rolling back to " + cleared.runningVersion() + " failed: " + e.getMessage());
            return;
        }
        move(cleared, UpdateState.ROLLED_BACK, cleared.reason(), cleared.message());
    }

    /** Whether the record is a Compose app's: its release, its target or its containers say so. */
    private static boolean isStack(AppRecord record) {
        return record.running() != null && record.running().hasCompose()
                || record.target() != null && record.target().hasRelease() && record.target().getRelease().hasCompose()
                || StackContainers.isStack(record.containerId()) || StackContainers.isStack(record.newContainerId());
    }

    /**
     * Switches a Compose app to the staged release as one: creates the app's networks and named volumes, creates the
     * containers of the services whose config changed (a service whose config hash is the same keeps its container,
     * running), stops the old containers of those services (dependents first; they stay, stopped, for a rollback),
     * starts the new ones in dependency order, and judges every service. Any failure puts the whole previous release
     * back, naming the service that failed.
     */
    private void activateStack(AppRecord staged) {
        AppRecord record = move(staged, UpdateState.APPLYING, Reason.REASON_UNSPECIFIED, "");
        Release target = record.target().getRelease();
        StackContainers old = StackContainers.parse(record.containerId());
        ComposeFile file;
        StackSwitch.Plan plan;
        try {
            file = StackSwitch.read(target, composeVariables);
            plan = stacks.plan(record.app(), target.getVersion(), record.sequence(), file, stackImages(target), old);
            stacks.prepare(record.app(), file, plan);
        } catch (UpdateFailure e) {
            if (!stoppedByClose(e)) { // nothing of the running release was touched: it keeps running
                move(record, UpdateState.FAILED, e.reason(), e.getMessage());
            }
            return;
        }
        Map<String, String> keptIds = new LinkedHashMap<>();
        plan.kept().forEach(s -> keptIds.put(s, old.id(s)));
        AppRecord[] saved = {record};
        StackContainers fresh;
        try {
            fresh = stacks.create(plan, new StackContainers(keptIds), set -> {
                saved[0] = saved[0].withNewContainer(set.encode());
                store.saveApp(saved[0]); // each container is known before the next is made: a crash leaves no stranger
            });
        } catch (UpdateFailure e) {
            if (!stoppedByClose(e)) {
                rollBackStack(saved[0], e.reason(), e.getMessage());
            }
            return;
        }
        record = saved[0];
        Set<String> replaced = new LinkedHashSet<>(old.byService().keySet());
        replaced.removeAll(plan.kept());
        stacks.stop(new ArrayList<>(old.byService().keySet()), old, replaced);
        try {
            stacks.start(file, plan.order(), fresh, new LinkedHashSet<>(plan.changed()));
        } catch (UpdateFailure e) {
            if (!stoppedByClose(e)) {
                rollBackStack(record, e.reason() == Reason.HEALTH_CHECK_FAILED ? e.reason() : Reason.CONTAINER_START_FAILED, e.getMessage());
            }
            return;
        }
        record = verifying(record, boot.nanoTime(), "");
        try {
            stacks.verify(file, plan.order(), fresh, target.getHealth());
        } catch (UpdateFailure e) {
            if (!stoppedByClose(e)) {
                rollBackStack(record, e.reason(), e.getMessage());
            }
            return;
        }
        Release olderPrevious = record.previous();
        record = record.withContainers(target, fresh.encode(), record.running(), "", "");
        record = move(record, UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED, plan.changed().size() + " of " + plan.order().size()
                + " services started" + (plan.kept().isEmpty() ? "" : "; unchanged, left running: " + String.join(", ", plan.kept())));
        Set<String> keep = new HashSet<>(fresh.byService().values());
        for (String id : old.byService().values()) {
            if (!keep.contains(id)) {
                removeQuietly(id); // after ACTIVE is saved: a crash in between leaves an orphan, removed at start
            }
        }
        collectGarbage(record, olderPrevious);
    }

    /** The engine's image id for each image reference a Compose release's services name; loads any the engine lost. */
    private Map<String, String> stackImages(Release release) throws UpdateFailure {
        Map<String, String> images = new LinkedHashMap<>();
        for (ImageArtifact artifact : platformArtifacts(release)) {
            Optional<String> present = findImage(artifact);
            images.put(artifact.getImageRef(), present.isPresent() ? present.get() : load(artifact, artifacts.fetch(artifact)));
        }
        return images;
    }

    private void rollBackStack(AppRecord failing, Reason reason, String message) {
        log.warn("{} {} failed ({}): {}", failing.app(), failing.targetVersion(), reason, message);
        // the failing service's own last words, read before its container is removed (as for a single container)
        String tail = failingServiceLog(failing, message);
        restoreStack(move(tail.isEmpty() ? failing : failing.withLogTail(tail), UpdateState.ROLLING_BACK, reason, message));
    }

    /** The log tail of the service a stack failure names ("service web: ..."), from the switch's new container; "" if none. */
    private String failingServiceLog(AppRecord failing, String message) {
        String service = StackSwitch.failingService(message);
        String id = service == null ? null : StackContainers.parse(failing.newContainerId()).byService().get(service);
        return id == null ? "" : failureLog(id);
    }

    /**
     * Puts the whole previous release of a Compose app back: removes the containers the switch made, then starts the
     * previous release's containers (stopped, never removed, until a switch is judged healthy) in dependency order and
     * judges them as an update would. Services the switch left alone were never stopped.
     */
    private void restoreStack(AppRecord record) {
        StackContainers old = StackContainers.parse(record.containerId());
        StackContainers fresh = StackContainers.parse(record.newContainerId());
        Set<String> keep = new HashSet<>(old.byService().values());
        List<String> made = new ArrayList<>(fresh.byService().values());
        Collections.reverse(made);
        for (String id : made) {
            if (!keep.contains(id)) {
                try {
                    runtime.stop(id, STOP_GRACE);
                } catch (UpdateFailure e) {
                    log.warn("cannot stop {}: {}", id, e.getMessage());
                }
                removeQuietly(id);
            }
        }
        AppRecord cleared = record.withNewContainer("");
        store.saveApp(cleared);
        if (cleared.running() == null || old.isEmpty()) {
            move(cleared, UpdateState.FAILED, cleared.reason(), cleared.message() + "; no previous release to go back to: no container of "
                    + cleared.app() + " is running");
            return;
        }
        try {
            ComposeFile file = StackSwitch.read(cleared.running(), composeVariables);
            List<String> order = new ArrayList<>(old.byService().keySet());
            stacks.start(file, order, old, new LinkedHashSet<>(order));
            stacks.verify(file, order, old, cleared.running().getHealth());
        } catch (UpdateFailure e) {
            move(cleared, UpdateState.FAILED, Reason.ROLLBACK_FAILED, "rolling back to " + cleared.runningVersion() + " failed: " + e.getMessage());
            return;
        }
        move(cleared, UpdateState.ROLLED_BACK, cleared.reason(), cleared.message());
    }

    /**
     * Starts the services of the running release whose containers are stopped (not those meant to exit: one-shot
     * jobs others wait on); returns the services started.
     */
    private List<String> startStoppedServices(AppRecord record, boolean backOff) {
        List<String> started = new ArrayList<>();
        DriftBackOff before = driftRepairs.get(record.app()); // restored when a repair turns out not to have happened
        boolean allUp = true;
        StackContainers set = StackContainers.parse(record.containerId());
        Set<String> oneShot = null; // read from the file only when a container is found stopped: not on every tick
        for (Map.Entry<String, String> service : List.copyOf(set.byService().entrySet())) {
            try {
                ContainerStatus status = runtime.status(service.getValue());
                if (status.running() || status.restarting()) {
                    continue;
                }
                if (oneShot == null) {
                    oneShot = oneShotServices(record.running());
                }
                if (oneShot.contains(service.getKey())) {
                    continue;
                }
                allUp = false;
                if (backOff && !driftAllowed(record.app())) {
                    return started;
                }
                if (status.equals(ContainerStatus.MISSING)) {
                    // removed by hand: recreated from the running release, saved before it starts (as a single container is)
                    String id = recreateService(record, service.getKey(), set);
                    set = set.with(service.getKey(), id);
                    record = record.withContainers(record.running(), set.encode(), record.previous(), record.previousContainerId(),
                            record.newContainerId());
                    store.saveApp(record);
                    runtime.start(id);
                    started.add(service.getKey() + " (was removed: recreated)");
                    continue;
                }
                runtime.start(service.getValue());
                started.add(service.getKey() + " (was " + status.state() + ")");
            } catch (UpdateFailure e) {
                log.warn("cannot start service {} of {}: {}", service.getKey(), record.app(), e.getMessage());
                if (backOff && beingRemoved(e)) {
                    // caught in the middle of a `docker rm`: nothing was repaired, so the back-off is not charged and the
                    // next check recreates the container once it is gone (instead of waiting out the back-off)
                    if (before == null) {
                        driftRepairs.remove(record.app());
                    } else {
                        driftRepairs.put(record.app(), before);
                    }
                }
            }
        }
        if (allUp && backOff) {
            driftRepairs.remove(record.app()); // stayed up since the last repair: start the back-off afresh
        }
        return started;
    }

    /** The engine refused to start a container because it is being removed ({@code docker rm} under way). */
    private static boolean beingRemoved(UpdateFailure e) {
        String message = e.getMessage() == null ? "" : e.getMessage();
        return message.contains("marked for removal") || message.contains("removal of container") && message.contains("in progress");
    }

    /**
     * A new container for one service of the running release, as its switch made it (same settings, labels, networks and
     * volumes), named apart from the one that was removed; its id is not saved yet.
     */
    private String recreateService(AppRecord record, String service, StackContainers current) throws UpdateFailure {
        Release release = record.running();
        ComposeFile file = StackSwitch.read(release, composeVariables);
        StackSwitch.Plan plan = stacks.plan(record.app(), release.getVersion(), record.sequence(), file, stackImages(release),
                StackContainers.NONE);
        ServiceContainer spec = plan.specs().get(service);
        if (spec == null) {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "service " + service + " is not in " + record.app() + " " + release.getVersion());
        }
        String mode = spec.networkMode();
        if (mode.startsWith("service:")) {
            mode = "container:" + current.id(mode.substring("service:".length()));
        }
        return runtime.createService(new ServiceContainer(spec.name() + "-r" + wallClockMs.getAsLong(), spec.image(), spec.service(),
                mode, spec.networks(), spec.volumes(), spec.extraBinds(), spec.labels()));
    }

    private Set<String> oneShotServices(Release release) {
        try {
            return release == null ? Set.of() : StackSwitch.oneShot(StackSwitch.read(release, composeVariables));
        } catch (UpdateFailure e) {
            return Set.of();
        }
    }

    /**
     * Drift of a Compose app: each stopped service is started again, each removed one recreated from the running release
     * (with the app's back-off), and reported as DRIFT.
     */
    private void repairStackDrift(AppRecord record) {
        List<String> started = startStoppedServices(record, true);
        if (started.isEmpty()) {
            return;
        }
        String what = "services of " + record.runningVersion() + " started again: " + String.join(", ", started);
        log.warn("{}: {}", record.app(), what);
        reporter.report(event(record).toBuilder().setReason(Reason.DRIFT).setMessage(what).build());
    }

    /** The drift back-off: false while the app was repaired too recently; else counts this repair. */
    private boolean driftAllowed(String app) {
        DriftBackOff backOff = driftRepairs.get(app);
        long now = wallClockMs.getAsLong();
        if (backOff != null && now < backOff.notBeforeMs()) {
            return false;
        }
        int repairs = backOff == null ? 1 : backOff.repairs() + 1;
        driftRepairs.put(app, new DriftBackOff(repairs, now + Math.min(DRIFT_BACKOFF_MAX.toMillis(),
                DRIFT_BACKOFF_FIRST.toMillis() << Math.min(repairs - 1, 16))));
        return true;
    }

    private String recreate(AppRecord record) throws UpdateFailure {
        Release release = record.running();
        ImageArtifact artifact = artifactFor(release);
        Optional<String> present = findImage(artifact);
        String image = present.isPresent() ? present.get() : load(artifact, artifacts.fetch(artifact)); // fetched only when missing
        return runtime.create(containerName(record.app(), release.getVersion(), record.sequence()) + "-rb", image,
                withLockDir(record.app(), release.getContainer()), labels(record.app(), release.getVersion(), record.sequence()));
    }

    /**
     * The container of a resting app was stopped or removed by hand (not by Docker's restart policy): start it
     * again, or recreate it from the running release, and report DRIFT. The app's state does not change.
     */
    private void repairDrift(AppRecord record) {
        if (!Transitions.isResting(record.state()) || record.running() == null || record.containerId().isEmpty()
                || record.reason() == Reason.ROLLBACK_FAILED) { // that one needs a person (or a new release), not a restart loop
            return;
        }
        if (isStack(record)) {
            repairStackDrift(record);
            return;
        }
        try {
            ContainerStatus status = runtime.status(record.containerId());
            if (status.running() || status.restarting()) {
                driftRepairs.remove(record.app()); // stayed up since the last repair: start the back-off afresh
                return;
            }
            boolean missing = status.equals(ContainerStatus.MISSING);
            // an app that keeps exiting is not restarted in a tight loop; a removal is a person's doing
            if (!missing && !driftAllowed(record.app())) {
                return;
            }
            String what;
            AppRecord repaired = record;
            String tail = missing ? "" : failureLog(record.containerId()); // why it stopped, before it starts again
            if (missing) {
                String container = recreate(record);
                repaired = record.withContainers(record.running(), container, record.previous(), record.previousContainerId(),
                        record.newContainerId());
                store.saveApp(repaired); // saved before it starts: a crash now leaves no unknown container
                what = "container of " + record.runningVersion() + " was removed; recreated it";
            } else {
                what = "container of " + record.runningVersion() + " was " + status.state() + "; started it again";
            }
            runtime.start(repaired.containerId());
            log.warn("{}: {}", record.app(), what);
            // the app's current status (as after a reconnect), with the reason: the orchestrator's view stays consistent
            StatusEvent current = event(repaired);
            reporter.report(current.toBuilder().setReason(Reason.DRIFT).setMessage(what)
                    .setLogTail(tail.isEmpty() ? current.getLogTail() : tail).build()); // none read: the record's own stays
        } catch (UpdateFailure e) {
            log.warn("cannot repair drift of {}: {}", record.app(), e.getMessage());
        }
    }

    /**
     * Removes the app (REMOVING is saved before this begins, so a crash anywhere is finished by {@link #recover}): stops
     * and removes each of its containers, removes the images of the releases it knew (unless another app's releases use
     * the same image) and the archives no other app needs, then saves REMOVED with no release left. Each step finds
     * what is already gone and goes on. An engine that fails leaves it FAILED with what remains; a new REMOVE retries.
     */
    private void finishRemoval(AppRecord removing) {
        String app = removing.app();
        Set<String> containers = new LinkedHashSet<>();
        for (String field : List.of(removing.newContainerId(), removing.containerId(), removing.previousContainerId())) {
            containers.addAll(StackContainers.ids(field));
        }
        List<Release> releases = new ArrayList<>();
        for (Release release : new Release[] {removing.running(), removing.previous()}) {
            if (release != null) {
                releases.add(release);
            }
        }
        int images = 0;
        try {
            for (ManagedContainer container : runtime.list(Map.of(LABEL_DEVICE, deviceId, LABEL_APP, app))) {
                containers.add(container.id()); // one a crash left behind, or a switch's leftover
            }
            for (String container : containers) {
                if (!container.isEmpty()) {
                    runtime.stop(container, STOP_GRACE);
                    runtime.remove(container);
                }
            }
            runtime.removeNetworks(Map.of(LABEL_DEVICE, deviceId, LABEL_APP, app)); // a Compose app's; its named volumes stay
            Set<String> keepImages = new HashSet<>();
            Set<String> keepDigests = new HashSet<>();
            for (AppRecord other : store.loadApps()) {
                if (other.app().equals(app)) {
                    continue;
                }
                for (Release release : new Release[] {other.running(), other.previous(), other.target() == null ? null
                        : other.target().getRelease()}) {
                    platformArtifacts(release).forEach(a -> {
                        keepImages.add(a.getImageId());
                        keepDigests.add(a.getArchiveDigest());
                    });
                }
            }
            for (Release release : releases) {
                for (ImageArtifact artifact : platformArtifacts(release)) {
                    if (keepImages.contains(artifact.getImageId())) {
                        continue;
                    }
                    Optional<String> image = findImage(artifact);
                    if (image.isPresent()) {
                        runtime.removeImage(image.get());
                        images++;
                    }
                }
            }
            artifacts.retainOnly(keepDigests);
        } catch (UpdateFailure e) {
            if (stoppedByClose(e)) {
                return; // REMOVING is saved: the next start finishes it
            }
            move(removing, UpdateState.FAILED, e.reason(), "removing " + app + " failed: " + e.getMessage());
            return;
        }
        String removed = releases.isEmpty() ? "nothing of " + app + " was installed"
                : "removed " + app + " " + releases.stream().map(Release::getVersion).distinct().reduce((a, b) -> a + ", " + b).orElse("")
                + " (" + containers.stream().filter(c -> !c.isEmpty()).count() + " containers, " + images + " images)";
        driftRepairs.remove(app);
        move(removing.withContainers(null, "", null, "", ""), UpdateState.REMOVED, Reason.REASON_UNSPECIFIED, removed);
    }

    /** Containers of this device that no record knows (a crash between create and save) are removed. */
    private void removeOrphans() {
        Set<String> known = new HashSet<>();
        for (AppRecord record : store.loadApps()) {
            known.addAll(StackContainers.ids(record.containerId()));
            known.addAll(StackContainers.ids(record.previousContainerId()));
            known.addAll(StackContainers.ids(record.newContainerId()));
        }
        try {
            for (ManagedContainer container : runtime.list(Map.of(LABEL_DEVICE, deviceId))) {
                if (!known.contains(container.id())) {
                    log.info("removing orphaned container {} ({} {})", container.name(), container.app(), container.version());
                    removeQuietly(container.id());
                }
            }
        } catch (UpdateFailure e) {
            log.warn("cannot list containers: {}", e.getMessage());
        }
    }

    private void restartIfStopped(AppRecord record) {
        if (record.containerId().isEmpty()) {
            return;
        }
        if (isStack(record)) {
            startStoppedServices(record, false);
            return;
        }
        try {
            ContainerStatus status = runtime.status(record.containerId());
            if (!status.running() && !status.restarting() && !status.equals(ContainerStatus.MISSING)) {
                log.info("starting stopped container of {} {}", record.app(), record.runningVersion());
                runtime.start(record.containerId());
            }
        } catch (UpdateFailure e) {
            log.warn("cannot restart {}: {}", record.app(), e.getMessage());
        }
    }

    AppRecord move(AppRecord record, UpdateState to, Reason reason, String message) {
        return move(record, to, reason, message, null);
    }

    /** As {@link #move(AppRecord, UpdateState, Reason, String)}, the report carrying {@code download} (null: none). */
    private AppRecord move(AppRecord record, UpdateState to, Reason reason, String message, DownloadProgress download) {
        return move(record, to, reason, message, download, "");
    }

    /** As above, the report also saying why the download fell back ({@code fetchNote}, StatusEvent.fetch_note; "": nothing did). */
    private AppRecord move(AppRecord record, UpdateState to, Reason reason, String message, DownloadProgress download,
                           String fetchNote) {
        Transitions.check(record.state(), to);
        AppRecord next = record.withState(to).withReason(reason, message == null ? "" : message)
                .onBoot(bootId, to == UpdateState.VERIFYING ? record.soakStartNanos() : 0)
                .withLockWait(to == UpdateState.WAITING_FOR_LOCK ? record.lockWaitSinceMs() : 0);
        if ((to == UpdateState.ROLLED_BACK || to == UpdateState.FAILED) && APPLIED.contains(record.state())) {
            next = next.withFailedAttempts(record.failedAttempts() + 1); // loop guard: this version failed once more
        } else if (to == UpdateState.ACTIVE) {
            next = next.withFailedAttempts(0);
        }
        try {
            store.saveApp(next);
        } catch (java.io.UncheckedIOException e) {
            if (to != UpdateState.FAILED || !DiskFull.is(e)) {
                throw e;
            }
            // The update gives up and the disk is full: the failure is reported all the same (a report needs no disk).
            // The saved record keeps the unfinished state before it, which the next start takes up again.
            next = next.withReason(Reason.DISK_FULL, reason == Reason.DISK_FULL ? next.message()
                    : "the device's disk is full (" + reason + ": " + next.message() + ")");
            log.warn("{} {}: cannot save the FAILED state, the disk is full: {}", next.app(), next.targetVersion(), e.getMessage());
        }
        waitForSpaceIfDiskFull(next, record.state());
        StatusEvent event = download == null ? event(next) : event(next).toBuilder().setDownload(download).build();
        if (!fetchNote.isEmpty()) {
            event = event.toBuilder().setFetchNote(fetchNote).build();
        }
        log.info("{} {} -> {}{}{}", next.app(), next.targetVersion(), to,
                reason == Reason.REASON_UNSPECIFIED ? "" : " (" + reason + ": " + message + ")",
                fetchNote.isEmpty() ? "" : " [fetch: " + fetchNote + "]");
        reporter.report(event);
        return next;
    }

    /**
     * {@code failed} failed on a full disk before its switch began ({@code from} is not APPLYING or later): not the
     * release's fault, so it counts as no attempt, and the same update is tried again once space returns.
     */
    private void waitForSpaceIfDiskFull(AppRecord failed, UpdateState from) {
        if (failed.state() == UpdateState.FAILED && failed.reason() == Reason.DISK_FULL && !APPLIED.contains(from)
                && failed.target() != null && failed.target().getPhase() != Phase.REMOVE && !AgentDistribution.isAgent(failed.app())) {
            diskFull.waitForSpace(failed.app(), failed.target(), failed.sequence());
        }
    }

    /**
     * What a full disk stopped, when its wait is over: an update whose archive (what is left of it) and the reserve
     * now fit goes on where it stopped, the same target and sequence; one that still does not fit waits longer. A
     * desired state that arrived on the full disk is taken again.
     */
    private void retryAfterDiskFull() {
        for (DiskFullRetries.AppRetry retry : diskFull.dueApps()) {
            AppRecord record = store.loadApp(retry.app()).orElse(AppRecord.idle(retry.app()));
            if (record.sequence() > retry.sequence() || !Transitions.isAllowed(record.state(), UpdateState.DOWNLOADING)) {
                diskFull.forget(retry.app()); // a newer desired state took over, or the app moved on
                continue;
            }
            boolean room = platformArtifacts(retry.target().getRelease()).stream().allMatch(artifacts::hasRoomFor);
            if (!room) {
                diskFull.stillFull(retry);
                log.debug("{} {}: the disk is still too full, looking again later", retry.app(), retry.target().getRelease().getVersion());
                continue;
            }
            log.info("{}: free space is back, trying {} again (sequence {})", retry.app(), retry.target().getRelease().getVersion(),
                    retry.sequence());
            converge(record, retry.target(), retry.sequence());
        }
        byte[] arrived = diskFull.dueArrival();
        if (arrived != null) {
            log.info("trying again the desired state a full disk kept out");
            onDesiredState(arrived);
        }
    }

    private StatusEvent event(AppRecord record) {
        StatusEvent.Builder event = StatusEvent.newBuilder()
                .setDeviceId(deviceId)
                .setApp(record.app())
                .setVersion(record.targetVersion())
                .setState(record.state())
                .setReason(record.reason())
                .setMessage(record.message())
                .setSequence(record.sequence())
                .setRolloutId(record.rolloutId())
                .setRunningVersion(record.running() == null && AgentDistribution.isAgent(record.app())
                        ? agentUpdates.versions().builtInVersion() : record.runningVersion())
                .setTimestampMs(wallClockMs.getAsLong());
        if (record.state() == UpdateState.FAILED || record.state() == UpdateState.ROLLED_BACK) {
            event.setLogTail(record.logTail()); // the failure's own report, and its repeats after a reconnect
        }
        return event.build();
    }

    /**
     * The last lines of a container's log for a failure report, bounded as {@link LogTail#forFailure}; "" when the
     * engine has none (the container never ran, was removed) or cannot say: a failure is reported either way.
     */
    private String failureLog(String containerId) {
        if (containerId == null || containerId.isEmpty()) {
            return "";
        }
        try {
            List<LogEntry> lines = runtime.logs(containerId, LogTail.FAILURE_LINES, 0, LogTail.FAILURE_BYTES);
            return LogTail.forFailure(lines.stream().map(LogEntry::text).collect(Collectors.joining("\n")));
        } catch (UpdateFailure | RuntimeException e) {
            log.warn("cannot read the log of {}: {}", containerId, e.getMessage());
            return "";
        }
    }

    private void reportRefusal(DesiredStateVerifier.Refused refused) {
        log.warn("refused desired state: {} {}", refused.reason(), refused.message());
        StatusEvent.Builder base = StatusEvent.newBuilder()
                .setDeviceId(deviceId)
                .setState(UpdateState.REJECTED)
                .setReason(refused.reason())
                .setMessage(refused.message())
                .setTimestampMs(wallClockMs.getAsLong());
        if (refused.state() == null || refused.state().getAppsCount() == 0) {
            if (refused.state() != null) {
                base.setSequence(refused.state().getSequence());
            }
            reporter.report(base.build());
            return;
        }
        for (AppDesired app : refused.state().getAppsList()) {
            String running = store.loadApp(app.getApp()).map(AppRecord::runningVersion).orElse("");
            reporter.report(base.clone().setApp(app.getApp()).setVersion(app.getRelease().getVersion())
                    .setSequence(refused.state().getSequence()).setRolloutId(app.getRolloutId()).setRunningVersion(running).build());
        }
    }

    private ImageArtifact artifactFor(Release release) {
        return release.getImagesList().stream().filter(i -> platform.equals(i.getPlatform())).findFirst()
                .orElseThrow(() -> new IllegalStateException("verified release without an image for " + platform));
    }

    /** The images a release runs on this platform: one for a single container, one per service image for a Compose app. */
    private List<ImageArtifact> platformArtifacts(Release release) {
        if (release == null) {
            return List.of();
        }
        if (!release.hasCompose()) {
            return artifactIfAny(release).map(List::of).orElse(List.of());
        }
        return release.getImagesList().stream().filter(i -> platform.equals(i.getPlatform())).toList();
    }

    private Optional<ImageArtifact> artifactIfAny(Release release) {
        if (release == null) {
            return Optional.empty();
        }
        return release.getImagesList().stream().filter(i -> platform.equals(i.getPlatform())).findFirst();
    }

    /** True when the container is known to be removed or stopped (false when the engine cannot say). */
    private boolean isGone(String containerId) {
        if (containerId.isEmpty()) {
            return true;
        }
        try {
            ContainerStatus status = runtime.status(containerId);
            return !status.running() && !status.restarting();
        } catch (UpdateFailure e) {
            return false;
        }
    }

    /** Whether the container runs; for a Compose app's field, whether any of its services' containers runs. */
    private boolean isRunning(String containerField) {
        for (String id : StackContainers.ids(containerField)) {
            try {
                if (runtime.status(id).running()) {
                    return true;
                }
            } catch (UpdateFailure e) {
                // cannot tell: not known to run
            }
        }
        return false;
    }

    private void startQuietly(String containerId) {
        if (containerId.isEmpty()) {
            return;
        }
        try {
            runtime.start(containerId);
        } catch (UpdateFailure e) {
            log.warn("could not start {} again on the way down: {}", containerId, e.getMessage());
        }
    }

    private void removeQuietly(String containerId) {
        if (containerId == null || containerId.isEmpty()) {
            return;
        }
        try {
            runtime.remove(containerId);
            leftovers.remove(containerId);
        } catch (UpdateFailure e) {
            log.warn("cannot remove container {}: {}{}", containerId, e.getMessage(),
                    leftovers.add(containerId) ? "; trying again at the next ticks" : "");
        }
    }

    /**
     * Containers the engine refused to remove (left "dead": after a power loss its overlay mount was still busy) are
     * tried again, once a tick, until they are gone: one app, one container.
     */
    private void removeLeftovers() {
        for (String id : List.copyOf(leftovers)) {
            try {
                if (runtime.status(id).equals(ContainerStatus.MISSING)) {
                    leftovers.remove(id);
                    continue;
                }
            } catch (UpdateFailure e) {
                continue; // the engine does not answer: the next tick
            }
            removeQuietly(id);
        }
    }

    /** Keeps the archives and images of what runs and what it would roll back to; drops older ones. */
    private void collectGarbage(AppRecord updated, Release olderPrevious) {
        Set<String> keepDigests = new HashSet<>();
        Set<String> keepImages = new HashSet<>();
        for (AppRecord record : store.loadApps()) {
            for (Release release : new Release[] {record.running(), record.previous(), record.target() == null ? null : record.target().getRelease()}) {
                platformArtifacts(release).forEach(a -> {
                    keepDigests.add(a.getArchiveDigest());
                    keepImages.add(a.getImageId());
                });
            }
        }
        artifacts.retainOnly(keepDigests);
        for (ImageArtifact dropped : platformArtifacts(olderPrevious)) {
            if (keepImages.contains(dropped.getImageId())) {
                continue;
            }
            try {
                findImage(dropped).ifPresent(runtime::removeImage);
            } catch (UpdateFailure e) {
                log.debug("not removing the image of {}: {}", olderPrevious.getVersion(), e.getMessage());
            }
        }
        log.debug("kept {} archives after updating {}", keepDigests.size(), updated.app());
    }

    private Map<String, String> labels(String app, String version, long sequence) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(LABEL_DEVICE, deviceId);
        labels.put(LABEL_APP, app);
        labels.put(LABEL_VERSION, version);
        labels.put(LABEL_SEQUENCE, Long.toString(sequence));
        return labels;
    }

    static String containerName(String deviceId, String app, String version, long sequence) {
        String raw = "turnout-" + deviceId + "-" + app + "-" + version + "-" + sequence;
        return raw.replaceAll("[^a-zA-Z0-9_.-]", "_");
    }

    private String containerName(String app, String version, long sequence) {
        return containerName(deviceId, app, version, sequence);
    }
}
