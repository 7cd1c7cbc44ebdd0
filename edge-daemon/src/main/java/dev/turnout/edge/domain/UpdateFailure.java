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
}
