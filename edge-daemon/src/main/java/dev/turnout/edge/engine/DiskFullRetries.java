package dev.turnout.edge.engine;

import dev.turnout.proto.AppDesired;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * What a full disk stopped, to be tried again by the engine's tick once free space returns: an app's update that failed
 * DISK_FULL before its switch (same target, same sequence: the partial download is resumed), and a desired state whose
 * trust record could not be saved on arrival (the same bytes). Each waits {@link #FIRST_WAIT}, then twice as long after
 * every try that found the disk still full, at most {@link #LONGEST_WAIT}: a device whose disk stays full polls its free
 * space a few times an hour, never in a loop. In memory only: after a restart the saved FAILED DISK_FULL record (or the
 * broker's retained desired state) brings it back. Not thread-safe: the engine's worker thread only.
 */
final class DiskFullRetries {

    /** The first wait after a disk-full failure. */
    static final Duration FIRST_WAIT = Duration.ofSeconds(5);
    /** The longest wait between two looks at the free space. */
    static final Duration LONGEST_WAIT = Duration.ofMinutes(5);

    /** An app's update waiting for space: its target and sequence, and when to look again. */
    record AppRetry(String app, AppDesired target, long sequence, int tries, long dueNanos) {
    }

    private record Arrival(byte[] wire, int tries, long dueNanos) {
    }

    private final LongSupplier nanoTime;
    private final Map<String, AppRetry> apps = new LinkedHashMap<>();
    private Arrival arrival;

    DiskFullRetries(LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
    }

    /** {@code app}'s update to {@code target} at {@code sequence} failed on a full disk: try it again later. */
    void waitForSpace(String app, AppDesired target, long sequence) {
        AppRetry before = apps.get(app);
        int tries = before != null && before.sequence() == sequence ? before.tries() + 1 : 0;
        apps.put(app, new AppRetry(app, target, sequence, tries, nanoTime.getAsLong() + wait(tries).toNanos()));
    }

    /** The free space is still short for {@code retry}: look again after a longer wait. */
    void stillFull(AppRetry retry) {
        waitForSpace(retry.app(), retry.target(), retry.sequence());
    }

    /** {@code app} goes on (or was given something else to do): nothing of it waits for space. */
    void forget(String app) {
        apps.remove(app);
    }

    /** The apps whose wait is over (they stay listed until they go on, {@link #forget}, or wait again, {@link #stillFull}). */
    List<AppRetry> dueApps() {
        long now = nanoTime.getAsLong();
        List<AppRetry> due = new ArrayList<>();
        for (AppRetry r : List.copyOf(apps.values())) {
            if (now - r.dueNanos() >= 0) {
                due.add(r);
            }
        }
        return due;
    }

    /** A desired state ({@code wire}) could not be taken: the disk was too full to save its trust record. */
    void arrivedOnFullDisk(byte[] wire) {
        int tries = arrivalWaiting(wire) ? arrival.tries() + 1 : 0;
        arrival = new Arrival(wire, tries, nanoTime.getAsLong() + wait(tries).toNanos());
    }

    /** Whether {@code wire} is the desired state that waits for space already. */
    boolean arrivalWaiting(byte[] wire) {
        return arrival != null && java.util.Arrays.equals(arrival.wire(), wire);
    }

    /** A desired state was taken (this one or a newer): no arrival waits any more. */
    void arrivalTaken() {
        arrival = null;
    }

    /** The desired state to try again now, or null (trying it either takes it or makes it wait again). */
    byte[] dueArrival() {
        if (arrival == null || nanoTime.getAsLong() - arrival.dueNanos() < 0) {
            return null;
        }
        return arrival.wire();
    }

    static Duration wait(int tries) {
        Duration wait = FIRST_WAIT.multipliedBy(1L << Math.min(tries, 10));
        return wait.compareTo(LONGEST_WAIT) > 0 ? LONGEST_WAIT : wait;
    }
}
