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

    /** The message is done with: acknowledges it and every later one already done, unless an earlier one is still open. */
    synchronized void done(Receipt receipt) {
        if (receipt == NONE || receipt.connection != connection || receipt.done) {
            return;
        }
        receipt.done = true;
        while (!waiting.isEmpty() && waiting.peek().done) {
            Receipt r = waiting.poll();
            try {
                sender.ack(r.messageId, r.qos);
            } catch (Exception e) {
                // the connection is going: the broker hands the message over again on the next one
                lastFailure = e;
            }
        }
    }

    /** The connection is lost: nothing it received is acknowledged any more. */
    synchronized void connectionLost() {
        connection++;
        waiting.clear();
    }

    /** Messages received and not acknowledged yet. */
    synchronized int unacknowledged() {
        return waiting.size();
    }

    synchronized Exception lastFailure() {
        return lastFailure;
    }
}
