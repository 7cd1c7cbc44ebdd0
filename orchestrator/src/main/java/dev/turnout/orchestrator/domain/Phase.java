package dev.turnout.orchestrator.domain;

/** What a device does with the release of a desired app; persisted by name. */
public enum Phase {
    /** Download and verify into the cache; keep running what runs. */
    STAGE,
    /** Switch to the release now. */
    ACTIVATE,
    /** Remove the app (its containers, images and cached archives); the entry names no release. */
    REMOVE
}
