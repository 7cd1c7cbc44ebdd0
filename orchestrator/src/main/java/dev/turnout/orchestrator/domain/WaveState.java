package dev.turnout.orchestrator.domain;

/** Lifecycle of one wave of a rollout; persisted by name. */
public enum WaveState {
    /** Not started: its devices hold the release staged only. */
    PENDING,
    /** Its devices were told to activate; waiting for each to succeed or fail. */
    ACTIVATING,
    /** Every device answered; the wave must stay healthy for the soak time. */
    SOAKING,
    /** Finished. */
    DONE
}
