package dev.turnout.orchestrator.mqtt;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * What the orchestrator has yet to publish, in two lanes: desired states (what devices act on) leave
 * before rollout events (what monitors watch), so that a wave's ACTIVATE does not wait behind the
 * events of the wave before; each lane keeps its own order. Not strictly: one element of the other
 * lane goes out after every {@link #URGENT_RUN} urgent ones, so that while a large fleet is staged
 * (thousands of desired states in a row) monitors and {@code deploy --wait} are not starved of
 * events (a strict order held a 10,000-device rollout's events back for 7 s; one in 9 still let them lag 5 s behind). Many writers, one reader.
 */
final class TwoLaneQueue<T> {

    private final ConcurrentLinkedQueue<T> urgent = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<T> rest = new ConcurrentLinkedQueue<>();
    /**
     * Urgent elements taken in a row at most while the other lane waits: 2, the proportion a rollout makes them in
     * (a STAGE and an ACTIVATE per device for one DEVICE_SUCCEEDED event), so neither lane falls behind for good.
     */
    static final int URGENT_RUN = 2;

    /** One permit per element in either lane. */
    private final Semaphore size = new Semaphore(0);
    /** Urgent elements taken since the last other one (the reader's own count). */
    private int urgentRun;

    void addUrgent(T element) {
        urgent.add(element);
        size.release();
    }

    void add(T element) {
        rest.add(element);
        size.release();
    }

    /**
     * The oldest urgent element, else the oldest other one, except that after {@link #URGENT_RUN} urgent
     * ones in a row the oldest other one goes first; null when none came within {@code millis}.
     */
    T poll(long millis) throws InterruptedException {
        if (!size.tryAcquire(millis, TimeUnit.MILLISECONDS)) {
            return null;
        }
        if (urgentRun >= URGENT_RUN) {
            T other = rest.poll();
            if (other != null) {
                urgentRun = 0;
                return other;
            }
        }
        T next = urgent.poll();
        if (next != null) {
            urgentRun++;
            return next;
        }
        urgentRun = 0;
        return rest.poll();
    }

    int size() {
        return size.availablePermits();
    }
}
