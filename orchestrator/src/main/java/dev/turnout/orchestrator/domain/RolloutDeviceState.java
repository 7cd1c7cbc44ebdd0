package dev.turnout.orchestrator.domain;

/** Where one device stands within a rollout; persisted by name. */
public enum RolloutDeviceState {
    /** Told to stage the release; not acknowledged yet. */
    PENDING,
    /** Reported the release staged in its cache. */
    STAGED,
    /** Told to activate the release; waiting for ACTIVE. */
    ACTIVATING,
    /** Runs the release and reported it healthy. */
    ACTIVE,
    /** Refused, failed or rolled back the release, or did not answer in time. */
    FAILED,
    /** Told to go back to its previous release; waiting for ACTIVE on it. */
    ROLLING_BACK,
    /** Back on its previous release after the rollout activated it. */
    ROLLED_BACK,
    /** Never activated; the rollout ended (rolled back or aborted) and its container was never touched. */
    CANCELLED,
    /**
     * A newer rollout of the app took the device after this one ended and before the device finished
     * it (it was offline): it goes straight to the newer release and never runs this one.
     */
    SKIPPED;

    /** True once the device needs nothing more from the current wave. */
    public boolean isSettled() {
        return this == ACTIVE || this == FAILED || this == ROLLED_BACK || this == CANCELLED || this == SKIPPED;
    }
}
