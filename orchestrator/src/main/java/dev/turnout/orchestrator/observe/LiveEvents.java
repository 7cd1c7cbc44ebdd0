package dev.turnout.orchestrator.observe;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Fan-out of {@link LiveEvent}s to live subscribers, with the newest {@code capacity} events kept so
 * that a subscriber that reconnects gets what it missed. Thread-safe; subscribers must not block.
 */
public final class LiveEvents {

    private final int capacity;
    private final Deque<LiveEvent> recent = new ArrayDeque<>();
    private final List<Consumer<LiveEvent>> subscribers = new CopyOnWriteArrayList<>();
    private long nextId;

    /**
     * @param capacity how many events to keep for subscribers that reconnect
     * @param firstId  the id of the first event; start above any id an earlier process gave out
     *                 (the orchestrator uses its start time in microseconds) so that a client
     *                 reconnecting after a restart gets everything kept
     */
    public LiveEvents(int capacity, long firstId) {
        this.capacity = capacity;
        this.nextId = firstId;
    }

    /** Numbers the event, keeps it and hands it to every subscriber. */
    public LiveEvent publish(String kind, String subject, JsonRenderer renderer) {
        LiveEvent event;
        synchronized (this) {
            long id = nextId++;
            event = new LiveEvent(id, kind, subject, renderer);
            recent.addLast(event);
            while (recent.size() > capacity) {
                recent.removeFirst();
            }
            for (Consumer<LiveEvent> s : subscribers) {
                deliver(s, event);
            }
        }
        return event;
    }

    /**
     * Subscribes; events kept with an id above {@code afterId} are delivered first (none when
     * {@code afterId} is negative). Closing the handle unsubscribes.
     */
    public AutoCloseable subscribe(long afterId, Consumer<LiveEvent> subscriber) {
        synchronized (this) {
            if (afterId >= 0) {
                for (LiveEvent e : new ArrayList<>(recent)) {
                    if (e.id() > afterId) {
                        deliver(subscriber, e);
                    }
                }
            }
            subscribers.add(subscriber);
        }
        return () -> subscribers.remove(subscriber);
    }

    /** Number of live subscribers. */
    public int subscribers() {
        return subscribers.size();
    }

    private static void deliver(Consumer<LiveEvent> subscriber, LiveEvent event) {
        try {
            subscriber.accept(event);
        } catch (RuntimeException e) {
            // one broken subscriber must not stop the others
        }
    }

    /** Renders an event's JSON once its id is known. */
    @FunctionalInterface
    public interface JsonRenderer {
        String render(long id);
    }
}
