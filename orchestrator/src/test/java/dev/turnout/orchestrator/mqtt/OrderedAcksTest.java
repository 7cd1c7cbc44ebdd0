package dev.turnout.orchestrator.mqtt;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class OrderedAcksTest {

    private final List<String> sent = new ArrayList<>();
    private final OrderedAcks acks = new OrderedAcks((id, qos) -> sent.add(id + "/" + qos));

    @Test
    void aMessageDoneEarlyWaitsForTheOnesThatArrivedBeforeIt() {
        OrderedAcks.Receipt first = acks.arrived(11, 1);
        OrderedAcks.Receipt second = acks.arrived(12, 1);
        OrderedAcks.Receipt third = acks.arrived(13, 1);

        acks.done(third);
        acks.done(second);
        assertThat(sent).as("nothing before the first is done").isEmpty();
        assertThat(acks.unacknowledged()).isEqualTo(3);

        acks.done(first);
        assertThat(sent).containsExactly("11/1", "12/1", "13/1");
        assertThat(acks.unacknowledged()).isZero();
    }

    @Test
    void messagesArriveWhileABatchIsBeingAcknowledgedAndAnAckNeverCrossesToTheNextConnection() throws Exception {
        java.util.concurrent.CountDownLatch sending = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        List<String> slow = java.util.Collections.synchronizedList(new ArrayList<>());
        OrderedAcks slowAcks = new OrderedAcks((id, qos) -> {
            sending.countDown();
            release.await(); // e.g. Paho's send queue is busy
            slow.add(id + "/" + qos);
        });
        OrderedAcks.Receipt first = slowAcks.arrived(1, 1);
        Thread engine = new Thread(() -> slowAcks.done(first));
        engine.start();
        assertThat(sending.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        // the broker's next message is noted at once, although the first's acknowledgement is still being sent
        java.util.concurrent.CompletableFuture<OrderedAcks.Receipt> next =
                java.util.concurrent.CompletableFuture.supplyAsync(() -> slowAcks.arrived(2, 1));
        OrderedAcks.Receipt second = next.get(5, java.util.concurrent.TimeUnit.SECONDS);
        // a connection lost meanwhile waits until the acknowledgement taken for the old connection is sent
        java.util.concurrent.CompletableFuture<Void> lost = java.util.concurrent.CompletableFuture.runAsync(slowAcks::connectionLost);
        Thread.sleep(100);
        assertThat(lost).isNotDone();
        release.countDown();
        engine.join(5_000);
        lost.get(5, java.util.concurrent.TimeUnit.SECONDS);
        slowAcks.done(second); // it belonged to the lost connection: the broker sends it again, and it is not acknowledged
        assertThat(slow).containsExactly("1/1");
    }

    @Test
    void qosZeroNeedsNoAcknowledgementAndHoldsNothingUp() {
        OrderedAcks.Receipt health = acks.arrived(0, 0);
        OrderedAcks.Receipt status = acks.arrived(7, 1);
        acks.done(status);
        acks.done(health);
        assertThat(sent).containsExactly("7/1");
    }

    @Test
    void doneTwiceAcknowledgesOnce() {
        OrderedAcks.Receipt r = acks.arrived(5, 1);
        acks.done(r);
        acks.done(r);
        assertThat(sent).containsExactly("5/1");
    }

    @Test
    void afterALostConnectionTheOldConnectionsMessagesAreNeverAcknowledged() {
        OrderedAcks.Receipt old = acks.arrived(1, 1);
        acks.connectionLost();
        OrderedAcks.Receipt redelivered = acks.arrived(1, 1); // the broker hands the same message over again
        OrderedAcks.Receipt next = acks.arrived(2, 1);

        acks.done(old); // stored late, after the loss: must not answer the new connection's id 1
        assertThat(sent).isEmpty();

        acks.done(next);
        acks.done(redelivered);
        assertThat(sent).containsExactly("1/1", "2/1");
    }

    @Test
    void anAcknowledgementThatCannotBeSentDoesNotStopTheOthers() {
        List<Integer> tried = new ArrayList<>();
        OrderedAcks failing = new OrderedAcks((id, qos) -> {
            tried.add(id);
            if (id == 1) {
                throw new IllegalStateException("not connected");
            }
        });
        OrderedAcks.Receipt a = failing.arrived(1, 1);
        OrderedAcks.Receipt b = failing.arrived(2, 1);
        failing.done(b);
        failing.done(a);
        assertThat(tried).containsExactly(1, 2);
        assertThat(failing.lastFailure()).hasMessage("not connected");
    }
}
