package dev.turnout.orchestrator.mqtt;

import java.util.ArrayDeque;

/**
 * Acknowledges the QoS 1 messages a connection received in the order they arrived, each once it is done
 * with (its report stored, or nothing to store): one done early waits for those before it, because MQTT
 * wants PUBACKs in the order of their PUBLISHes (MQTT 5, 4.6). A lost connection forgets what it had not
 * acknowledged: the broker hands those messages over again on the next connection, and an acknowledgement
 * meant for the old connection must not answer a new message that happens to reuse its packet id.
 */
final class OrderedAcks {

    /** Sends one acknowledgement to the broker (Paho's {@code messageArrivedComplete}). */
    interface Sender {
        void ack(int messageId, int qos) throws Exception;
    }

    /** One received message waiting for its acknowledgement. */
    static final class Receipt {
        private final long connection;
        private final int messageId;
        private final int qos;
        private boolean done;

        private Receipt(long connection, int messageId, int qos) {
            this.connection = connection;
            this.messageId = messageId;
            this.qos = qos;
        }
    }

    /** What {@link #arrived} returns for a message that needs no acknowledgement (QoS 0). */
    static final Receipt NONE = new Receipt(-1, 0, 0);

    private final Sender sender;
    private final ArrayDeque<Receipt> waiting = new ArrayDeque<>();
    /** Held while acknowledgements are sent, so that two threads finishing messages send them in order. */
    private final Object sending = new Object();
    private long connection;
    /** The last acknowledgement that could not be sent (null: none); read by tests and logs. */
    private Exception lastFailure;

    OrderedAcks(Sender sender) {
        this.sender = sender;
    }

    /** Notes a message as it arrives; its acknowledgement waits for {@link #done}. */
    synchronized Receipt arrived(int messageId, int qos) {
        if (qos == 0) {
            return NONE;
        }
        Receipt r = new Receipt(connection, messageId, qos);
        waiting.add(r);
        return r;
    }

    /**
     * The message is done with: acknowledges it and every later one already done, unless an earlier one is still open.
     * The acknowledgements are sent outside this object's lock (under a lock of their own, which keeps them in order):
     * the engine thread acknowledges a whole batch of reports at once, and Paho's thread, which notes each message as it
     * arrives, waited 10-20 ms per batch for the lock (JFR, a 2,000-device rollout), holding every report behind it.
     */
    void done(Receipt receipt) {
        if (receipt == NONE) {
            return;
        }
        synchronized (sending) {
            java.util.List<Receipt> ready = new java.util.ArrayList<>();
            synchronized (this) {
                if (receipt.connection != connection || receipt.done) {
                    return;
                }
                receipt.done = true;
                while (!waiting.isEmpty() && waiting.peek().done) {
                    ready.add(waiting.poll());
                }
            }
            for (Receipt r : ready) {
                try {
                    sender.ack(r.messageId, r.qos);
                } catch (Exception e) {
                    // the connection is going: the broker hands the message over again on the next one
                    synchronized (this) {
                        lastFailure = e;
                    }
                }
            }
        }
    }

    /** The connection is lost: nothing it received is acknowledged any more. */
    void connectionLost() {
        synchronized (sending) { // not between taking a message's acknowledgement and sending it: it would answer the new connection
            synchronized (this) {
                connection++;
                waiting.clear();
            }
        }
    }

    /** Messages received and not acknowledged yet. */
    synchronized int unacknowledged() {
        return waiting.size();
    }

    synchronized Exception lastFailure() {
        return lastFailure;
    }
}
