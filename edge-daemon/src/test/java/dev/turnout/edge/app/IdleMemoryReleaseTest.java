package dev.turnout.edge.app;

import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class IdleMemoryReleaseTest {

    /** Timer and worker driven by hand: tasks wait in queues until the test runs them. */
    private final Queue<Runnable> timer = new ArrayDeque<>();
    private final Queue<Runnable> worker = new ArrayDeque<>();
    private final AtomicInteger releases = new AtomicInteger();
    private final IdleMemoryRelease idle = new IdleMemoryRelease((delay, task) -> {
        assertThat(delay).isEqualTo(IdleMemoryRelease.QUIET);
        timer.add(task);
    }, worker::add, releases::incrementAndGet);

    private static void runAll(Queue<Runnable> tasks) {
        for (Runnable task = tasks.poll(); task != null; task = tasks.poll()) {
            task.run();
        }
    }

    @Test
    void releasesOnceOnTheWorkerAfterTheQuietPeriod() {
        idle.workEnded();
        assertThat(releases).hasValue(0);
        runAll(timer);
        assertThat(releases).as("queued on the worker, not run on the timer").hasValue(0);
        runAll(worker);
        assertThat(releases).hasValue(1);
    }

    @Test
    void newerWorkPostponesTheRelease() {
        idle.workEnded();
        idle.workEnded();
        runAll(timer);
        runAll(worker);
        assertThat(releases).as("one release for two pieces of work in a row").hasValue(1);
    }

    @Test
    void workThatEndsWhileTheReleaseWaitsForTheWorkerCancelsIt() {
        idle.workEnded();
        runAll(timer);                // release queued behind, say, an update on the worker
        idle.workEnded();             // the update ends
        runAll(worker);
        assertThat(releases).hasValue(0);
        runAll(timer);
        runAll(worker);
        assertThat(releases).hasValue(1);
    }

    @Test
    void aClosedSchedulerIsNotAnError() {
        IdleMemoryRelease closed = new IdleMemoryRelease((delay, task) -> {
            throw new RejectedExecutionException("closed");
        }, worker::add, releases::incrementAndGet);
        closed.workEnded();
        assertThat(worker).isEmpty();
    }
}
