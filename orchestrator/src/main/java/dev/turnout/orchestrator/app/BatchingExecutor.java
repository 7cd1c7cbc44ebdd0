package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.port.ReportExecutor;
import dev.turnout.orchestrator.port.RolloutStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
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
 * report of a device whose earlier reports wait in the other lane takes them along, ahead of the
 * other devices' (before 2026-12-07 it joined them at the back of that lane: a canary's ACTIVE
 * waited up to 1 s behind the fleet's staging reports because its own STAGED was queued there).
 * Whoever runs other long work on the engine thread asks {@link #urgentWaiting()} and yields.
 *
 * <p>With a store shared by several orchestrators (PostgreSQL) each report is a transaction of its own.
 * Reports of one device reach both instances (a shared subscription spreads them), and a batch holds
 * the row locks of all its reports until it commits: two batches that had each locked a row the other
 * wanted deadlocked, PostgreSQL aborted one, and in PostgreSQL an error ends the transaction for every
 * later statement, so the whole batch of reports was lost (MosquittoSharedSubscriptionIT lost reports so
 * in one CI run of 2026-12-06). One report per transaction takes the rows of one device in one order
 * (its devices row, then its apps), so two instances wait for each other instead.
 */
final class BatchingExecutor implements ReportExecutor {

    private static final Logger LOG = LoggerFactory.getLogger(BatchingExecutor.class);
    private static final Logger DECISIONS = LoggerFactory.getLogger("dev.turnout.orchestrator.engine.WaveDecisions");
    /** Reports per transaction at most, so HTTP readers of the store never wait long. */
    static final int MAX_BATCH = 500;

    /** A report, its device (null: none), and when it was handed over (System.nanoTime()). */
    private record Queued(Runnable report, String deviceId, long at) {
    }

    private final ExecutorService engineThread;
    private final RolloutStore store;
    /** Asked after each report: true ends the batch there (its commit publishes what was decided). */
    private final BooleanSupplier commitNow;
    /** Guards the lanes and the devices' queues (one writer, the MQTT client's thread, and the engine thread). */
    private final Object lock = new Object();
    /** Devices with an urgent report waiting: each runs every report it has waiting, in order. Guarded by lock. */
    private final Set<String> urgent = new LinkedHashSet<>();
    /** Reports in arrival order: a device's id (one of its reports, the oldest still waiting) or a report of no device. */
    private final ArrayDeque<Object> rest = new ArrayDeque<>();
    /** Per device, its reports not run yet, oldest first; a device absent has none. Guarded by lock. */
    private final Map<String, ArrayDeque<Queued>> byDevice = new HashMap<>();
    /** Reports waiting now in both lanes. */
    private final AtomicInteger waiting = new AtomicInteger();
    /** Devices in {@link #urgent}, read without the lock by {@link #urgentWaiting()}. */
    private final AtomicInteger urgentDevices = new AtomicInteger();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final int maxBatch;

    BatchingExecutor(ExecutorService engineThread, RolloutStore store, BooleanSupplier commitNow) {
        this(engineThread, store, commitNow, MAX_BATCH);
    }

    /** {@code maxBatch}: reports per transaction at most (1 with a shared store, see above). */
    BatchingExecutor(ExecutorService engineThread, RolloutStore store, BooleanSupplier commitNow, int maxBatch) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be at least 1");
        }
        this.engineThread = engineThread;
        this.store = store;
        this.commitNow = commitNow;
        this.maxBatch = maxBatch;
    }

    @Override
    public void execute(Runnable report) {
        synchronized (lock) {
            rest.add(new Queued(report, null, System.nanoTime()));
        }
        scheduleDrain();
    }

    @Override
    public void execute(String deviceId, boolean isUrgent, Runnable report) {
        Queued q = new Queued(report, deviceId, System.nanoTime());
        synchronized (lock) {
            byDevice.computeIfAbsent(deviceId, id -> new ArrayDeque<>()).add(q);
            if (!isUrgent) {
                rest.add(deviceId);
            } else if (urgent.add(deviceId)) {
                urgentDevices.incrementAndGet();
            }
        }
        scheduleDrain();
    }

    /** True while an urgent report waits: work on the engine thread that can be cut short (staging, activation steps) should yield. */
    boolean urgentWaiting() {
        return urgentDevices.get() > 0;
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

    /**
     * The reports to run next: every waiting report of the first device with an urgent one, else the oldest other
     * report (a device's oldest, which an urgent report may have taken along already: then the next); empty: none.
     */
    private List<Queued> next() {
        synchronized (lock) {
            Iterator<String> first = urgent.iterator();
            if (first.hasNext()) {
                String deviceId = first.next();
                first.remove();
                urgentDevices.decrementAndGet();
                ArrayDeque<Queued> all = byDevice.remove(deviceId);
                waiting.addAndGet(-all.size());
                return List.copyOf(all);
            }
            Object oldest;
            while ((oldest = rest.poll()) != null) {
                if (oldest instanceof Queued report) {
                    waiting.decrementAndGet();
                    return List.of(report);
                }
                String deviceId = (String) oldest;
                ArrayDeque<Queued> its = byDevice.get(deviceId);
                if (its != null) {
                    Queued report = its.poll();
                    if (its.isEmpty()) {
                        byDevice.remove(deviceId);
                    }
                    waiting.decrementAndGet();
                    return List.of(report);
                }
            }
            return List.of();
        }
    }

    private boolean anyWaiting() {
        synchronized (lock) {
            return !urgent.isEmpty() || !rest.isEmpty();
        }
    }

    private void drain() {
        scheduled.set(false);
        try {
            store.inTransaction(() -> {
                int n = 0;
                while (n < maxBatch) {
                    List<Queued> taken = next();
                    if (taken.isEmpty()) {
                        return;
                    }
                    if (runAndCommitNow(taken, n)) {
                        return;
                    }
                    n += taken.size();
                }
            });
        } catch (RuntimeException e) {
            LOG.error("a batch of device reports could not be stored", e);
        }
        if (anyWaiting() && scheduled.compareAndSet(false, true)) {
            engineThread.execute(this::drain);
        }
    }

    /**
     * Runs one device's reports (or one report of none), in order; true when one of them decided desired states: the batch
     * ends there, so that its commit publishes them, and the device's reports after it go back to the front of its queue,
     * urgent (they run after the commit).
     */
    private boolean runAndCommitNow(List<Queued> taken, int before) {
        for (int i = 0; i < taken.size(); i++) {
            Queued next = taken.get(i);
            long takenUp = System.nanoTime();
            try {
                next.report().run();
            } catch (RuntimeException e) {
                LOG.error("engine step failed", e);
            }
            if (commitNow.getAsBoolean()) {
                // a decision waits for this commit: the next wave's devices must not wait for the batch. How long
                // the report that caused it had waited for the engine is the part of a decision's latency that
                // the engine's own timer (from taking the report up) does not see.
                DECISIONS.info("a report that decided desired states waited {} ms for the engine ({} report(s) in this"
                        + " batch before it, {} still queued; handed over at {} ns)",
                        String.format(Locale.ROOT, "%.1f", (takenUp - next.at()) / 1e6), before + i, waiting.get(), next.at());
                putBackFirst(taken.subList(i + 1, taken.size()));
                return true;
            }
        }
        return false;
    }

    /** Reports of one device taken but not run: first in its queue again, and urgent. */
    private void putBackFirst(List<Queued> reports) {
        if (reports.isEmpty()) {
            return;
        }
        String deviceId = reports.get(0).deviceId();
        synchronized (lock) {
            ArrayDeque<Queued> its = byDevice.computeIfAbsent(deviceId, id -> new ArrayDeque<>());
            for (int i = reports.size() - 1; i >= 0; i--) {
                its.addFirst(reports.get(i));
            }
            waiting.addAndGet(reports.size());
            if (urgent.add(deviceId)) {
                urgentDevices.incrementAndGet();
            }
        }
    }
}
