package dev.turnout.testsupport;

import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;


/**
 * An MQTT client that plays the orchestrator or a monitor in a test: it records every message on the
 * topics it subscribes to, decoded, with the time it arrived, and publishes what the test sends. Its
 * waits are bounded and fail naming what did arrive.
 *
 * @param <T> what the decoder makes of a payload ({@code StatusEvent}, or a common type when the topics carry several)
 */
public final class MqttRecorder<T> implements AutoCloseable {

    private static final long TIMEOUT_MS = 10_000;

    /** One message as it arrived. */
    public record Received<M>(String topic, M message, long nanoTime) {
    }

    /** Turns a payload on a topic into a message, e.g. {@code (topic, payload) -> StatusEvent.parseFrom(payload)}. */
    @FunctionalInterface
    public interface Decoder<T> {
        T decode(String topic, byte[] payload) throws Exception;
    }

    /** How the recorder logs in: anonymously with a random client id, or as a user whose name is its client id. */
    public record Login(String clientId, String user, String password) {
        public static Login anonymous() {
            return new Login("recorder-" + UUID.randomUUID().toString().substring(0, 8), null, null);
        }

        public static Login as(String user, String password) {
            return new Login(user, user, password);
        }
    }

    private final MqttAsyncClient client;
    private final Decoder<T> decoder;
    private final List<Received<T>> received = new CopyOnWriteArrayList<>();
    private final List<String> undecodable = new CopyOnWriteArrayList<>();

    private MqttRecorder(MqttAsyncClient client, Decoder<T> decoder) {
        this.client = client;
        this.decoder = decoder;
    }

    /** Connects with a clean start and subscribes to {@code topicFilters} at QoS 1; throws when the broker refuses either. */
    public static <T> MqttRecorder<T> connect(String brokerUrl, Login login, Decoder<T> decoder, String... topicFilters)
            throws MqttException {
        MqttAsyncClient client = new MqttAsyncClient(brokerUrl, login.clientId(), new MemoryPersistence());
        MqttRecorder<T> recorder = new MqttRecorder<>(client, decoder);
        client.setCallback((MessageCallback) recorder::record);
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        if (login.user() != null) {
            options.setUserName(login.user());
            options.setPassword(login.password().getBytes(StandardCharsets.UTF_8));
        }
        try {
            client.connect(options).waitForCompletion(TIMEOUT_MS);
            IMqttToken subscribed = client.subscribe(Arrays.stream(topicFilters).map(f -> new MqttSubscription(f, 1))
                    .toArray(MqttSubscription[]::new));
            subscribed.waitForCompletion(TIMEOUT_MS);
            int[] codes = subscribed.getReasonCodes();
            if (codes != null && Arrays.stream(codes).anyMatch(code -> code >= 0x80)) {
                throw new IllegalStateException("the broker refused the subscription to " + List.of(topicFilters) + ": "
                        + Arrays.toString(codes));
            }
        } catch (MqttException | RuntimeException e) {
            client.close(true);
            throw e;
        }
        return recorder;
    }

    /** Publishes at QoS 1, retained, and waits for the broker's acknowledgement. */
    public void publishRetained(String topic, byte[] payload) throws MqttException {
        client.publish(topic, payload, 1, true).waitForCompletion(TIMEOUT_MS);
    }

    /** Everything received so far, in order of arrival. */
    public List<Received<T>> received() {
        failOnUndecodable();
        return List.copyOf(received);
    }

    /** What arrived of one type, with its topic and arrival time. */
    @SuppressWarnings("unchecked")
    public <M extends T> List<Received<M>> received(Class<M> type) {
        return received().stream().filter(r -> type.isInstance(r.message())).map(r -> (Received<M>) r).toList();
    }

    /** The messages received so far, in order of arrival. */
    public List<T> messages() {
        return received().stream().map(Received::message).toList();
    }

    /** The messages of one type received so far, in order of arrival. */
    public <M extends T> List<M> messages(Class<M> type) {
        return received(type).stream().map(Received::message).toList();
    }

    /** The newest message of one type, if any arrived. */
    public <M extends T> Optional<M> latest(Class<M> type) {
        List<M> all = messages(type);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /** The first message matching {@code condition}, as it arrived. */
    public Optional<Received<T>> first(Predicate<? super T> condition) {
        return received().stream().filter(r -> condition.test(r.message())).findFirst();
    }

    /** Waits at most {@code atMost} for a message matching {@code condition}; the first that does. */
    public T await(Predicate<? super T> condition, Duration atMost) {
        return awaitReceived(condition, atMost).message();
    }

    /** Waits at most {@code atMost} for a message of one type matching {@code condition}; the first that does. */
    public <M extends T> M await(Class<M> type, Predicate<? super M> condition, Duration atMost) {
        return type.cast(await(m -> type.isInstance(m) && condition.test(type.cast(m)), atMost));
    }

    /** Waits at most {@code atMost} for a message matching {@code condition}; the first that does, as it arrived. */
    public Received<T> awaitReceived(Predicate<? super T> condition, Duration atMost) {
        try {
            return Awaitility.await().atMost(atMost).pollInterval(Duration.ofMillis(5))
                    .until(() -> first(condition), Optional::isPresent).orElseThrow();
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("no matching message within " + atMost.toMillis() + " ms; received: " + messages(), e);
        }
    }

    @Override
    public void close() throws MqttException {
        try {
            if (client.isConnected()) {
                client.disconnect(1_000).waitForCompletion(5_000);
            }
        } finally {
            client.close(true);
        }
    }

    private void failOnUndecodable() {
        if (!undecodable.isEmpty()) {
            throw new AssertionError("undecodable messages: " + undecodable);
        }
    }

    private void record(String topic, MqttMessage message) {
        long now = System.nanoTime();
        try {
            received.add(new Received<>(topic, decoder.decode(topic, message.getPayload()), now));
        } catch (Exception e) {
            undecodable.add(topic + ": " + e);
        }
    }
}
