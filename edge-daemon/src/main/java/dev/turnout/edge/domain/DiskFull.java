package dev.turnout.edge.domain;

/** Tells a write refused because the file system is full (ENOSPC, or EDQUOT) from other I/O failures. */
public final class DiskFull {

    private DiskFull() {
    }

    /** True when {@code failure} or one of its causes says the disk (or the quota) is full. */
    public static boolean is(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String message = t.getMessage();
            if (message != null && (message.contains("No space left on device") || message.contains("Disk quota exceeded"))) {
                return true;
            }
        }
        return false;
    }
}
