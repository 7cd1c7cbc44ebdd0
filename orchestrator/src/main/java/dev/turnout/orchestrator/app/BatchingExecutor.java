package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.port.RolloutStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs device reports on the engine thread in order, many per store transaction: under load a
 * burst of status events costs one commit instead of one per event, and when the fleet is quiet
 * each report still runs at once. A report that fails is logged and does not take its batch down.
 */
final class BatchingExecutor implements Executor {

    private static final Logger LOG = LoggerFactory.getLogger(BatchingExecutor.class);
    /** Reports per transaction at most, so HTTP readers of the store never wait long. */
    static final int MAX_BATCH = 500;

    private final ExecutorService engineThread;
    private final RolloutStore store;
    /** Asked after each report: true ends the batch there (its commit publishes what was decided). */
    private final java.util.function.BooleanSupplier commitNow;
    private final ConcurrentLinkedQueue<Runnable> queue = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean scheduled = new AtomicBoolean();

    BatchingExecutor(ExecutorService engineThread, RolloutStore store, java.util.function.BooleanSupplier commitNow) {
        this.engineThread = engineThread;
        this.store = store;
        this.commitNow = commitNow;
    }

    @Override
    public void execute(Runnable report) {
        queue.add(report);
        if (scheduled.compareAndSet(false, true)) {
            try {
                engineThread.execute(this::drain);
            } catch (RejectedExecutionException e) {
                scheduled.set(false);
                throw e;
            }
        }
    }

    private void drain() {
        scheduled.set(false);
        try {
            store.inTransaction(() -> {
                for (int n = 0; n < MAX_BATCH; n++) {
                    Runnable next = queue.poll();
                    if (next == null) {
                        return;
                    }
                    try {
                        next.run();
                    } catch (RuntimeException e) {
                        LOG.error("engine step failed", e);
                    }
                    if (commitNow.getAsBoolean()) {
                        return; // a decision waits for this commit: the next wave's devices must not wait for the batch
                    }
                }
            });
        } catch (RuntimeException e) {
            LOG.error("a batch of device reports could not be stored", e);
        }
        if (!queue.isEmpty() && scheduled.compareAndSet(false, true)) {
            engineThread.execute(this::drain);
        }
    }
}
