package dev.turnout.orchestrator.domain;

/** Lifecycle of a rollout; persisted by name. */
public enum RolloutState {
    /** Staging the release and activating waves. */
    RUNNING,
    /** Stopped by an operator or by the failure threshold; resume continues. */
    PAUSED,
    /** Every targeted device runs the release (failures within the threshold tolerated). */
    SUCCEEDED,
    /** Stopped for good; a rollback could not be confirmed on every device. */
    FAILED,
    /** Putting the devices the rollout activated back on their previous release. */
    ROLLING_BACK,
    /** Every activated device is back on its previous release. */
    ROLLED_BACK,
    /** Stopped by an operator; devices keep what they were told last. */
    ABORTED;

    public boolean isTerminal() {
        return this == SUCCEEDED || this == FAILED || this == ROLLED_BACK || this == ABORTED;
    }
}
