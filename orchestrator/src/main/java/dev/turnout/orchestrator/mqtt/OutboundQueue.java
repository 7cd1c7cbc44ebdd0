package dev.turnout.orchestrator.mqtt;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What the orchestrator has yet to publish, and how much of it the broker has not acknowledged yet. Three lanes:
 * <ul>
 *   <li>{@link Lane#DECISION}: desired states a wave waits on (ACTIVATE, rollback) and log requests;</li>
 *   <li>{@link Lane#BACKGROUND}: desired states nothing waits on (STAGE, states published again at start or re-signed);</li>
 *   <li>{@link Lane#EVENTS}: rollout events, for monitors.</li>
 * </ul>
 * Why: a wave's first ACTIVATE used to leave behind the STAGEs of the later waves and the events queued before it, here
 * and in flight (up to the whole window, 1,000 messages: 90 ms p50 at 10,000 devices on Mosquitto). Now
 * <ul>
 *   <li>a decision goes before the other lanes, except that after {@link #DECISION_RUN} decisions in a row one other
 *       element goes, so that a large wave's activations do not starve monitors (a strict order once held a
 *       10,000-device rollout's events back for 7 s); the two other lanes take turns;</li>
 *   <li>the other lanes hold at most {@link #backgroundWindow} of the in-flight window, so a decision waits behind that
 *       much at most at the broker, never behind the whole window;</li>
 *   <li>a retained message (a device's desired state) never overtakes one queued before it for its topic: an older
 *       state sent after a newer one would leave the older retained at the broker. A decision for a device whose STAGE is
 *       still queued takes the STAGE along into its lane, just ahead of it; a background state queued behind a decision
 *       follows it in the decision lane. Nothing is dropped: every state the engine stored goes out, in its order.</li>
 * </ul>
 * Each lane keeps its order. Many writers, one reader ({@link #take}); {@link #acknowledged} from any thread.
 */
final class OutboundQueue {

    enum Lane { DECISION, BACKGROUND, EVENTS }

    /** Decisions taken in a row at most while another lane has something to send. */
    static final int DECISION_RUN = 2;

    /** One message to publish. */
    static final class Outgoing {
        final String topic;
        final byte[] payload;
        final boolean retained;
        Lane lane;
        /** Taken along into a more urgent lane (a copy went there): skipped here. */
        boolean moved;

        Outgoing(String topic, byte[] payload, boolean retained) {
            this.topic = topic;
            this.payload = payload;
            this.retained = retained;
        }

        @Override
        public String toString() {
            return lane + " " + topic;
        }
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Map<Lane, ArrayDeque<Outgoing>> lanes = new java.util.EnumMap<>(Lane.class);
    /** The retained messages queued for each topic (not yet taken), in order; all in one lane. */
    private final Map<String, ArrayDeque<Outgoing>> queuedByTopic = new HashMap<>();
    private final int window;
    private final int backgroundWindow;
    /** Queued (not counting the places left by moved ones). */
    private int queued;
    private int inFlight;
    private int backgroundInFlight;
    private int decisionRun;
    /** Which of the two other lanes goes next. */
    private Lane nextOther = Lane.BACKGROUND;

    /**
     * @param window           messages handed to the client and not acknowledged yet, at most
     * @param backgroundWindow of which messages of the background and events lanes, at most
     */
    OutboundQueue(int window, int backgroundWindow) {
        if (window < 1 || backgroundWindow < 1 || backgroundWindow > window) {
            throw new IllegalArgumentException("window " + window + ", background window " + backgroundWindow);
        }
        this.window = window;
        this.backgroundWindow = backgroundWindow;
        for (Lane lane : Lane.values()) {
            lanes.put(lane, new ArrayDeque<>());
        }
    }

    void add(Outgoing out, Lane lane) {
        lock.lock();
        try {
            out.lane = lane;
            if (out.retained) {
                ArrayDeque<Outgoing> earlier = queuedByTopic.computeIfAbsent(out.topic, t -> new ArrayDeque<>());
                if (!earlier.isEmpty()) {
                    Lane theirs = earlier.peek().lane;
                    if (theirs.ordinal() < lane.ordinal()) {
                        out.lane = theirs; // behind a decision: follows it there
                    } else if (theirs != lane) {
                        takeAlong(earlier, lane); // the decision takes them along, just ahead of it
                    }
                }
                earlier.add(out);
            }
            lanes.get(out.lane).add(out);
            queued++;
            changed.signal();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The next message to hand to the client, counted in flight until {@link #acknowledged}; waits up to {@code millis}
     * for one that the window lets go (null: none).
     */
    Outgoing take(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        lock.lock();
        try {
            while (true) {
                Outgoing next = next();
                if (next != null) {
                    return next;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return null;
                }
                changed.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }

    /** The broker acknowledged {@code out} (or it was given up): its place in the window is free. */
    void acknowledged(Outgoing out) {
        lock.lock();
        try {
            inFlight--;
            if (out.lane != Lane.DECISION) {
                backgroundInFlight--;
            }
            changed.signal();
        } finally {
            lock.unlock();
        }
    }

    /** Messages handed to the client and not acknowledged yet, at most. */
    int window() {
        return window;
    }

    /** Messages queued and in flight. */
    int size() {
        lock.lock();
        try {
            return queued + inFlight;
        } finally {
            lock.unlock();
        }
    }

    private Outgoing next() {
        if (inFlight >= window) {
            return null;
        }
        boolean otherMayGo = backgroundInFlight < backgroundWindow;
        Lane other = otherMayGo ? otherLane() : null;
        Outgoing decision = peek(Lane.DECISION);
        Lane from;
        if (decision != null && (other == null || decisionRun < DECISION_RUN)) {
            from = Lane.DECISION;
            decisionRun++;
        } else if (other != null) {
            from = other;
            decisionRun = 0;
            nextOther = other == Lane.BACKGROUND ? Lane.EVENTS : Lane.BACKGROUND;
        } else {
            return null;
        }
        Outgoing out = lanes.get(from).poll();
        if (out.retained) {
            ArrayDeque<Outgoing> same = queuedByTopic.get(out.topic);
            same.poll(); // the topic's first: it is first in its lane too
            if (same.isEmpty()) {
                queuedByTopic.remove(out.topic);
            }
        }
        queued--;
        inFlight++;
        if (from != Lane.DECISION) {
            backgroundInFlight++;
        }
        return out;
    }

    /** The other lane whose turn it is, or the one that has something; null when both are empty. */
    private Lane otherLane() {
        Lane second = nextOther == Lane.BACKGROUND ? Lane.EVENTS : Lane.BACKGROUND;
        if (peek(nextOther) != null) {
            return nextOther;
        }
        return peek(second) != null ? second : null;
    }

    /** Moves a topic's queued messages to the end of {@code lane}, in their order (copies there; the old places are skipped). */
    private void takeAlong(ArrayDeque<Outgoing> earlier, Lane lane) {
        int n = earlier.size();
        for (int i = 0; i < n; i++) {
            Outgoing old = earlier.poll();
            old.moved = true;
            Outgoing copy = new Outgoing(old.topic, old.payload, true);
            copy.lane = lane;
            lanes.get(lane).add(copy);
            earlier.add(copy);
        }
    }

    /** The lane's first message that was not moved (the places of moved ones are dropped here), or null. */
    private Outgoing peek(Lane lane) {
        ArrayDeque<Outgoing> q = lanes.get(lane);
        while (!q.isEmpty() && q.peek().moved) {
            q.poll();
        }
        return q.peek();
    }
}
