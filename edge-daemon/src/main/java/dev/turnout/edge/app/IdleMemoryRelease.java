package dev.turnout.edge.app;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * Gives memory back to the operating system when the daemon falls idle. The heap grows during start-up and
 * during an update (downloads, Docker responses) and a serial collector only shrinks it in a full collection,
 * which an idle daemon never triggers by itself: without this an idle device keeps the footprint of its last
 * update. Once work ends (start-up, a desired state handled, an engine step) and nothing else happened for a
 * quiet period, one full collection runs on the worker, between engine steps; with {@code -XX:+UseSerialGC} and
 * {@code -XX:MaxHeapFreeRatio} it shrinks the heap and returns the pages.
 */
final class IdleMemoryRelease {

    /** How long the daemon must stay quiet after work before the release. */
    static final Duration QUIET = Duration.ofSeconds(2);

    private final BiConsumer<Duration, Runnable> timer;
    private final Executor worker;
    private final Runnable release;
    private final AtomicLong lastWork = new AtomicLong();

    /**
     * @param timer   runs a task once after a delay (the daemon's scheduler)
     * @param worker  the engine's worker: the release never runs in the middle of an engine step
     * @param release what gives the memory back ({@link System#gc()})
     */
    IdleMemoryRelease(BiConsumer<Duration, Runnable> timer, Executor worker, Runnable release) {
        this.timer = timer;
        this.worker = worker;
        this.release = release;
    }

    /** Work just ended: release once nothing else ended for {@link #QUIET}. Newer work postpones the release. */
    void workEnded() {
        long work = lastWork.incrementAndGet();
        try {
            timer.accept(QUIET, () -> releaseIfStillQuiet(work));
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    private void releaseIfStillQuiet(long work) {
        if (lastWork.get() != work) {
            return; // newer work ended since: its own timer releases
        }
        try {
            worker.execute(() -> {
                if (lastWork.get() == work) {
                    release.run();
                }
            });
        } catch (RejectedExecutionException e) {
            // closing
        }
    }
}
