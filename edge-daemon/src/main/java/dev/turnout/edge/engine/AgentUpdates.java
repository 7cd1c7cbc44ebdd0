package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.AgentVersions;
import dev.turnout.edge.port.ArtifactSource;
import dev.turnout.edge.port.StateStore;
import dev.turnout.proto.AgentArtifact;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.agent.AgentDistribution;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * Updates of the edge daemon itself: the reserved app {@value AgentDistribution#APP}, whose release is the daemon's
 * distribution (docs/edge-daemon.md, "Agent releases"). Its record goes through the states of any app:
 * DOWNLOADING and STAGED (downloaded, verified against the signed digest and size, unpacked), APPLYING (switched, on
 * trial: this process exits and its launcher starts the new version), VERIFYING (the new version runs and connects),
 * ACTIVE once it has connected and reported, which confirms the trial. A new version that exits, or does not connect
 * and report within the device's agentStartTimeout, is replaced by the previous one by its launcher (a watchdog outside
 * the new version); the previous one then reports ROLLED_BACK with AGENT_START_FAILED or AGENT_NOT_CONNECTED, and its
 * record's sequence keeps it from trying that version again for the same desired state. A REMOVE entry goes back to the
 * built-in version the same way. No update window or update lock applies: the switch stops no app container.
 */
final class AgentUpdates {

    /** Saves a record in a new state and reports it (the engine's own move, with its transition table and loop guard). */
    @FunctionalInterface
    interface Mover {
        AppRecord move(AppRecord record, UpdateState to, Reason reason, String message);
    }

    private static final Logger log = LoggerFactory.getLogger(AgentUpdates.class);

    private final AgentVersions agent;
    private final StateStore store;
    private final ArtifactSource artifacts;
    private final Mover mover;
    private final int maxAttempts;
    private final BooleanSupplier delivered;
    private volatile boolean exiting;

    /**
     * @param delivered true once what this process reported so far reached the broker (waits a little for it)
     */
    AgentUpdates(AgentVersions agent, StateStore store, ArtifactSource artifacts, Mover mover, int maxAttempts,
                 BooleanSupplier delivered) {
        this.delivered = delivered;
        this.agent = agent;
        this.store = store;
        this.artifacts = artifacts;
        this.mover = mover;
        this.maxAttempts = maxAttempts;
    }

    AgentVersions versions() {
        return agent;
    }

    /** True once this process switched and is ending: it takes no more work (its launcher starts the next version). */
    boolean exiting() {
        return exiting;
    }

    /** Works toward {@code want} of desired-state {@code sequence}, from what {@code current} says. */
    void converge(AppRecord current, AppDesired want, long sequence) {
        // a desired state came in: connected. A version on trial ends its trial first (that report has the old sequence)
        AppRecord record = finishTrial(current).withTarget(want, sequence);
        if (want.getPhase() == Phase.REMOVE) {
            AppRecord removing = move(record, UpdateState.REMOVING, Reason.REASON_UNSPECIFIED, "");
            if (agent.runningRelease().isEmpty()) {
                move(removing.withContainers(null, "", removing.running(), "", ""), UpdateState.REMOVED, Reason.REASON_UNSPECIFIED,
                        "runs the built-in version " + agent.builtInVersion());
                return;
            }
            switchTo(removing, AgentVersions.BUILT_IN);
            return;
        }
        Release target = want.getRelease();
        String version = target.getVersion();
        if (version.equals(agent.runningVersion())) {
            if (!Transitions.isAllowed(record.state(), UpdateState.ACTIVE)) { // IDLE, REMOVED: not a move to ACTIVE by itself
                record = move(record, UpdateState.DOWNLOADING, Reason.REASON_UNSPECIFIED, "");
            }
            move(record.withContainers(target, "", record.previous(), "", ""), UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED,
                    "already running");
            return;
        }
        if (record.failedAttempts() >= maxAttempts) {
            move(record, UpdateState.FAILED, Reason.TOO_MANY_ATTEMPTS, version + " failed " + record.failedAttempts()
                    + " times; not trying it again, " + agent.runningVersion() + " keeps running");
            return;
        }
        String cannot = agent.cannotSwitch();
        if (cannot != null) {
            move(record, UpdateState.FAILED, Reason.AGENT_START_FAILED, "cannot start " + version + ": " + cannot);
            return;
        }
        record = move(record, UpdateState.DOWNLOADING, Reason.REASON_UNSPECIFIED, "");
        try {
            if (agent.installed(version)) { // staged before: the unpacked copy is what runs, no second download
                staged(record, want, version);
                return;
            }
            ImageArtifact archive = download(target.getAgent());
            Path distribution = artifacts.fetch(archive);
            agent.install(version, distribution);
            artifacts.discard(archive); // unpacked under <data>/agent: the archive is not needed again
        } catch (UpdateFailure e) {
            move(record, UpdateState.FAILED, e.reason(), e.getMessage());
            return;
        }
        staged(record, want, version);
    }

    /** STAGED; for an ACTIVATE, the switch. */
    private void staged(AppRecord downloading, AppDesired want, String version) {
        AppRecord record = move(downloading, UpdateState.STAGED, Reason.REASON_UNSPECIFIED, "");
        if (want.getPhase() == Phase.ACTIVATE) {
            switchTo(record, version);
        }
    }

