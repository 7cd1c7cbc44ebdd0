package dev.turnout.orchestrator.webhook;

import dev.turnout.orchestrator.domain.Webhook;
import dev.turnout.orchestrator.domain.WebhookDelivery;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One webhook's queue and the thread that empties it, one delivery at a time, in order: a slow or
 * down receiver holds up its own deliveries and no one else's. The queue is bounded; when it is full
 * the oldest waiting delivery is dropped (recorded as {@code DROPPED}; a warning at most once a minute).
 */
final class WebhookChannel implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookChannel.class);
    private static final String USER_AGENT = "Turnout-Webhook/1";
    private static final long DROP_WARNING_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    /** A delivery waiting for its first attempt. */
    record Pending(String deliveryId, String event, byte[] body) {
    }

    private final Webhook webhook;
    private final EventPatterns patterns;
    private final RetryPolicy policy;
    private final HttpClient http;
    private final Clock clock;
    private final Consumer<WebhookDelivery> record;
    private final Deque<Pending> queue = new ArrayDeque<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Thread thread;
    /** Drops since the last warning, and when that was (System.nanoTime()); guarded by queue. */
    private int droppedSinceWarning;
    private long lastDropWarning;
    private boolean warnedOnce;

    WebhookChannel(Webhook webhook, RetryPolicy policy, HttpClient http, Clock clock, Consumer<WebhookDelivery> record) {
        this.webhook = webhook;
        this.patterns = EventPatterns.parse(webhook.events());
        this.policy = policy;
        this.http = http;
        this.clock = clock;
        this.record = record;
        this.thread = new Thread(this::run, "webhook-" + webhook.id());
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    Webhook webhook() {
        return webhook;
    }

    boolean wants(String event) {
        return !WebhookEvents.PING.equals(event) && patterns.matches(event);
    }

    /** Queues a delivery; never blocks. When the queue is full the oldest one is dropped and recorded. */
    void offer(Pending p) {
        Pending dropped = null;
        int droppedToTell = 0;
        synchronized (queue) {
            if (queue.size() >= policy.queueCapacity()) {
                dropped = queue.pollFirst();
                droppedSinceWarning++;
                long now = System.nanoTime();
                // one warning a minute at most: a receiver down during a 10,000-device rollout would flood the log
                if (!warnedOnce || now - lastDropWarning >= DROP_WARNING_INTERVAL_NANOS) {
                    droppedToTell = droppedSinceWarning;
                    droppedSinceWarning = 0;
                    lastDropWarning = now;
                    warnedOnce = true;
                }
            }
            queue.addLast(p);
            queue.notifyAll();
        }
        if (droppedToTell > 0) {
            LOG.warn("webhook {}: {} deliveries waiting, the oldest dropped ({} since the last warning, now {} {})", webhook.id(),
                    policy.queueCapacity(), droppedToTell, dropped.event(), dropped.deliveryId());
        }
        if (dropped != null) {
            record.accept(new WebhookDelivery(webhook.id(), dropped.deliveryId(), dropped.event(), WebhookDelivery.Result.DROPPED,
                    null, "dropped: " + policy.queueCapacity() + " deliveries were waiting", 0, 0, clock.instant()));
        }
    }

    /** Deliveries waiting (not the one being tried). */
    int waiting() {
        synchronized (queue) {
            return queue.size();
        }
    }

    private void run() {
        try {
            while (stopped.getCount() > 0) {
                Pending next;
                synchronized (queue) {
                    while (queue.isEmpty() && stopped.getCount() > 0) {
                        queue.wait();
                    }
                    next = queue.pollFirst();
                }
                if (next != null) {
                    record.accept(deliver(next));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.error("webhook {}: its delivery thread stopped", webhook.id(), e);
        }
    }

    /** Tries {@code p} as the policy says and tells how it ended. */
    WebhookDelivery deliver(Pending p) throws InterruptedException {
        long started = System.nanoTime();
        Integer status = null;
        String error = null;
        int attempt = 0;
        while (attempt < policy.attempts()) {
            attempt++;
            Duration wait = policy.delayBefore(attempt);
            if (!wait.isZero() && stopped.await(wait.toMillis(), TimeUnit.MILLISECONDS)) {
                error = (error == null ? "" : error + "; ") + "the orchestrator stopped";
                break;
            }
            try {
                HttpResponse<Void> response = http.send(request(p), HttpResponse.BodyHandlers.discarding());
                status = response.statusCode();
                if (RetryPolicy.delivered(status)) {
                    return ended(p, WebhookDelivery.Result.DELIVERED, status, null, attempt, started);
                }
                if (!RetryPolicy.retryable(status)) {
                    error = "HTTP " + status + " (not retried)";
                    break;
                }
                error = "HTTP " + status;
            } catch (IOException e) {
                status = null;
                error = describe(e);
            }
            LOG.debug("webhook {}: attempt {} of {} failed: {}", webhook.id(), attempt, p.deliveryId(), error);
        }
        LOG.warn("webhook {}: {} {} not delivered after {} attempt(s): {}", webhook.id(), p.event(), p.deliveryId(), attempt, error);
        return ended(p, WebhookDelivery.Result.FAILED, status, error, attempt, started);
    }

    private WebhookDelivery ended(Pending p, WebhookDelivery.Result result, Integer status, String error, int attempts, long started) {
        return new WebhookDelivery(webhook.id(), p.deliveryId(), p.event(), result, status, error, attempts,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started), clock.instant());
    }

    private HttpRequest request(Pending p) {
        long timestamp = clock.instant().getEpochSecond();
        return HttpRequest.newBuilder(URI.create(webhook.url()))
                .timeout(policy.timeout())
                .header("Content-Type", "application/json")
                .header("User-Agent", USER_AGENT)
                .header("X-Turnout-Event", p.event())
                .header("X-Turnout-Delivery", p.deliveryId())
                .header("X-Turnout-Timestamp", Long.toString(timestamp))
                .header("X-Turnout-Signature", WebhookSignature.sign(webhook.secret(), timestamp, p.body()))
                .POST(HttpRequest.BodyPublishers.ofByteArray(p.body()))
                .build();
    }

    private static String describe(IOException e) {
        String name = e.getClass().getSimpleName();
        if (e instanceof java.net.ConnectException) {
            name = "connection refused or unreachable";
        } else if (e instanceof java.net.http.HttpConnectTimeoutException) {
            name = "connect timed out";
        } else if (e instanceof java.net.http.HttpTimeoutException) {
            name = "no answer in time";
        }
        String message = e.getMessage();
        return message == null || message.isBlank() || message.equals(name) ? name : name + ": " + message;
    }

    /** Stops after the delivery under way (its retries are cut short); what is waiting is lost. */
    @Override
    public void close() {
        stopped.countDown();
        synchronized (queue) {
            queue.notifyAll();
        }
        thread.interrupt();
    }
}
