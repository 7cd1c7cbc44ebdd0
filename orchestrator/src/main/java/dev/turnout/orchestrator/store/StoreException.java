package dev.turnout.orchestrator.store;

/** The store failed (I/O, corrupt data): a bug or an operations problem, never bad input. */
public final class StoreException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