    /**
     * At start: a switch in progress is either this process (the version on trial: it waits to connect, see
     * {@link #connected}) or the launcher went back, and the launcher's word says why.
     */
    void recover(AppRecord record) {
        switch (record.state()) {
            case APPLYING, VERIFYING, REMOVING -> {
                String wanted = record.state() == UpdateState.REMOVING ? AgentVersions.BUILT_IN : record.targetVersion();
                if (wanted.equals(agent.runningRelease())) {
                    if (record.state() == UpdateState.APPLYING) {
                        move(record, UpdateState.VERIFYING, Reason.REASON_UNSPECIFIED, "started " + agent.runningVersion()
                                + "; connecting to the broker");
                    }
                    log.info("running {} on trial: it is confirmed once connected and reported", agent.runningVersion());
                    return;
                }
                wentBack(record, wanted);
            }
            case ACTIVE -> {
                if (!record.runningVersion().isEmpty() && !record.runningVersion().equals(agent.runningVersion())) {
                    // ACTIVE was saved, but the launcher went back before the trial was confirmed
                    Optional<AgentVersions.TrialFailure> failure = agent.failedTrial(record.runningVersion());
                    Release back = record.previous() != null && record.previous().getVersion().equals(agent.runningVersion())
                            ? record.previous() : null;
                    move(record.withContainers(back, "", null, "", ""), UpdateState.FAILED,
                            failure.map(AgentVersions.TrialFailure::reason).orElse(Reason.INTERRUPTED),
                            failure.map(AgentVersions.TrialFailure::message).orElse(record.runningVersion()
                                    + " was recorded as running, but " + agent.runningVersion() + " runs"));
                }
            }
            default -> {
                // resting: nothing to do
            }
        }
    }

    /**
     * Connected to the broker: a version on trial is ACTIVE (REMOVED, for the built-in one) and, once that report is
     * delivered, confirms its trial to the launcher.
     */
    void connected() {
        store.loadApp(AgentDistribution.APP).ifPresent(this::finishTrial);
    }

    /** {@link #settleTrial}, then the trial of this process confirmed once what it reported is delivered. */
    private AppRecord finishTrial(AppRecord record) {
        AppRecord settled = settleTrial(record);
        if (agent.onTrial()) {
            if (delivered.getAsBoolean()) {
                agent.confirmTrial();
            } else {
                log.warn("the reports of {} are not delivered yet; its trial stays open", agent.runningVersion());
            }
        }
        return settled;
    }

    /** A switch this process is the new version of ends: VERIFYING becomes ACTIVE, REMOVING becomes REMOVED. */
    private AppRecord settleTrial(AppRecord record) {
        if (record.state() == UpdateState.VERIFYING && record.targetVersion().equals(agent.runningRelease())) {
            AppRecord active = move(record.withContainers(record.target().getRelease(), "", record.running(), "", ""),
                    UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED, "");
            keepOnly(active);
            return active;
        }
        if (record.state() == UpdateState.REMOVING && agent.runningRelease().isEmpty()) {
            AppRecord removed = move(record.withContainers(null, "", record.running(), "", ""), UpdateState.REMOVED,
                    Reason.REASON_UNSPECIFIED, "back on the built-in version " + agent.builtInVersion());
            keepOnly(removed);
            return removed;
        }
        return record;
    }

    /** APPLYING (or REMOVING): the trial marker and the current version are written, then this process ends. */
    private void switchTo(AppRecord record, String version) {
        AppRecord switching = record.state() == UpdateState.REMOVING ? record
                : move(record, UpdateState.APPLYING, Reason.REASON_UNSPECIFIED, "restarting on " + version);
        try {
            agent.beginTrial(version, agent.runningRelease());
        } catch (UpdateFailure e) {
            move(switching, UpdateState.FAILED, e.reason(), e.getMessage());
            return;
        }
        exiting = true;
        agent.restart();
    }

    /** The launcher started the version before again: say why, as that version, and never retry for this sequence. */
    private void wentBack(AppRecord record, String wanted) {
        Optional<AgentVersions.TrialFailure> failure = agent.failedTrial(wanted);
        Reason reason = failure.map(AgentVersions.TrialFailure::reason).orElse(Reason.INTERRUPTED);
        String message = failure.map(AgentVersions.TrialFailure::message).orElse("the switch to "
                + (wanted.isEmpty() ? "the built-in version" : wanted) + " was cut short; " + agent.runningVersion() + " runs");
        log.warn("{}: {}", AgentDistribution.APP, message);
        if (record.state() == UpdateState.REMOVING) {
            move(record, UpdateState.FAILED, reason, message);
            return;
        }
        AppRecord back = record.state() == UpdateState.APPLYING || record.state() == UpdateState.VERIFYING
                ? move(record, UpdateState.ROLLING_BACK, reason, message) : record;
        move(back, UpdateState.ROLLED_BACK, reason, message);
    }

    private void keepOnly(AppRecord record) {
        Set<String> keep = new HashSet<>();
        keep.add(agent.runningRelease());
        for (Release r : new Release[] {record.running(), record.previous()}) {
            if (r != null) {
                keep.add(r.getVersion());
            }
        }
        agent.retainOnly(keep);
    }

    private AppRecord move(AppRecord record, UpdateState to, Reason reason, String message) {
        return mover.move(record, to, reason, message);
    }

    /** The distribution as the artifact cache downloads and verifies an archive: URL, signed size and digest. */
    private static ImageArtifact download(AgentArtifact a) {
        return ImageArtifact.newBuilder().setPlatform("all").setArchiveDigest(a.getDigest()).setSize(a.getSize())
                .setUrl(a.getUrl()).build();
    }
}
