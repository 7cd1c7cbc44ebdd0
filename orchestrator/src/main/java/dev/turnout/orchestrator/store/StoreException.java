package dev.turnout.orchestrator.store;

import java.sql.SQLException;
import java.util.Locale;

/** The store failed (I/O, corrupt data): a bug or an operations problem, never bad input. */
public final class StoreException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final boolean passing;

    public StoreException(String message, Throwable cause) {
        this(message, cause, cause instanceof SQLException e && passes(e));
    }

    public StoreException(String message, Throwable cause, boolean passing) {
        super(message, cause);
        this.passing = passing;
    }

    /**
     * True when the store refused for a reason that passes (a full disk, an I/O error, a lock held too long, a lost
     * connection, a deadlock): the same work will succeed once it has passed, so it is worth doing again later. False
     * when the same work would fail the same way again (a constraint it breaks, corrupt data).
     */
    public boolean passing() {
        return passing;
    }

    /** True if {@code e} or one of its causes is a store failure that passes (see {@link #passing()}). */
    public static boolean passing(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof StoreException s) {
                return s.passing;
            }
        }
        return false;
    }

    /**
     * True if {@code e} or one of its causes is a write the store (SQLite's SQLITE_FULL, or its errors saying the disk
     * holding it is full) or the file system (ENOSPC) refused for want of space.
     */
    public static boolean diskFull(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String message = t.getMessage();
            if (message != null && (message.contains("SQLITE_FULL") || message.contains("No space left on device")
                    || message.contains("(the disk holding "))) {
                return true;
            }
        }
        return false;
    }

    /** True if the store's refusal {@code e} passes (see {@link #passing()}). */
    static boolean passes(SQLException e) {
        String state = e.getSQLState();
        // PostgreSQL: 08 connection, 53 insufficient resources (53100 disk full), 40 serialization failure or deadlock,
        // 57 operator intervention (a restart)
        if (state != null && (state.startsWith("08") || state.startsWith("53") || state.startsWith("40") || state.startsWith("57"))) {
            return true;
        }
        String message = String.valueOf(e.getMessage()).toUpperCase(Locale.ROOT);
        // SQLite: a full disk, an I/O error, a lock; after those it rolls the transaction back by itself, and the commit
        // then finds none
        return message.contains("SQLITE_FULL") || message.contains("SQLITE_IOERR") || message.contains("SQLITE_BUSY")
                || message.contains("SQLITE_LOCKED") || message.contains("NO SPACE LEFT")
                || message.contains("CANNOT COMMIT - NO TRANSACTION IS ACTIVE");
    }
}
