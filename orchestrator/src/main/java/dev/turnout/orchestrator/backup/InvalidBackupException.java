package dev.turnout.orchestrator.backup;

import java.io.IOException;

/** A file that is not a Turnout backup, or one that is damaged or truncated: nothing was restored from it. */
public final class InvalidBackupException extends IOException {

    public InvalidBackupException(String message) {
        super(message);
    }

    public InvalidBackupException(String message, Throwable cause) {
        super(message, cause);
    }
}
