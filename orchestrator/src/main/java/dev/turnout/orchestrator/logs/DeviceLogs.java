package dev.turnout.orchestrator.logs;

import dev.turnout.proto.LogRequest;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.proto.rules.LogRequestRules;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Asks devices for a container's log over MQTT ({@code turnout logs}; docs/topics.md): a {@code LogRequest} signed with
 * the active signing key goes to the device's request topic, and the answer that comes back on its response topic with
 * the same request id, from that device, completes the caller's future; none within {@link #ANSWER_TIMEOUT} fails it
 * with a {@link java.util.concurrent.TimeoutException}. Floods are refused before anything is sent ({@link Busy}): one
 * request per device per {@link #PER_DEVICE_INTERVAL}, and {@link #MAX_WAITING} waiting answers in all. Thread-safe.
 */
public final class DeviceLogs {

    /** How long a caller waits for a device's answer. */
    public static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(10);
    /** Requests to one device are at least this far apart (the device answers one a second at most). */
    public static final Duration PER_DEVICE_INTERVAL = Duration.ofSeconds(1);
    /** Answers waited for at once, across the fleet. */
    public static final int MAX_WAITING = 32;
    /** A request's lifetime: a device drops it after this (by its synchronised clock). */
    static final Duration REQUEST_LIFETIME = Duration.ofSeconds(30);

    private static final Logger LOG = LoggerFactory.getLogger(DeviceLogs.class);

    /** Refused before anything was sent: too many requests (HTTP 429). */
    public static final class Busy extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Busy(String message) {
            super(message);
        }
    }

    private record Waiting(String deviceId, CompletableFuture<LogResponse> answer) {
    }

    private final Supplier<SigningKey> signer;
    private final BiConsumer<String, byte[]> publish;
    private final Clock clock;
    private final LongSupplier nanoTime;
    private final Duration answerTimeout;
    private final Map<String, Waiting> waiting = new ConcurrentHashMap<>();
    private final Map<String, Long> lastAsked = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();

    /**
     * @param signer the key that signs desired states now (devices trust the same keys for both)
     * @param publish sends a signed request envelope to a device's request topic
     */
    public DeviceLogs(Supplier<SigningKey> signer, BiConsumer<String, byte[]> publish, Clock clock) {
        this(signer, publish, clock, System::nanoTime, ANSWER_TIMEOUT);
    }

    DeviceLogs(Supplier<SigningKey> signer, BiConsumer<String, byte[]> publish, Clock clock, LongSupplier nanoTime,
               Duration answerTimeout) {
        this.answerTimeout = answerTimeout;
        this.signer = signer;
        this.publish = publish;
        this.clock = clock;
        this.nanoTime = nanoTime;
    }

    /**
     * Asks {@code deviceId} for the newest {@code tail} lines (1-1000) of {@code app}'s container written after
     * {@code sinceNanos} (Unix epoch nanoseconds; 0: any). The future completes with the device's answer (which may
     * carry an error of its own) or fails with a {@link java.util.concurrent.TimeoutException} after
     * {@link #ANSWER_TIMEOUT}.
     *
     * @throws Busy when the device was asked less than {@link #PER_DEVICE_INTERVAL} ago, or too many answers are awaited
     */
    public CompletableFuture<LogResponse> ask(String deviceId, String app, int tail, long sinceNanos) {
        if (tail < 1 || tail > LogRequestRules.MAX_TAIL) {
            throw new IllegalArgumentException("tail must be 1-" + LogRequestRules.MAX_TAIL);
        }
        long now = nanoTime.getAsLong();
        synchronized (lastAsked) {
            if (waiting.size() >= MAX_WAITING) {
                throw new Busy(MAX_WAITING + " log requests are waiting for their answers; ask again in a moment");
            }
            Long last = lastAsked.get(deviceId);
            if (last != null && now - last < PER_DEVICE_INTERVAL.toNanos()) {
                throw new Busy("device " + deviceId + " was asked for a log less than " + PER_DEVICE_INTERVAL.toSeconds()
                        + " s ago; ask again in a moment");
            }
            lastAsked.put(deviceId, now);
            if (lastAsked.size() > 10_000) { // forget devices asked long ago
                lastAsked.values().removeIf(t -> now - t > PER_DEVICE_INTERVAL.toNanos());
            }
        }
        byte[] id = new byte[12];
        random.nextBytes(id);
        String requestId = "lr-" + HexFormat.of().formatHex(id);
        long issued = clock.millis();
        LogRequest request = LogRequest.newBuilder().setRequestId(requestId).setDeviceId(deviceId).setApp(app).setTailLines(tail)
                .setSinceNs(Math.max(0, sinceNanos)).setIssuedAtMs(issued).setExpiresAtMs(issued + REQUEST_LIFETIME.toMillis()).build();
        CompletableFuture<LogResponse> answer = new CompletableFuture<>();
        waiting.put(requestId, new Waiting(deviceId, answer));
        answer.orTimeout(answerTimeout.toMillis(), TimeUnit.MILLISECONDS).whenComplete((r, e) -> waiting.remove(requestId));
        publish.accept(deviceId, signer.get().seal(request).toByteArray());
        LOG.info("asked {} for the log of {} ({} lines{}), request {}", deviceId, app, tail, sinceNanos > 0 ? ", since " + sinceNanos : "",
                requestId);
        return answer;
    }

    /** A device's answer, as read from {@code {prefix}/devices/{topicDeviceId}/logs/response}. */
    public void onResponse(String topicDeviceId, LogResponse response) {
        Waiting w = waiting.get(response.getRequestId());
        if (w == null) {
            LOG.debug("a log answer from {} that nobody here waits for ({})", topicDeviceId, response.getRequestId());
            return;
        }
        if (!w.deviceId().equals(topicDeviceId) || !w.deviceId().equals(response.getDeviceId())) {
            LOG.warn("dropped a log answer for request {} of device {} that came from device '{}' (topic {})", response.getRequestId(),
                    w.deviceId(), response.getDeviceId(), topicDeviceId);
            return;
        }
        waiting.remove(response.getRequestId());
        w.answer().complete(response);
    }

    /** Answers waited for now. */
    public int waiting() {
        return waiting.size();
    }
}
