package dev.turnout.edge.domain;

import dev.turnout.proto.AppDesired;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.UpdateState;

/**
 * What the device knows about one app; persisted before every side effect.
 *
 * @param app app name
 * @param state current update state
 * @param target the desired app entry being worked on (null: none)
 * @param running release whose container runs (null: none)
 * @param previous release kept for rollback (null: none)
 * @param sequence sequence of the desired state this record answers
 * @param rolloutId rollout of the desired entry ("" for none)
 * @param containerId container of {@code running} ("" for none)
 * @param previousContainerId stopped container of {@code previous} kept for rollback ("" for none)
 * @param newContainerId container being applied/verified ("" for none)
 * @param reason why the last update failed, rolled back or was refused
 * @param message plain words about {@code reason}
 * @param failedAttempts updates to the target's version that failed after APPLYING began (loop guard); reset when
 *                       the target version changes or runs
 * @param bootId the host's boot on which the daemon last moved this record ("" unknown: never the same boot); a
 *               restarted daemon resumes a switch only on the same boot
 * @param soakStartNanos while VERIFYING: when the new container's check began, on that boot's monotonic clock
 *                       ({@link dev.turnout.edge.port.HostBoot#nanoTime()}); 0 in other states
 * @param lockWaitSinceMs while WAITING_FOR_LOCK: when (device wall clock, ms) the wait for the app's update lock began;
 *                        0 in other states
 * @param logTail the last lines of the log of the container whose failure {@code reason} reports (bounded as
 *                {@link dev.turnout.proto.logs.LogTail#forFailure}); "" for none. Cleared with a new target.
 */
public record AppRecord(String app, UpdateState state, AppDesired target, Release running, Release previous,
                        long sequence, String rolloutId, String containerId, String previousContainerId,
                        String newContainerId, Reason reason, String message, int failedAttempts, String bootId,
                        long soakStartNanos, long lockWaitSinceMs, String logTail) {

    public AppRecord {
        logTail = logTail == null ? "" : logTail;
    }

    public AppRecord(String app, UpdateState state, AppDesired target, Release running, Release previous,
                     long sequence, String rolloutId, String containerId, String previousContainerId,
                     String newContainerId, Reason reason, String message, int failedAttempts, String bootId,
                     long soakStartNanos, long lockWaitSinceMs) {
        this(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId, newContainerId, reason, message,
                failedAttempts, bootId, soakStartNanos, lockWaitSinceMs, "");
    }

    public AppRecord(String app, UpdateState state, AppDesired target, Release running, Release previous,
                     long sequence, String rolloutId, String containerId, String previousContainerId,
                     String newContainerId, Reason reason, String message, int failedAttempts, String bootId, long soakStartNanos) {
        this(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId, newContainerId, reason, message,
                failedAttempts, bootId, soakStartNanos, 0);
    }

    public AppRecord(String app, UpdateState state, AppDesired target, Release running, Release previous,
                     long sequence, String rolloutId, String containerId, String previousContainerId,
                     String newContainerId, Reason reason, String message) {
        this(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId, newContainerId, reason, message, 0);
    }

    public AppRecord(String app, UpdateState state, AppDesired target, Release running, Release previous,
                     long sequence, String rolloutId, String containerId, String previousContainerId,
                     String newContainerId, Reason reason, String message, int failedAttempts) {
        this(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId, newContainerId, reason, message,
                failedAttempts, "", 0, 0);
    }

    public static AppRecord idle(String app) {
        return new AppRecord(app, UpdateState.IDLE, null, null, null, 0, "", "", "", "", Reason.REASON_UNSPECIFIED, "", 0, "", 0, 0);
    }

    public String runningVersion() {
        return running == null ? "" : running.getVersion();
    }

    public String targetVersion() {
        return target == null ? runningVersion() : target.getRelease().getVersion();
    }

    public AppRecord withState(UpdateState newState) {
        return new AppRecord(app, newState, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, reason, message, failedAttempts, bootId, soakStartNanos, lockWaitSinceMs, logTail);
    }

    public AppRecord withReason(Reason newReason, String newMessage) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, newReason, newMessage, failedAttempts, bootId, soakStartNanos, lockWaitSinceMs, logTail);
    }

    public AppRecord withTarget(AppDesired newTarget, long newSequence) {
        boolean sameVersion = target != null && target.getRelease().getVersion().equals(newTarget.getRelease().getVersion());
        return new AppRecord(app, state, newTarget, running, previous, newSequence, newTarget.getRolloutId(), containerId,
                previousContainerId, newContainerId, Reason.REASON_UNSPECIFIED, "", sameVersion ? failedAttempts : 0, bootId, soakStartNanos, 0, "");
    }

    public AppRecord withContainers(Release newRunning, String newContainerId, Release newPrevious, String newPreviousContainerId,
                                    String applyingContainerId) {
        return new AppRecord(app, state, target, newRunning, newPrevious, sequence, rolloutId, newContainerId, newPreviousContainerId,
                applyingContainerId, reason, message, failedAttempts, bootId, soakStartNanos, lockWaitSinceMs, logTail);
    }

    public AppRecord withFailedAttempts(int attempts) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, reason, message, attempts, bootId, soakStartNanos, lockWaitSinceMs, logTail);
    }

    public AppRecord withNewContainer(String applyingContainerId) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                applyingContainerId, reason, message, failedAttempts, bootId, soakStartNanos, lockWaitSinceMs, logTail);
    }

    /** While WAITING_FOR_LOCK: when the wait began (0: not waiting). */
    public AppRecord withLockWait(long sinceMs) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, reason, message, failedAttempts, bootId, soakStartNanos, sinceMs, logTail);
    }

    /** With the last lines of the failed container's log ("" for none). */
    public AppRecord withLogTail(String tail) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, reason, message, failedAttempts, bootId, soakStartNanos, lockWaitSinceMs, tail);
    }

    /** Stamped with the boot it is saved on and, while VERIFYING, when the check began on that boot's monotonic clock. */
    public AppRecord onBoot(String newBootId, long newSoakStartNanos) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, reason, message, failedAttempts, newBootId, newSoakStartNanos, lockWaitSinceMs, logTail);
    }
}
