package dev.turnout.edge.engine;

import dev.turnout.proto.UpdateState;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import static dev.turnout.proto.UpdateState.ACTIVE;
import static dev.turnout.proto.UpdateState.APPLYING;
import static dev.turnout.proto.UpdateState.DOWNLOADING;
import static dev.turnout.proto.UpdateState.FAILED;
import static dev.turnout.proto.UpdateState.IDLE;
import static dev.turnout.proto.UpdateState.REMOVED;
import static dev.turnout.proto.UpdateState.REMOVING;
import static dev.turnout.proto.UpdateState.ROLLED_BACK;
import static dev.turnout.proto.UpdateState.ROLLING_BACK;
import static dev.turnout.proto.UpdateState.STAGED;
import static dev.turnout.proto.UpdateState.VERIFYING;
import static dev.turnout.proto.UpdateState.WAITING_FOR_LOCK;
import static dev.turnout.proto.UpdateState.WAITING_FOR_WINDOW;

/**
 * The one transition table of an app's update state machine. Resting states (IDLE, STAGED, ACTIVE,
 * ROLLED_BACK, FAILED, WAITING_FOR_WINDOW, WAITING_FOR_LOCK, REMOVED) may start a new update or acknowledge the running release (to
 * ACTIVE); any state may fail. WAITING_FOR_WINDOW holds a staged ACTIVATE until the update window opens, WAITING_FOR_LOCK until the running
 * app releases its update lock (or the lock timeout fails it). A REMOVE
 * entry takes a resting app through REMOVING to REMOVED, which only a new release leaves; while the running app holds its
 * update lock, through WAITING_FOR_LOCK first (a removal stops a train no sooner than an update would).
 */
public final class Transitions {

    private static final Map<UpdateState, Set<UpdateState>> ALLOWED = new EnumMap<>(UpdateState.class);

    static {
        ALLOWED.put(IDLE, EnumSet.of(DOWNLOADING, REMOVING, FAILED));
        ALLOWED.put(DOWNLOADING, EnumSet.of(DOWNLOADING, STAGED, ACTIVE, FAILED));
        ALLOWED.put(STAGED, EnumSet.of(DOWNLOADING, APPLYING, WAITING_FOR_WINDOW, WAITING_FOR_LOCK, ACTIVE, REMOVING, FAILED));
        ALLOWED.put(WAITING_FOR_WINDOW, EnumSet.of(APPLYING, WAITING_FOR_LOCK, DOWNLOADING, ACTIVE, REMOVING, FAILED));
        // the running app holds its update lock: switch once it lets go; FAILED (LOCK_TIMEOUT) once the wait is too long
        ALLOWED.put(WAITING_FOR_LOCK, EnumSet.of(APPLYING, DOWNLOADING, ACTIVE, WAITING_FOR_LOCK, REMOVING, FAILED));
        ALLOWED.put(APPLYING, EnumSet.of(VERIFYING, ROLLING_BACK, FAILED));
        // VERIFYING again: a restarted daemon goes on with the check (same boot) or begins it afresh (after a reboot)
        ALLOWED.put(VERIFYING, EnumSet.of(VERIFYING, ACTIVE, ROLLING_BACK, FAILED));
        ALLOWED.put(ACTIVE, EnumSet.of(DOWNLOADING, ACTIVE, WAITING_FOR_LOCK, REMOVING, FAILED));
        ALLOWED.put(ROLLING_BACK, EnumSet.of(ROLLED_BACK, FAILED));
        ALLOWED.put(ROLLED_BACK, EnumSet.of(DOWNLOADING, ACTIVE, WAITING_FOR_LOCK, REMOVING, FAILED));
        ALLOWED.put(FAILED, EnumSet.of(DOWNLOADING, ACTIVE, WAITING_FOR_LOCK, REMOVING, FAILED));
        // REMOVING again: a restarted daemon finishes a removal its end cut short
        ALLOWED.put(REMOVING, EnumSet.of(REMOVING, REMOVED, FAILED));
        // removed stays removed until a new release of the app (or another REMOVE, signed anew)
        ALLOWED.put(REMOVED, EnumSet.of(DOWNLOADING, REMOVING, FAILED));
    }

    private Transitions() {
    }

    public static boolean isAllowed(UpdateState from, UpdateState to) {
        Set<UpdateState> next = ALLOWED.get(from);
        return next != null && next.contains(to);
    }

    /** Throws when the table does not allow the move: a bug, never an input error. */
    public static void check(UpdateState from, UpdateState to) {
        if (!isAllowed(from, to)) {
            throw new IllegalStateException("transition " + from + " -> " + to + " is not in the table");
        }
    }

    /** States in which nothing is in progress. */
    public static boolean isResting(UpdateState state) {
        return state == IDLE || state == STAGED || state == ACTIVE || state == ROLLED_BACK || state == FAILED
                || state == WAITING_FOR_WINDOW || state == WAITING_FOR_LOCK || state == REMOVED;
    }
}
