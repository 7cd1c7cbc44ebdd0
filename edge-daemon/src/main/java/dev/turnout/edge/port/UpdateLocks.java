package dev.turnout.edge.port;

import dev.turnout.edge.domain.UpdateFailure;

/**
 * The update lock of each app (docs/edge-daemon.md, "Update lock, for app writers"): a directory of the device that
 * every container of the app sees at {@link #CONTAINER_DIR}; while the file {@link #LOCK_FILE} is in it, the app must
 * not be stopped (a train is running), and an update waits.
 */
public interface UpdateLocks {

    /** Where an app's container sees its lock directory. */
    String CONTAINER_DIR = "/run/turnout";

    /** The file whose presence holds the lock. */
    String LOCK_FILE = "updates.lock";

    /** No lock directory, never held: an engine without update locks. */
    UpdateLocks NONE = new UpdateLocks() {
        @Override
        public String hostDir(String app) {
            return null;
        }

        @Override
        public boolean held(String app) {
            return false;
        }
    };

    /** The app's lock directory on the host, created if missing (null: none to mount). */
    String hostDir(String app) throws UpdateFailure;

    /** Whether the app holds its update lock now. */
    boolean held(String app);
}
