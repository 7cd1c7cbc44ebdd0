package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.store.SqliteFleetStore;
import dev.turnout.orchestrator.store.StoreException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class BatchingExecutorTest {

    @TempDir
    Path data;

    @Test
    void aReportThatDecidedSomethingIsCommittedBeforeTheRestOfItsBatchRuns() throws Exception {
        ScheduledExecutorService engineThread = Executors.newSingleThreadScheduledExecutor();
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            AtomicBoolean decided = new AtomicBoolean();
            BatchingExecutor reports = new BatchingExecutor(engineThread, store, decided::get);
            List<String> order = new CopyOnWriteArrayList<>();
            CountDownLatch hold = new CountDownLatch(1);
            engineThread.execute(() -> awaitQuietly(hold)); // the reports below queue up behind this
            for (int i = 1; i <= 6; i++) {
                int n = i;
                reports.execute(() -> {
                    order.add("report " + n);
                    if (n == 2) {
                        decided.set(true);
                        store.afterCommit(() -> {
                            decided.set(false);
                            order.add("commit after report 2");
                        });
                    } else if (n == 6) {
                        store.afterCommit(() -> order.add("commit after report 6"));
                    }
                });
            }
            hold.countDown();
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            assertThat(order).containsExactly("report 1", "report 2", "commit after report 2", "report 3", "report 4",
                    "report 5", "report 6", "commit after report 6");
        } finally {
            engineThread.shutdownNow();
        }
    }

    @Test
    void engineWorkThatShouldNotWaitRunsBeforeTheRestOfTheQueuedReports() throws Exception {
        ScheduledExecutorService engineThread = Executors.newSingleThreadScheduledExecutor();
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            AtomicBoolean stepWaiting = new AtomicBoolean();
            BatchingExecutor reports = new BatchingExecutor(engineThread, store, () -> false, stepWaiting::get,
                    BatchingExecutor.MAX_BATCH);
            List<String> order = new CopyOnWriteArrayList<>();
            CountDownLatch hold = new CountDownLatch(1);
            engineThread.execute(() -> awaitQuietly(hold)); // 200 reports queue up behind this, in one batch
            for (int i = 1; i <= 200; i++) {
                int n = i;
                reports.execute(() -> {
                    order.add("report " + n);
                    if (n == 2) { // e.g. a wave starts: the engine queues its next activations
                        stepWaiting.set(true);
                        engineThread.execute(() -> {
                            stepWaiting.set(false);
                            order.add("step");
                        });
                    }
                });
            }
            hold.countDown();
            for (int i = 0; i < 4; i++) {
                engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            }
            assertThat(order).hasSize(201);
            assertThat(order.subList(0, 3)).as("the step runs right after the report that queued it, not after 198 more")
                    .containsExactly("report 1", "report 2", "step");
            assertThat(order.subList(3, 201)).as("the reports go on, in order").isEqualTo(
                    java.util.stream.IntStream.rangeClosed(3, 200).mapToObj(n -> "report " + n).toList());
        } finally {
            engineThread.shutdownNow();
        }
    }

    @Test
    void aDevicesOutcomeRunsBeforeOtherDevicesStagingReportsButNeverBeforeItsOwnEarlierReports() throws Exception {
        ScheduledExecutorService engineThread = Executors.newSingleThreadScheduledExecutor();
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            BatchingExecutor reports = new BatchingExecutor(engineThread, store, () -> false);
            List<String> order = new CopyOnWriteArrayList<>();
            CountDownLatch hold = new CountDownLatch(1);
            engineThread.execute(() -> awaitQuietly(hold)); // everything below queues up behind this
            reports.execute("pi-1", false, () -> order.add("pi-1 STAGED"));
            reports.execute("pi-2", false, () -> order.add("pi-2 DOWNLOADING"));
            reports.execute("pi-3", true, () -> order.add("pi-3 ACTIVE"));      // nothing of pi-3 waits: jumps the queue
            reports.execute("pi-1", true, () -> order.add("pi-1 ACTIVE"));      // pi-1 STAGED waits: stays behind it
            reports.execute(() -> order.add("forwarded"));                      // not a device's report: in order, not urgent
            reports.execute("pi-4", true, () -> order.add("pi-4 APPLYING"));
            reports.execute("pi-4", true, () -> order.add("pi-4 ACTIVE"));      // urgent after urgent: in order
            reports.execute("pi-2", false, () -> order.add("pi-2 STAGED"));
            hold.countDown();
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            assertThat(order).containsExactly("pi-3 ACTIVE", "pi-4 APPLYING", "pi-4 ACTIVE", "pi-1 STAGED", "pi-2 DOWNLOADING",
                    "pi-1 ACTIVE", "forwarded", "pi-2 STAGED");
        } finally {
            engineThread.shutdownNow();
        }
    }

    @Test
    void onceItsEarlierReportsHaveRunADevicesOutcomeIsUrgentAgain() throws Exception {
        ScheduledExecutorService engineThread = Executors.newSingleThreadScheduledExecutor();
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            BatchingExecutor reports = new BatchingExecutor(engineThread, store, () -> false);
            List<String> order = new CopyOnWriteArrayList<>();
            reports.execute("pi-1", false, () -> order.add("pi-1 STAGED"));
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            CountDownLatch hold = new CountDownLatch(1);
            engineThread.execute(() -> awaitQuietly(hold));
            reports.execute("pi-2", false, () -> order.add("pi-2 STAGED"));
            reports.execute("pi-1", true, () -> order.add("pi-1 ACTIVE"));
            hold.countDown();
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            assertThat(order).containsExactly("pi-1 STAGED", "pi-1 ACTIVE", "pi-2 STAGED");
        } finally {
            engineThread.shutdownNow();
        }
    }

    @Test
    void aReportCountsAsStoredOnlyAfterTheCommitThatHoldsItAndInTheOrderItRan() throws Exception {
        ScheduledExecutorService engineThread = Executors.newSingleThreadScheduledExecutor();
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            BatchingExecutor reports = new BatchingExecutor(engineThread, store, () -> false);
            List<String> order = new CopyOnWriteArrayList<>();
            CountDownLatch hold = new CountDownLatch(1);
            engineThread.execute(() -> awaitQuietly(hold)); // the reports below queue up behind this: one batch
            reports.execute("pi-1", false, () -> order.add("pi-1 STAGED"), () -> order.add("stored pi-1 STAGED"));
            reports.execute("pi-2", true, () -> {
                order.add("pi-2 ACTIVE");
                store.afterCommit(() -> order.add("commit"));
            }, () -> order.add("stored pi-2 ACTIVE"));
            reports.execute(() -> order.add("pi-3 online"), () -> order.add("stored pi-3 online"));
            hold.countDown();
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            assertThat(order).containsExactly("pi-2 ACTIVE", "pi-1 STAGED", "pi-3 online", "commit",
                    "stored pi-2 ACTIVE", "stored pi-1 STAGED", "stored pi-3 online");
        } finally {
            engineThread.shutdownNow();
        }
    }

    @Test
    void aBatchTheStoreRefusedForAReasonThatPassesRunsAgainBeforeAnyOtherAndCountsAsStoredOnlyOnceCommitted() throws Exception {
        ScheduledExecutorService engineThread = Executors.newSingleThreadScheduledExecutor();
        // a full disk: the first two commits are refused, then there is room again
        FailingStore store = new FailingStore(work -> work.transactions <= 2,
                () -> new StoreException("transaction failed: [SQLITE_FULL] database or disk is full (fake)", null, true));
        BatchingExecutor reports = new BatchingExecutor(engineThread, store, () -> false);
        List<String> order = new CopyOnWriteArrayList<>();
        try {
            CountDownLatch hold = new CountDownLatch(1);
            engineThread.execute(() -> awaitQuietly(hold));
            reports.execute("pi-1", false, () -> order.add("pi-1 STAGED"), () -> order.add("stored pi-1 STAGED"));
            reports.execute("pi-2", false, () -> order.add("pi-2 STAGED"), () -> order.add("stored pi-2 STAGED"));
            hold.countDown();
            engineThread.submit(() -> { }).get(10, TimeUnit.SECONDS);
            reports.execute("pi-1", true, () -> order.add("pi-1 ACTIVE"), () -> order.add("stored pi-1 ACTIVE"));
            await().atMost(Duration.ofSeconds(10)).until(() -> order.contains("stored pi-1 ACTIVE"));
            // refused twice (the second time with the report that came meanwhile), then stored, in the order they came
            assertThat(order).containsExactly("pi-1 STAGED", "pi-2 STAGED", "pi-1 STAGED", "pi-2 STAGED", "pi-1 ACTIVE",
                    "pi-1 STAGED", "pi-2 STAGED", "pi-1 ACTIVE", "stored pi-1 STAGED", "stored pi-2 STAGED", "stored pi-1 ACTIVE");
            assertThat(store.failedCommits).isEqualTo(2);
        } finally {
            engineThread.shutdownNow();
        }
    }

    @Test
    void aReportTheStoreRefusesOnItsOwnForAReasonThatWouldComeBackIsDroppedAndTheOthersAreStored() throws Exception {
        ScheduledExecutorService engineThread = Executors.newSingleThreadScheduledExecutor();
        List<String> order = new CopyOnWriteArrayList<>();
        // a constraint the report of pi-2 breaks: every transaction that runs it is refused
        FailingStore store = new FailingStore(work -> order.subList(work.ranBefore, order.size()).contains("pi-2 STAGED"),
                () -> new StoreException("update failed: [SQLITE_CONSTRAINT] (fake)", null, false));
        store.order = order;
        BatchingExecutor reports = new BatchingExecutor(engineThread, store, () -> false);
        try {
            CountDownLatch hold = new CountDownLatch(1);
            engineThread.execute(() -> awaitQuietly(hold));
            reports.execute("pi-1", false, () -> order.add("pi-1 STAGED"), () -> order.add("stored pi-1 STAGED"));
            reports.execute("pi-2", false, () -> order.add("pi-2 STAGED"), () -> order.add("acknowledged pi-2 STAGED"));
            reports.execute("pi-3", false, () -> order.add("pi-3 STAGED"), () -> order.add("stored pi-3 STAGED"));
            hold.countDown();
            await().atMost(Duration.ofSeconds(10)).until(() -> order.contains("stored pi-3 STAGED"));
            reports.execute("pi-1", true, () -> order.add("pi-1 ACTIVE"), () -> order.add("stored pi-1 ACTIVE"));
            await().atMost(Duration.ofSeconds(10)).until(() -> order.contains("stored pi-1 ACTIVE"));
            // the batch, then one report per transaction: pi-2's alone is refused, dropped and acknowledged
            assertThat(order).containsExactly("pi-1 STAGED", "pi-2 STAGED", "pi-3 STAGED",
                    "pi-1 STAGED", "stored pi-1 STAGED", "pi-2 STAGED", "acknowledged pi-2 STAGED", "pi-3 STAGED", "stored pi-3 STAGED",
                    "pi-1 ACTIVE", "stored pi-1 ACTIVE");
        } finally {
            engineThread.shutdownNow();
        }
    }

    /**
     * A fake store (SQLite cannot be made to fail at the commit on demand here): a transaction runs its work, then fails
     * at the commit, as a full disk would, when {@code refuses} says so; others commit.
     */
    private static final class FailingStore implements dev.turnout.orchestrator.port.RolloutStore {
        /** The transaction being committed: its number (from 1), and how many entries {@link #order} had before it ran. */
        record Work(int transactions, int ranBefore) {
        }

        private final java.util.function.Predicate<Work> refuses;
        private final java.util.function.Supplier<StoreException> failure;
        List<String> order = List.of();
        int transactions;
        int failedCommits;

        FailingStore(java.util.function.Predicate<Work> refuses, java.util.function.Supplier<StoreException> failure) {
            this.refuses = refuses;
            this.failure = failure;
        }

        @Override
        public void inTransaction(Runnable work) {
            int before = order.size();
            work.run();
            if (refuses.test(new Work(++transactions, before))) {
                failedCommits++;
                throw failure.get();
            }
        }

        @Override
        public void saveRollout(dev.turnout.orchestrator.domain.Rollout rollout) {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.util.Optional<dev.turnout.orchestrator.domain.Rollout> findRollout(String id) {
            throw new UnsupportedOperationException();
        }

        @Override
        public List<dev.turnout.orchestrator.domain.Rollout> listRollouts() {
            throw new UnsupportedOperationException();
        }

        @Override
        public List<dev.turnout.orchestrator.domain.Rollout> activeRollouts() {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.util.Optional<dev.turnout.orchestrator.domain.Release> findRelease(String app, String version) {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.util.Optional<String> findFloor(String app) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void appendAudit(dev.turnout.orchestrator.store.AuditEntry entry) {
            throw new UnsupportedOperationException();
        }
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
