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
 */
public record AppRecord(String app, UpdateState state, AppDesired target, Release running, Release previous,
                        long sequence, String rolloutId, String containerId, String previousContainerId,
                        String newContainerId, Reason reason, String message) {

    public static AppRecord idle(String app) {
        return new AppRecord(app, UpdateState.IDLE, null, null, null, 0, "", "", "", "", Reason.REASON_UNSPECIFIED, "");
    }

    public String runningVersion() {
        return running == null ? "" : running.getVersion();
    }

    public String targetVersion() {
        return target == null ? runningVersion() : target.getRelease().getVersion();
    }

    public AppRecord withState(UpdateState newState) {
        return new AppRecord(app, newState, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, reason, message);
    }

    public AppRecord withReason(Reason newReason, String newMessage) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                newContainerId, newReason, newMessage);
    }

    public AppRecord withTarget(AppDesired newTarget, long newSequence) {
        return new AppRecord(app, state, newTarget, running, previous, newSequence, newTarget.getRolloutId(), containerId,
                previousContainerId, newContainerId, Reason.REASON_UNSPECIFIED, "");
    }

    public AppRecord withContainers(Release newRunning, String newContainerId, Release newPrevious, String newPreviousContainerId,
                                    String applyingContainerId) {
        return new AppRecord(app, state, target, newRunning, newPrevious, sequence, rolloutId, newContainerId, newPreviousContainerId,
                applyingContainerId, reason, message);
    }

    public AppRecord withNewContainer(String applyingContainerId) {
        return new AppRecord(app, state, target, running, previous, sequence, rolloutId, containerId, previousContainerId,
                applyingContainerId, reason, message);
    }
}
