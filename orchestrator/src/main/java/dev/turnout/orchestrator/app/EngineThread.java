package dev.turnout.orchestrator.app;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The one thread every engine method runs on: device reports, ticks and HTTP commands. A step that
 * throws is logged and the thread goes on. Stopping runs what is queued, for at most {@value #STOP_SECONDS} s.
 */
final class EngineThread implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EngineThread.class);
    private static final long STOP_SECONDS = 10;

    private final ScheduledExecutorService executor;

    private EngineThread(ScheduledExecutorService executor) {
        this.executor = executor;
    }

    static EngineThread start() {
        return new EngineThread(Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread t = new Thread(runnable, "turnout-engine");
            t.setDaemon(true);
            return t;
        }));
    }

    /** The thread as an executor service, for whoever runs engine work and waits for it (HTTP commands, report batches). */
    ScheduledExecutorService executor() {
        return executor;
    }

    /** The thread as an executor whose tasks, when they throw, are logged instead of lost. */
    Executor guarded() {
        return task -> executor.execute(guarded(task));
    }

    /** Runs {@code step} every {@code period}, the first time after one period. */
    void every(Duration period, Runnable step) {
        executor.scheduleWithFixedDelay(guarded(step), period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Runs {@code work} on the thread and waits for its result, at most {@code timeout}. */
    <T> T call(Callable<T> work, Duration timeout) throws Exception {
        return executor.submit(work).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Runs what is queued, then stops the thread. */
    @Override
    public void close() throws InterruptedException {
        executor.shutdown();
        if (!executor.awaitTermination(STOP_SECONDS, TimeUnit.SECONDS)) {
            LOG.warn("the engine thread did not stop within {} s", STOP_SECONDS);
        }
    }

    private static Runnable guarded(Runnable step) {
        return () -> {
            try {
                step.run();
            } catch (RuntimeException e) {
                LOG.error("engine step failed", e);
            }
        };
    }
}
