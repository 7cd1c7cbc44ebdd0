package dev.turnout.orchestrator.mqtt;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class TwoLaneQueueTest {

    @Test
    void aDesiredStateLeavesBeforeTheRolloutEventsQueuedAheadOfIt() throws Exception {
        TwoLaneQueue<String> q = new TwoLaneQueue<>();
        q.add("event DEVICE_SUCCEEDED pi-1");
        q.add("event DEVICE_SUCCEEDED pi-2");
        q.add("event WAVE_STARTED 3");
        q.addUrgent("ACTIVATE pi-3");
        q.addUrgent("ACTIVATE pi-4");
        assertThat(q.size()).isEqualTo(5);

        List<String> out = new ArrayList<>();
        for (String next = q.poll(10); next != null; next = q.poll(10)) {
            out.add(next);
        }
        assertThat(out).containsExactly("ACTIVATE pi-3", "ACTIVATE pi-4",
                "event DEVICE_SUCCEEDED pi-1", "event DEVICE_SUCCEEDED pi-2", "event WAVE_STARTED 3");
        assertThat(q.size()).isZero();
    }

    @Test
    void aLongRunOfDesiredStatesLetsAnEventThroughEveryFewSoMonitorsAreNotStarved() throws Exception {
        TwoLaneQueue<String> q = new TwoLaneQueue<>();
        q.add("event 1");
        q.add("event 2");
        for (int i = 1; i <= 20; i++) {
            q.addUrgent("STAGE " + i);
        }
        List<String> out = new ArrayList<>();
        for (String next = q.poll(10); next != null; next = q.poll(10)) {
            out.add(next);
        }
        int n = TwoLaneQueue.URGENT_RUN;
        assertThat(out.indexOf("event 1")).isEqualTo(n);
        assertThat(out.indexOf("event 2")).isEqualTo(2 * n + 1);
        assertThat(out.stream().filter(e -> e.startsWith("STAGE")).toList())
                .isEqualTo(java.util.stream.IntStream.rangeClosed(1, 20).mapToObj(i -> "STAGE " + i).toList());
        assertThat(out).hasSize(22);
    }

    @Test
    void manyWritersOneReaderLoseNothingAndKeepEachLanesOrder() throws Exception {
        TwoLaneQueue<Integer> q = new TwoLaneQueue<>();
        int perLane = 20_000;
        ExecutorService writers = Executors.newFixedThreadPool(2);
        CountDownLatch go = new CountDownLatch(1);
        writers.execute(() -> {
            await(go);
            for (int i = 0; i < perLane; i++) {
                q.addUrgent(i);
            }
        });
        writers.execute(() -> {
            await(go);
            for (int i = 0; i < perLane; i++) {
                q.add(-1 - i);
            }
        });
        go.countDown();
        int lastUrgent = -1;
        int lastOther = 0;
        for (int n = 0; n < 2 * perLane; n++) {
            Integer next = q.poll(5_000);
            assertThat(next).as("element %d of %d", n, 2 * perLane).isNotNull();
            if (next >= 0) {
                assertThat(next).isEqualTo(lastUrgent + 1);
                lastUrgent = next;
            } else {
                assertThat(next).isEqualTo(lastOther - 1);
                lastOther = next;
            }
        }
        assertThat(q.poll(10)).isNull();
        writers.shutdown();
        assertThat(writers.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
