package dev.turnout.proto.crypto;

import dev.turnout.proto.Reason;

/** A signed message was refused; {@link #reason()} is what the device reports. */
public final class VerificationException extends Exception {

    private static final long serialVersionUID = 1L;

    private final Reason reason;

    public VerificationException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
