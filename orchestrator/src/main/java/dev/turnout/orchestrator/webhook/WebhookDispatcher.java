package dev.turnout.orchestrator.webhook;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.domain.Webhook;
import dev.turnout.orchestrator.domain.WebhookDelivery;
import dev.turnout.orchestrator.port.FleetEvents;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.store.WebhookStore;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.StatusEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.http.HttpClient;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Delivers webhook events: it sees rollout events on their way out and device presence on its way in
 * (as {@link dev.turnout.orchestrator.observe.FleetObserver} does), and hands every event to the
 * {@link WebhookChannel} of each webhook that wants it. Never blocks who publishes: events go into a
 * bounded intake queue that one thread sorts into the webhooks' own bounded queues. The webhooks are
 * read from the store at start, after each change made through this orchestrator ({@link #reload()})
 * and every {@value #REFRESH_SECONDS} s (changes made through another orchestrator on a shared store).
 * Each delivery that ends is written to the store's delivery log and counted.
 */
public final class WebhookDispatcher implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookDispatcher.class);
    private static final int INTAKE_CAPACITY = 10_000;
    static final long REFRESH_SECONDS = 30;

    /** Counts deliveries that ended, by result ({@code delivered}, {@code failed}, {@code dropped}). */
    @FunctionalInterface
    public interface DeliveryCounter {
        void ended(WebhookDelivery.Result result);
    }

    private final WebhookStore store;
    private final RetryPolicy policy;
    private final Clock clock;
    private final DeliveryCounter counter;
    private final HttpClient http;
    private final ObjectMapper json = new ObjectMapper();
    private final BlockingQueue<Supplier<WebhookEvents.Event>> intake = new ArrayBlockingQueue<>(INTAKE_CAPACITY);
    private final Map<String, WebhookChannel> channels = new ConcurrentHashMap<>();
    /** Each device's presence as last seen, to send device.online/offline on changes only. */
    private final Map<String, Boolean> online = new ConcurrentHashMap<>();
    private final Thread sorter;
    private volatile boolean closed;

    private WebhookDispatcher(WebhookStore store, RetryPolicy policy, Clock clock, DeliveryCounter counter,
                              Map<String, Boolean> presence) {
        this.store = store;
        this.policy = policy;
        this.clock = clock;
        this.counter = counter;
        this.online.putAll(presence);
        this.http = HttpClient.newBuilder().connectTimeout(policy.timeout()).followRedirects(HttpClient.Redirect.NEVER).build();
        this.sorter = new Thread(this::sort, "webhook-intake");
        this.sorter.setDaemon(true);
    }

    /**
     * Starts delivering to the stored webhooks. {@code presence}: each enrolled device's online flag as
     * stored, so that the first presence after a restart is not announced as a change.
     */
    public static WebhookDispatcher start(WebhookStore store, RetryPolicy policy, Clock clock, DeliveryCounter counter,
                                          Map<String, Boolean> presence) {
        WebhookDispatcher d = new WebhookDispatcher(store, policy, clock, counter, presence);
        d.reload();
        d.sorter.start();
        return d;
    }

    /** Rollout events go out through {@code transport}, then to the webhooks. */
    public FleetTransport observe(FleetTransport transport) {
        return new FleetTransport() {
            @Override
            public void publishDesired(String deviceId, byte[] signedEnvelope) {
                transport.publishDesired(deviceId, signedEnvelope);
            }

            @Override
            public void publishDesiredInBackground(String deviceId, byte[] signedEnvelope) {
                transport.publishDesiredInBackground(deviceId, signedEnvelope);
            }

            @Override
            public void publishRolloutEvent(RolloutEvent event) {
                transport.publishRolloutEvent(event);
                rollout(event);
            }
        };
    }

    /** Device reports go to {@code next} first; presence changes then go to the webhooks. */
    public FleetEvents observe(FleetEvents next) {
        return new FleetEvents() {
            @Override
            public void onStatus(String topicDeviceId, StatusEvent event) {
                next.onStatus(topicDeviceId, event);
            }

            @Override
            public void onPresence(String topicDeviceId, Presence presence) {
                next.onPresence(topicDeviceId, presence);
                presence(topicDeviceId, presence);
            }

            @Override
            public void onHealth(String topicDeviceId, HealthReport report) {
                next.onHealth(topicDeviceId, report);
            }
        };
    }

    void rollout(RolloutEvent e) {
        if (channels.isEmpty()) {
            return;
        }
        take(() -> WebhookEvents.of(e).orElse(null));
    }

    void presence(String deviceId, Presence p) {
        if (!p.getDeviceId().isEmpty() && !p.getDeviceId().equals(deviceId)) {
            return; // the engine drops it too
        }
        Instant at = clock.instant();
        if (channels.isEmpty()) {
            online.put(deviceId, p.getOnline());
            return;
        }
        take(() -> {
            Boolean before = online.put(deviceId, p.getOnline());
            boolean changed = before == null ? p.getOnline() : before != p.getOnline();
            return changed ? WebhookEvents.of(deviceId, p, at) : null;
        });
    }

    private void take(Supplier<WebhookEvents.Event> event) {
        if (!intake.offer(event)) {
            LOG.warn("webhook intake full ({} events waiting): an event is not delivered", INTAKE_CAPACITY);
            counter.ended(WebhookDelivery.Result.DROPPED);
        }
    }

    private void sort() {
        long nextRefresh = System.nanoTime() + TimeUnit.SECONDS.toNanos(REFRESH_SECONDS);
        while (!closed) {
            try {
                Supplier<WebhookEvents.Event> next = intake.poll(1, TimeUnit.SECONDS);
                if (next != null) {
                    WebhookEvents.Event event = next.get();
                    if (event != null) {
                        dispatch(event);
                    }
                }
                if (System.nanoTime() - nextRefresh > 0) {
                    nextRefresh = System.nanoTime() + TimeUnit.SECONDS.toNanos(REFRESH_SECONDS);
                    reload();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException e) {
                LOG.warn("webhook intake: {}", e.toString());
            }
        }
    }

    private void dispatch(WebhookEvents.Event event) {
        for (WebhookChannel c : channels.values()) {
            if (c.wants(event.name())) {
                c.offer(pending(event));
            }
        }
    }

    /** Queues a {@code ping} to one webhook whatever its patterns; returns the delivery id. */
    public String ping(String webhookId) {
        WebhookChannel c = channels.get(webhookId);
        if (c == null) {
            reload();
            c = channels.get(webhookId);
        }
        if (c == null) {
            throw new NotFoundException("no webhook " + webhookId);
        }
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("webhookId", webhookId);
        data.put("message", "ping from the Turnout orchestrator");
        WebhookChannel.Pending p = pending(new WebhookEvents.Event(WebhookEvents.PING, clock.instant(), data));
        c.offer(p);
        return p.deliveryId();
    }

    private WebhookChannel.Pending pending(WebhookEvents.Event event) {
        String id = UUID.randomUUID().toString();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", id);
        body.put("event", event.name());
        body.put("time", event.time().toString());
        body.put("data", event.data());
        try {
            return new WebhookChannel.Pending(id, event.name(), json.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads the webhooks from the store again: channels for new ones, removed ones stop. Blocking (a store read). */
    public synchronized void reload() {
        if (closed) {
            return;
        }
        List<Webhook> stored = store.listWebhooks();
        Set<String> ids = new HashSet<>();
        Map<String, Webhook> byId = new HashMap<>();
        for (Webhook w : stored) {
            ids.add(w.id());
            byId.put(w.id(), w);
        }
        channels.entrySet().removeIf(e -> {
            Webhook now = byId.get(e.getKey());
            if (now == null || !now.equals(e.getValue().webhook())) {
                e.getValue().close();
                return true;
            }
            return false;
        });
        for (Webhook w : stored) {
            channels.computeIfAbsent(w.id(), id -> {
                try {
                    WebhookChannel c = new WebhookChannel(w, policy, http, clock, this::ended);
                    c.start();
                    return c;
                } catch (RuntimeException e) {
                    LOG.warn("webhook {} is not delivered to: {}", id, e.getMessage());
                    return null;
                }
            });
        }
    }

    private void ended(WebhookDelivery d) {
        counter.ended(d.result());
        if (!channels.containsKey(d.webhookId())) {
            return; // removed meanwhile: its log went with it
        }
        try {
            store.appendDelivery(d);
        } catch (RuntimeException e) {
            LOG.warn("webhook {}: the delivery {} ({}) could not be logged: {}", d.webhookId(), d.deliveryId(), d.result(), e.toString());
        }
    }

    /** The webhooks delivered to now. */
    public int webhooks() {
        return channels.size();
    }

    /** Stops every channel (deliveries waiting are lost) and the intake. */
    @Override
    public synchronized void close() {
        closed = true;
        sorter.interrupt();
        channels.values().forEach(WebhookChannel::close);
        channels.clear();
        try {
            sorter.join(Duration.ofSeconds(5).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
