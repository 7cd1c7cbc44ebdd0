package dev.turnout.orchestrator.mqtt;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * What the orchestrator has yet to publish, in two lanes: desired states (what devices act on) always
 * leave before rollout events (what monitors watch), so that a wave's ACTIVATE never waits behind the
 * events of the wave before; each lane keeps its own order. Many writers, one reader.
 */
final class TwoLaneQueue<T> {

    private final ConcurrentLinkedQueue<T> urgent = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<T> rest = new ConcurrentLinkedQueue<>();
    /** One permit per element in either lane. */
    private final Semaphore size = new Semaphore(0);

    void addUrgent(T element) {
        urgent.add(element);
        size.release();
    }

    void add(T element) {
        rest.add(element);
        size.release();
    }

    /** The oldest urgent element, else the oldest other one; null when none came within {@code millis}. */
    T poll(long millis) throws InterruptedException {
        if (!size.tryAcquire(millis, TimeUnit.MILLISECONDS)) {
            return null;
        }
        T next = urgent.poll();
        return next != null ? next : rest.poll();
    }

    int size() {
        return size.availablePermits();
    }
}
