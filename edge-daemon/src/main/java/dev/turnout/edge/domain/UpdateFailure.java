package dev.turnout.edge.domain;

import dev.turnout.proto.Reason;

/** A step of an update failed for a reason the device reports. */
public class UpdateFailure extends Exception {

    private static final long serialVersionUID = 1L;

    private final transient Reason reason;
    private final boolean transientFailure;

    public UpdateFailure(Reason reason, String message) {
        this(reason, message, false, null);
    }

    public UpdateFailure(Reason reason, String message, boolean transientFailure, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.transientFailure = transientFailure;
    }

    public Reason reason() {
        return reason;
    }

    /** Whether trying again later may succeed (engine busy, network down) rather than never. */
    public boolean isTransient() {
        return transientFailure;
    }

    /**
     * Not a failure of the release: the device stopped waiting for an unreachable orchestrator because a newer desired
     * state arrived. Nothing is reported for it (no FAILED that a rollout would count against the release); the partial
     * download stays, and the newer state takes over, resuming it when it wants the same release.
     */
    public static final class Superseded extends UpdateFailure {

        private static final long serialVersionUID = 1L;

        public Superseded(String message, Throwable cause) {
            super(Reason.DOWNLOAD_FAILED, message, true, cause);
        }
    }
}
