package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.port.ReportExecutor;
import dev.turnout.orchestrator.port.RolloutStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * Runs device reports on the engine thread, many per store transaction: under load a burst of
 * status events costs one commit instead of one per event, and when the fleet is quiet each report
 * still runs at once. A report that fails is logged and does not take its batch down.
 *
 * <p>Two lanes. Urgent reports (a device's outcome after its activation, which may complete a wave)
 * run before the rest, so the next wave is not decided behind the staging reports of a whole fleet
 * (measured at 2,000 devices on Mosquitto before the lanes: the deciding report waited 120-890 ms
 * behind up to 2,000 others). Each device's reports still run in the order they came: an urgent
 * report of a device that has reports waiting in the other lane joins them there.
 *
 * <p>With a store shared by several orchestrators (PostgreSQL) each report is a transaction of its own.
 * Reports of one device reach both instances (a shared subscription spreads them), and a batch holds
 * the row locks of all its reports until it commits: two batches that had each locked a row the other
 * wanted deadlocked, PostgreSQL aborted one, and in PostgreSQL an error ends the transaction for every
 * later statement, so the whole batch of reports was lost (MosquittoSharedSubscriptionIT lost reports so
 * in one CI run of 2026-12-06). One report per transaction takes the rows of one device in one order
 * (its devices row, then its apps), so two instances wait for each other instead.
 *
 * <p>Each report's {@code whenStored} step runs after its batch has committed, in the order the batch ran
 * them; a batch whose commit fails runs none (the transport then never acknowledges those reports, and the
 * broker hands them over again after a reconnect: issue 20, "zero lost reports").
 */
final class BatchingExecutor implements ReportExecutor {

    private static final Logger LOG = LoggerFactory.getLogger(BatchingExecutor.class);
    private static final Logger DECISIONS = LoggerFactory.getLogger("dev.turnout.orchestrator.engine.WaveDecisions");
    /** Reports per transaction at most, so HTTP readers of the store never wait long. */
    static final int MAX_BATCH = 500;

    /** A report, its device (null: none), when it was handed over (System.nanoTime()), and what to run once it is committed (null: nothing). */
    private record Queued(Runnable report, String deviceId, long at, Runnable whenStored) {
    }

    private final ExecutorService engineThread;
    private final RolloutStore store;
    /** Asked after each report: true ends the batch there (its commit publishes what was decided). */
    private final BooleanSupplier commitNow;
    /** Asked before each report after the first: true ends the batch, so that engine work queued behind it runs first. */
    private final BooleanSupplier yieldNow;
    private final ConcurrentLinkedQueue<Queued> urgent = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Queued> rest = new ConcurrentLinkedQueue<>();
    /** Per device, its reports waiting in {@link #rest}; a device absent has none. */
    private final Map<String, Integer> waitingInRest = new ConcurrentHashMap<>();
    /** Reports waiting now in both lanes (counted: ConcurrentLinkedQueue.size() walks the queue). */
    private final AtomicInteger waiting = new AtomicInteger();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final int maxBatch;

    BatchingExecutor(ExecutorService engineThread, RolloutStore store, BooleanSupplier commitNow) {
        this(engineThread, store, commitNow, () -> false, MAX_BATCH);
    }

    /**
     * {@code yieldNow}: asked before each report but the first of a batch; true ends the batch there (the
     * engine has a step queued that must not wait for every report that came before it: activations of a
     * started wave). {@code maxBatch}: reports per transaction at most (1 with a shared store, see above).
     */
    BatchingExecutor(ExecutorService engineThread, RolloutStore store, BooleanSupplier commitNow, BooleanSupplier yieldNow,
                     int maxBatch) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be at least 1");
        }
        this.engineThread = engineThread;
        this.store = store;
        this.commitNow = commitNow;
        this.yieldNow = yieldNow;
        this.maxBatch = maxBatch;
    }

    @Override
    public void execute(Runnable report) {
        execute(report, null);
    }

    @Override
    public void execute(Runnable report, Runnable whenStored) {
        rest.add(new Queued(report, null, System.nanoTime(), whenStored));
        scheduleDrain();
    }

    @Override
    public void execute(String deviceId, boolean isUrgent, Runnable report) {
        execute(deviceId, isUrgent, report, null);
    }

    @Override
    public void execute(String deviceId, boolean isUrgent, Runnable report, Runnable whenStored) {
        Queued q = new Queued(report, deviceId, System.nanoTime(), whenStored);
        // atomic per device against the drain's decrement: urgent only while none of its reports waits in the other lane
        waitingInRest.compute(deviceId, (id, n) -> {
            if (isUrgent && n == null) {
                urgent.add(q);
                return null;
            }
            rest.add(q);
            return n == null ? 1 : n + 1;
        });
        scheduleDrain();
    }

    private void scheduleDrain() {
        waiting.incrementAndGet();
        if (scheduled.compareAndSet(false, true)) {
            try {
                engineThread.execute(this::drain);
            } catch (RejectedExecutionException e) {
                scheduled.set(false);
                throw e;
            }
        }
    }

    private Queued next() {
        Queued q = urgent.poll();
        if (q == null) {
            q = rest.poll();
            if (q != null && q.deviceId() != null) {
                waitingInRest.computeIfPresent(q.deviceId(), (id, n) -> n <= 1 ? null : n - 1);
            }
        }
        if (q != null) {
            waiting.decrementAndGet();
        }
        return q;
    }

    private void drain() {
        scheduled.set(false);
        List<Runnable> stored = new ArrayList<>();
        try {
            store.inTransaction(() -> {
                for (int n = 0; n < maxBatch; n++) {
                    if (n > 0 && yieldNow.getAsBoolean()) {
                        return; // the drain goes on behind the step (queued after it, below)
                    }
                    Queued next = next();
                    if (next == null) {
                        return;
                    }
                    long takenUp = System.nanoTime();
                    try {
                        next.report().run();
                    } catch (RuntimeException e) {
                        // acknowledged all the same once the batch commits: it would fail the same way every time it came back
                        LOG.error("engine step failed", e);
                    }
                    if (next.whenStored() != null) {
                        stored.add(next.whenStored());
                    }
                    if (commitNow.getAsBoolean()) {
                        // a decision waits for this commit: the next wave's devices must not wait for the batch. How long
                        // the report that caused it had waited for the engine is the part of a decision's latency that
                        // the engine's own timer (from taking the report up) does not see.
                        DECISIONS.info("a report that decided desired states waited {} ms for the engine ({} report(s) in this"
                                + " batch before it, {} still queued; handed over at {} ns)",
                                String.format(Locale.ROOT, "%.1f", (takenUp - next.at()) / 1e6), n, waiting.get(), next.at());
                        return;
                    }
                }
            });
            runAll(stored);
        } catch (RuntimeException e) {
            LOG.error("a batch of {} device report(s) could not be stored; they stay unacknowledged", Math.max(1, stored.size()), e);
        }
        if ((!urgent.isEmpty() || !rest.isEmpty()) && scheduled.compareAndSet(false, true)) {
            engineThread.execute(this::drain);
        }
    }

    private static void runAll(List<Runnable> steps) {
        for (Runnable step : steps) {
            try {
                step.run();
            } catch (RuntimeException e) {
                LOG.error("a step after a committed batch failed", e);
            }
        }
    }
}
