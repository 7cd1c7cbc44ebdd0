package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.port.ReportExecutor;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.orchestrator.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
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
 * them; a batch whose commit fails runs none (the transport does not acknowledge those reports: issue 20, "zero
 * lost reports"). When the store refused it for a reason that passes (a full disk, an I/O error: {@link
 * StoreException#passing()}) the batch's reports are run again, before any other, once the store writes again:
 * tried after 200 ms, then ever less often, up to every {@value #MAX_RETRY_SECONDS} s (the engine reads its rollouts
 * again from the store before, see {@code RolloutEngine}). Any other failure would come back the same way: the
 * reports of that batch are run again one per transaction, and one the store refuses alone is dropped, logged and
 * acknowledged, so that it does not hold up every report after it.
 */
final class BatchingExecutor implements ReportExecutor {

    private static final Logger LOG = LoggerFactory.getLogger(BatchingExecutor.class);
    private static final Logger DECISIONS = LoggerFactory.getLogger("dev.turnout.orchestrator.engine.WaveDecisions");
    /** Reports per transaction at most, so HTTP readers of the store never wait long. */
    static final int MAX_BATCH = 500;
    static final long FIRST_RETRY_MILLIS = 200;
    static final int MAX_RETRY_SECONDS = 5;

    /** A report, its device (null: none), when it was handed over (System.nanoTime()), and what to run once it is committed (null: nothing). */
    private record Queued(Runnable report, String deviceId, long at, Runnable whenStored) {
    }

    private final ScheduledExecutorService engineThread;
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
    /** Reports of batches the store refused, to run again before any other, in their order. Engine thread only. */
    private final ArrayDeque<Queued> retry = new ArrayDeque<>();
    /** Not before this (System.nanoTime()) is {@link #retry} run again; engine thread only. */
    private long retryAt;
    /** How long the last retry waited (0: none failed since the last commit); engine thread only. */
    private long retryDelayMillis;
    /** Reports of {@link #retry} go one per transaction: their batch failed for a reason that may be one of them. */
    private boolean isolating;

    BatchingExecutor(ScheduledExecutorService engineThread, RolloutStore store, BooleanSupplier commitNow) {
        this(engineThread, store, commitNow, () -> false, MAX_BATCH);
    }

    /**
     * {@code yieldNow}: asked before each report but the first of a batch; true ends the batch there (the
     * engine has a step queued that must not wait for every report that came before it: activations of a
     * started wave). {@code maxBatch}: reports per transaction at most (1 with a shared store, see above).
     */
    BatchingExecutor(ScheduledExecutorService engineThread, RolloutStore store, BooleanSupplier commitNow, BooleanSupplier yieldNow,
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
        Queued q = retry.poll();
        if (q != null) {
            waiting.decrementAndGet();
            return q;
        }
        q = urgent.poll();
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
        if (!retry.isEmpty()) {
            long wait = retryAt - System.nanoTime();
            if (wait > 0) {
                if (scheduled.compareAndSet(false, true)) {
                    engineThread.schedule(this::drain, wait, TimeUnit.NANOSECONDS);
                }
                return;
            }
        }
        List<Queued> taken = new ArrayList<>();
        List<Runnable> stored = new ArrayList<>();
        int limit = isolating && !retry.isEmpty() ? 1 : maxBatch;
        try {
            store.inTransaction(() -> {
                for (int n = 0; n < limit; n++) {
                    if (n > 0 && yieldNow.getAsBoolean()) {
                        return; // the drain goes on behind the step (queued after it, below)
                    }
                    Queued next = next();
                    if (next == null) {
                        return;
                    }
                    taken.add(next);
                    long takenUp = System.nanoTime();
                    try {
                        next.report().run();
                    } catch (StoreException e) {
                        throw e; // the store refused a write: nothing of this batch is kept (handled below)
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
            if (retryDelayMillis > 0 && retry.isEmpty()) {
                LOG.info("the store writes again: the device reports it had refused are stored");
                retryDelayMillis = 0;
                isolating = false;
            }
            runAll(stored);
        } catch (RuntimeException e) {
            refused(taken, e);
        }
        if ((!retry.isEmpty() || !urgent.isEmpty() || !rest.isEmpty()) && scheduled.compareAndSet(false, true)) {
            engineThread.execute(this::drain);
        }
    }

    /** The store refused the batch of {@code taken}: its reports run again, first, later (or, alone, are dropped). */
    private void refused(List<Queued> taken, RuntimeException e) {
        boolean passing = StoreException.passing(e);
        if (!passing && isolating && taken.size() == 1) {
            LOG.error("dropped a device report the store refused on its own (it would be refused again); it is acknowledged", e);
            Runnable whenStored = taken.get(0).whenStored();
            if (whenStored != null) {
                runAll(List.of(whenStored));
            }
            return;
        }
        for (int i = taken.size() - 1; i >= 0; i--) {
            retry.addFirst(taken.get(i));
            waiting.incrementAndGet();
        }
        isolating |= !passing;
        boolean first = retryDelayMillis == 0;
        retryDelayMillis = first ? FIRST_RETRY_MILLIS : Math.min(retryDelayMillis * 2, MAX_RETRY_SECONDS * 1000L);
        retryAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(passing ? retryDelayMillis : 0);
        if (passing && first) {
            LOG.error("the store refused a batch of {} device report(s); they stay unacknowledged and are tried again in {} ms",
                    taken.size(), retryDelayMillis, e);
        } else if (passing) { // the trace was logged the first time: a full disk may last hours
            LOG.warn("the store refused a batch of {} device report(s) again ({}); tried again in {} ms", taken.size(),
                    e.getMessage(), retryDelayMillis);
        } else {
            LOG.error("a batch of {} device report(s) could not be stored; they are tried again one by one", taken.size(), e);
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
