package dev.turnout.orchestrator.mqtt;

import dev.turnout.orchestrator.mqtt.OutboundQueue.Lane;
import dev.turnout.orchestrator.mqtt.OutboundQueue.Outgoing;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class OutboundQueueTest {

    private static Outgoing desired(String device, String state) {
        return new Outgoing("turnout/v1/devices/" + device + "/desired", state.getBytes(StandardCharsets.UTF_8), true);
    }

    private static Outgoing event(String what) {
        return new Outgoing("turnout/v1/rollouts/r1/events", what.getBytes(StandardCharsets.UTF_8), false);
    }

    private static String text(Outgoing o) {
        return new String(o.payload, StandardCharsets.UTF_8);
    }

    /** Takes and acknowledges at once everything queued, in the order it leaves. */
    private static List<String> drain(OutboundQueue q) throws InterruptedException {
        List<String> out = new ArrayList<>();
        for (Outgoing next = q.take(10); next != null; next = q.take(10)) {
            out.add(text(next));
            q.acknowledged(next);
        }
        return out;
    }

    @Test
    void aWavesActivateLeavesBeforeTheStagesAndEventsQueuedAheadOfIt() throws Exception {
        OutboundQueue q = new OutboundQueue(1000, 200);
        for (int i = 1; i <= 5; i++) {
            q.add(desired("stage-" + i, "STAGE " + i), Lane.BACKGROUND);
        }
        q.add(event("event DEVICE_SUCCEEDED pi-1"), Lane.EVENTS);
        q.add(desired("pi-3", "ACTIVATE pi-3"), Lane.DECISION);
        q.add(desired("pi-4", "ACTIVATE pi-4"), Lane.DECISION);

        List<String> out = drain(q);
        assertThat(out.subList(0, 2)).containsExactly("ACTIVATE pi-3", "ACTIVATE pi-4");
        // the other two lanes take turns, each in its own order
        assertThat(out.subList(2, out.size())).containsExactly("STAGE 1", "event DEVICE_SUCCEEDED pi-1", "STAGE 2",
                "STAGE 3", "STAGE 4", "STAGE 5");
        assertThat(q.size()).isZero();
    }

    @Test
    void aDecisionIsNotHeldBehindTheBackgroundInFlightButBackgroundWaitsForItsShareOfTheWindow() throws Exception {
        OutboundQueue q = new OutboundQueue(10, 3);
        for (int i = 1; i <= 6; i++) {
            q.add(desired("stage-" + i, "STAGE " + i), Lane.BACKGROUND);
        }
        List<Outgoing> inFlight = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            inFlight.add(q.take(10));
        }
        assertThat(inFlight).extracting(OutboundQueueTest::text).containsExactly("STAGE 1", "STAGE 2", "STAGE 3");
        assertThat(q.take(10)).as("the background lanes hold their whole share of the window").isNull();

        q.add(desired("pi-9", "ACTIVATE pi-9"), Lane.DECISION);
        Outgoing activate = q.take(10);
        assertThat(activate).isNotNull();
        assertThat(text(activate)).isEqualTo("ACTIVATE pi-9");
        assertThat(q.take(10)).isNull();

        q.acknowledged(inFlight.get(0));
        assertThat(text(q.take(10))).isEqualTo("STAGE 4");
        assertThat(q.size()).as("2 queued, 4 in flight").isEqualTo(6);
    }

    @Test
    void theWholeWindowBoundsDecisionsToo() throws Exception {
        OutboundQueue q = new OutboundQueue(2, 1);
        q.add(desired("a", "ACTIVATE a"), Lane.DECISION);
        q.add(desired("b", "ACTIVATE b"), Lane.DECISION);
        q.add(desired("c", "ACTIVATE c"), Lane.DECISION);
        Outgoing a = q.take(10);
        q.take(10);
        assertThat(q.take(10)).isNull();
        q.acknowledged(a);
        assertThat(text(q.take(10))).isEqualTo("ACTIVATE c");
    }

    @Test
    void aDesiredStateNeverOvertakesAnOlderOneOfItsDeviceAndNothingIsDropped() throws Exception {
        OutboundQueue q = new OutboundQueue(1000, 200);
        q.add(desired("pi-2", "STAGE pi-2 seq 1"), Lane.BACKGROUND);
        q.add(desired("pi-1", "STAGE pi-1 seq 1"), Lane.BACKGROUND);
        q.add(desired("pi-5", "STAGE pi-5 seq 1"), Lane.BACKGROUND);
        // the canary's decision takes its STAGE along, just ahead of it
        q.add(desired("pi-1", "ACTIVATE pi-1 seq 2"), Lane.DECISION);
        q.add(desired("pi-3", "ROLLBACK pi-3 seq 1"), Lane.DECISION);
        // re-signed in the background while the decision is queued: follows it in the decision lane
        q.add(desired("pi-3", "ROLLBACK pi-3 seq 2 (re-signed)"), Lane.BACKGROUND);
        q.add(desired("pi-4", "STAGE pi-4 seq 1"), Lane.BACKGROUND);
        assertThat(q.size()).isEqualTo(7);

        List<String> out = drain(q);
        assertThat(out).containsExactly("STAGE pi-1 seq 1", "ACTIVATE pi-1 seq 2", "STAGE pi-2 seq 1",
                "ROLLBACK pi-3 seq 1", "ROLLBACK pi-3 seq 2 (re-signed)", "STAGE pi-5 seq 1", "STAGE pi-4 seq 1");
        assertThat(q.size()).isZero();
    }

    @Test
    void aStateAlreadyHandedToTheClientIsFollowedByTheNewerOne() throws Exception {
        OutboundQueue q = new OutboundQueue(1000, 200);
        q.add(desired("pi-1", "STAGE seq 1"), Lane.BACKGROUND);
        Outgoing first = q.take(10);
        q.add(desired("pi-1", "ACTIVATE seq 2"), Lane.DECISION);
        assertThat(text(first)).isEqualTo("STAGE seq 1");
        assertThat(drain(q)).containsExactly("ACTIVATE seq 2");
    }

    @Test
    void eventsAndLogRequestsKeepTheirOrder() throws Exception {
        OutboundQueue q = new OutboundQueue(1000, 200);
        q.add(event("event 1"), Lane.EVENTS);
        q.add(event("event 2"), Lane.EVENTS);
        Outgoing logRequest = new Outgoing("turnout/v1/devices/pi-1/logs/request", "logs 1".getBytes(StandardCharsets.UTF_8), false);
        q.add(logRequest, Lane.DECISION);
        q.add(new Outgoing(logRequest.topic, "logs 2".getBytes(StandardCharsets.UTF_8), false), Lane.DECISION);
        assertThat(drain(q)).containsExactly("logs 1", "logs 2", "event 1", "event 2");
    }

    @Test
    void aLongRunOfDecisionsLetsTheOtherLanesThroughEveryFewSoMonitorsAreNotStarved() throws Exception {
        OutboundQueue q = new OutboundQueue(1000, 200);
        q.add(event("event 1"), Lane.EVENTS);
        q.add(event("event 2"), Lane.EVENTS);
        for (int i = 1; i <= 20; i++) {
            q.add(desired("pi-" + i, "ACTIVATE " + i), Lane.DECISION);
        }
        List<String> out = drain(q);
        int n = OutboundQueue.DECISION_RUN;
        assertThat(out.indexOf("event 1")).isEqualTo(n);
        assertThat(out.indexOf("event 2")).isEqualTo(2 * n + 1);
        assertThat(out.stream().filter(e -> e.startsWith("ACTIVATE")).toList())
                .isEqualTo(java.util.stream.IntStream.rangeClosed(1, 20).mapToObj(i -> "ACTIVATE " + i).toList());
        assertThat(out).hasSize(22);
    }

    @Test
    void aReaderWaitingForRoomIsWokenByAnAcknowledgement() throws Exception {
        OutboundQueue q = new OutboundQueue(1, 1);
        q.add(desired("a", "ACTIVATE a"), Lane.DECISION);
        q.add(desired("b", "ACTIVATE b"), Lane.DECISION);
        Outgoing a = q.take(10);
        ExecutorService acker = Executors.newSingleThreadExecutor();
        acker.execute(() -> {
            sleep(100);
            q.acknowledged(a);
        });
        Outgoing b = q.take(5_000);
        assertThat(b).isNotNull();
        assertThat(text(b)).isEqualTo("ACTIVATE b");
        acker.shutdown();
    }

    @Test
    void manyWritersOneReaderLoseNothingAndKeepEachLanesOrder() throws Exception {
        OutboundQueue q = new OutboundQueue(50, 10);
        int perLane = 20_000;
        ExecutorService writers = Executors.newFixedThreadPool(3);
        CountDownLatch go = new CountDownLatch(1);
        for (Lane lane : Lane.values()) {
            writers.execute(() -> {
                await(go);
                for (int i = 0; i < perLane; i++) {
                    // a topic per message: nothing is replaced, every message must come out
                    q.add(new Outgoing(lane + "/" + i, (lane + " " + i).getBytes(StandardCharsets.UTF_8), lane != Lane.EVENTS),
                            lane);
                }
            });
        }
        ExecutorService acks = Executors.newSingleThreadExecutor();
        go.countDown();
        java.util.Map<String, Integer> last = new java.util.HashMap<>();
        for (int n = 0; n < 3 * perLane; n++) {
            Outgoing next = q.take(5_000);
            assertThat(next).as("message %d of %d", n, 3 * perLane).isNotNull();
            String[] parts = text(next).split(" ");
            int i = Integer.parseInt(parts[1]);
            assertThat(i).as(parts[0]).isEqualTo(last.getOrDefault(parts[0], -1) + 1);
            last.put(parts[0], i);
            acks.execute(() -> q.acknowledged(next));
        }
        assertThat(q.take(10)).isNull();
        writers.shutdown();
        acks.shutdown();
        assertThat(writers.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        assertThat(acks.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
        assertThat(q.size()).isZero();
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
