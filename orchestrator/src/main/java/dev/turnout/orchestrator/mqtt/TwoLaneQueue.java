package dev.turnout.orchestrator.mqtt;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
 *
 * <p>Within the urgent lane, what a device must act on now ({@link #addFirst}: an activation) goes before what was queued
 * for other devices (the next wave's STAGE messages), but never before an earlier element of its own key (device): a
 * retained desired state must not be overwritten by an older one.
 */
final class TwoLaneQueue<T> {

    /** An element and the key (device) whose order it keeps; null: none. */
    private record Entry<T>(String key, T element) {
    }

    private final ConcurrentLinkedQueue<Entry<T>> first = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Entry<T>> urgent = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<T> rest = new ConcurrentLinkedQueue<>();
    /** Per key, its elements waiting in {@link #urgent}; a key absent has none. */
    private final Map<String, Integer> waitingUrgent = new ConcurrentHashMap<>();
    /**
     * Urgent elements taken in a row at most while the other lane waits: 2, the proportion a rollout makes them in
     * (a STAGE and an ACTIVATE per device for one DEVICE_SUCCEEDED event), so neither lane falls behind for good.
     */
    static final int URGENT_RUN = 2;

    /** One permit per element in any lane. */
    private final Semaphore size = new Semaphore(0);
    /** Urgent elements taken since the last other one (the reader's own count). */
    private int urgentRun;

    void addUrgent(T element) {
        urgent.add(new Entry<>(null, element));
        size.release();
    }

    /** An urgent element of {@code key}: after every element queued before it. */
    void addUrgent(String key, T element) {
        waitingUrgent.merge(key, 1, Integer::sum); // counted before it is in the lane: addFirst never overtakes it
        urgent.add(new Entry<>(key, element));
        size.release();
    }

    /**
     * An urgent element of {@code key} that goes before the urgent ones of other keys queued earlier, unless an element
     * of its own key waits among them: then after it, as {@link #addUrgent(String, Object)}.
     */
    void addFirst(String key, T element) {
        waitingUrgent.compute(key, (k, n) -> {
            if (n == null) {
                first.add(new Entry<>(key, element));
                return null;
            }
            urgent.add(new Entry<>(key, element));
            return n + 1;
        });
        size.release();
    }

    void add(T element) {
        rest.add(element);
        size.release();
    }

    /**
     * The oldest urgent element (those added first ahead), else the oldest other one, except that after
     * {@link #URGENT_RUN} urgent ones in a row the oldest other one goes first; null when none came within {@code millis}.
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
        Entry<T> next = first.poll();
        if (next == null) {
            next = urgent.poll();
            if (next != null && next.key() != null) {
                waitingUrgent.computeIfPresent(next.key(), (k, n) -> n <= 1 ? null : n - 1);
            }
        }
        if (next != null) {
            urgentRun++;
            return next.element();
        }
        urgentRun = 0;
        return rest.poll();
    }

    int size() {
        return size.availablePermits();
    }
}
