package dev.turnout.orchestrator.mqtt;

import com.hivemq.client.mqtt.MqttGlobalPublishFilter;
import com.hivemq.client.mqtt.datatypes.MqttQos;
import com.hivemq.client.mqtt.lifecycle.MqttDisconnectSource;
import com.hivemq.client.mqtt.mqtt5.Mqtt5AsyncClient;
import com.hivemq.client.mqtt.mqtt5.Mqtt5Client;
import com.hivemq.client.mqtt.mqtt5.Mqtt5ClientBuilder;
import com.hivemq.client.mqtt.mqtt5.exceptions.Mqtt5ConnAckException;
import com.hivemq.client.mqtt.mqtt5.message.connect.Mqtt5ConnectBuilder;
import com.hivemq.client.mqtt.mqtt5.message.disconnect.Mqtt5DisconnectReasonCode;
import com.hivemq.client.mqtt.mqtt5.message.subscribe.Mqtt5Subscribe;
import com.hivemq.client.mqtt.mqtt5.message.subscribe.Mqtt5Subscription;
import dev.turnout.proto.ReconnectPolicy;
import dev.turnout.proto.Topics;
import dev.turnout.proto.tls.PinnedTrust;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One MQTT 5 session on the asynchronous HiveMQ client. All sessions of a process share one small
 * Netty event loop and one scheduler, so thousands of them cost sockets and buffers, not threads
 * (Paho's {@code MqttAsyncClient} starts threads for every client). No client library type leaves
 * this class.
 */
public final class AsyncMqttSession implements AutoCloseable {

    /** What to do with incoming messages and connection changes; called on the client's threads, never block. */
    public interface Listener {
        void onMessage(String topic, byte[] payload);

        /** After every successful (re)connection. */
        default void onConnected() {
        }

        /** After the connection was lost or closed, or an attempt failed; {@code why} in plain words. */
        default void onDisconnected(String why) {
        }

        /** The broker answered a connection attempt with a refusal (bad credentials, client id not allowed, ...). */
        default void onRefused(String why) {
        }
    }

    /**
     * @param clientId             MQTT client id (a device id for devices)
     * @param brokerUrl            {@code tcp://HOST:PORT} (or {@code mqtt://})
     * @param username             null: none
     * @param password             null: none
     * @param cleanStart           false keeps the session (and queued QoS 1 messages) for {@code sessionExpirySeconds}
     * @param sessionExpirySeconds how long the broker keeps the session after a disconnect
     * @param willTopic            retained QoS 1 last will topic, null for none
     * @param willPayload          its payload
     * @param autoReconnect        reconnect by itself after a connection loss (1 s to 30 s back-off)
     * @param trust                for an {@code ssl://} broker: the CA(s) it must chain to (pinned); null: the system trust store
     */
    public record Settings(String clientId, String brokerUrl, String username, String password, boolean cleanStart,
                           long sessionExpirySeconds, String willTopic, byte[] willPayload, boolean autoReconnect,
                           PinnedTrust trust) {
        public Settings {
            Objects.requireNonNull(clientId, "clientId");
            Objects.requireNonNull(brokerUrl, "brokerUrl");
        }

        /** Without a pinned CA. */
        public Settings(String clientId, String brokerUrl, String username, String password, boolean cleanStart,
                        long sessionExpirySeconds, String willTopic, byte[] willPayload, boolean autoReconnect) {
            this(clientId, brokerUrl, username, password, cleanStart, sessionExpirySeconds, willTopic, willPayload, autoReconnect, null);
        }
    }

    private final Mqtt5AsyncClient client;
    private final Settings settings;
    private volatile boolean closing;
    /** The fleet's reconnect window from the last accepted desired state (0: none known). */
    private volatile long reconnectWindowMs;

    private AsyncMqttSession(Settings settings, Listener listener) {
        this.settings = settings;
        URI broker = parseBrokerUrl(settings.brokerUrl());
        boolean tls = isTls(broker);
        Mqtt5ClientBuilder builder = Mqtt5Client.builder()
                .identifier(settings.clientId())
                .serverHost(broker.getHost())
                .serverPort(broker.getPort() > 0 ? broker.getPort() : tls ? 8883 : 1883)
                .addConnectedListener(ctx -> listener.onConnected())
                .addDisconnectedListener(ctx -> {
                    if (settings.autoReconnect() && !closing && ctx.getSource() != MqttDisconnectSource.USER) {
                        // full-jitter back-off over the fleet's window (ReconnectPolicy), as the edge daemon does: the
                        // client's own automatic reconnect waits 1, 2, 4 … s on every device at once
                        var reconnector = ctx.getReconnector();
                        reconnector.reconnect(true).delay(ReconnectPolicy.delayMs(reconnector.getAttempts(), reconnectWindowMs),
                                TimeUnit.MILLISECONDS);
                    }
                    if (!closing) {
                        Throwable cause = ctx.getCause();
                        String tlsWhy = PinnedTrust.explain(cause);
                        String why = tlsWhy != null ? tlsWhy : cause.getMessage() == null ? cause.toString() : cause.getMessage();
                        why = why.replaceAll("^([\\w.$]+(Exception|Error): )+", "");
                        if (cause instanceof Mqtt5ConnAckException) {
                            listener.onRefused(why);
                        }
                        listener.onDisconnected(why);
                    }
                });
        if (tls) {
            // host name verified (HTTPS endpoint identification) unless a verifier is set: none is
            builder = settings.trust() != null
                    ? builder.sslConfig().trustManagerFactory(settings.trust().trustManagerFactory("broker")).applySslConfig()
                    : builder.sslWithDefaultConfig();
        }
        if (settings.username() != null && !settings.username().isEmpty()) {
            // on the client, not on the first CONNECT: an automatic reconnect sends the client's credentials, and the
            // password given to connectWith() is not sent again (every reconnect was refused NOT_AUTHORIZED)
            builder = builder.simpleAuth().username(settings.username())
                    .password(settings.password() == null ? new byte[0] : settings.password().getBytes(StandardCharsets.UTF_8))
                    .applySimpleAuth();
        }
        this.client = builder.buildAsync();
        client.publishes(MqttGlobalPublishFilter.ALL, publish -> listener.onMessage(publish.getTopic().toString(),
                publish.getPayloadAsBytes()));
    }

    /** Spreads reconnects after a lost connection over {@code windowMs} (see {@link ReconnectPolicy}); 0: none. */
    public void reconnectWindow(long windowMs) {
        this.reconnectWindowMs = windowMs;
    }

    /** A session, not yet connected; register nothing else on it: the listener sees every message. */
    public static AsyncMqttSession create(Settings settings, Listener listener) {
        return new AsyncMqttSession(settings, listener);
    }

    /** {@code tcp://HOST:PORT}, {@code mqtt://HOST:PORT} or (TLS) {@code ssl://HOST:PORT}, {@code mqtts://HOST:PORT} as a URI; anything else is refused. */
    public static URI parseBrokerUrl(String url) {
        URI uri;
        try {
            uri = URI.create(url.trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("broker URL '" + url + "' is not valid: give it as tcp://HOST:PORT or ssl://HOST:PORT");
        }
        if (uri.getHost() == null || !("tcp".equals(uri.getScheme()) || "mqtt".equals(uri.getScheme()) || isTls(uri))) {
            throw new IllegalArgumentException("broker URL '" + url + "' is not valid: give it as tcp://HOST:PORT or ssl://HOST:PORT");
        }
        return uri;
    }

    private static boolean isTls(URI uri) {
        return "ssl".equals(uri.getScheme()) || "mqtts".equals(uri.getScheme());
    }

    /** Connects once; completes exceptionally when the broker refuses or cannot be reached. */
    public CompletableFuture<Void> connect() {
        closing = false;
        Mqtt5ConnectBuilder.Send<CompletableFuture<com.hivemq.client.mqtt.mqtt5.message.connect.connack.Mqtt5ConnAck>> connect =
                client.connectWith()
                        .cleanStart(settings.cleanStart())
                        .sessionExpiryInterval(settings.sessionExpirySeconds())
                        .keepAlive(30);
        if (settings.willTopic() != null) {
            connect = connect.willPublish().topic(settings.willTopic()).payload(settings.willPayload())
                    .qos(MqttQos.AT_LEAST_ONCE).retain(true).contentType(Topics.CONTENT_TYPE).applyWillPublish();
        }
        return connect.send().thenApply(ack -> null);
    }

    /** Subscribes to the filters at QoS 1. */
    public CompletableFuture<Void> subscribe(List<String> filters) {
        List<Mqtt5Subscription> subscriptions = new ArrayList<>();
        for (String filter : filters) {
            subscriptions.add(Mqtt5Subscription.builder().topicFilter(filter).qos(MqttQos.AT_LEAST_ONCE).build());
        }
        return client.subscribe(Mqtt5Subscribe.builder().addSubscriptions(subscriptions).build()).thenApply(ack -> {
            for (var code : ack.getReasonCodes()) {
                if (code.isError()) {
                    throw new IllegalStateException("the broker refused a subscription to " + filters + ": " + code);
                }
            }
            return null;
        });
    }

    /** Publishes with content type {@value Topics#CONTENT_TYPE}; completes when the broker acknowledged it (QoS 1). */
    public CompletableFuture<Void> publish(String topic, byte[] payload, int qos, boolean retained) {
        return client.publishWith().topic(topic).payload(payload).qos(qos >= 1 ? MqttQos.AT_LEAST_ONCE : MqttQos.AT_MOST_ONCE)
                .retain(retained).contentType(Topics.CONTENT_TYPE).send().thenApply(result -> {
                    result.getError().ifPresent(e -> {
                        throw new IllegalStateException(e);
                    });
                    return null;
                });
    }

    public boolean isConnected() {
        return client.getState().isConnected();
    }

    /** Disconnects asking the broker to publish the last will, as if the connection had been lost. */
    public CompletableFuture<Void> disconnectWithWill() {
        closing = true;
        return client.disconnectWith().reasonCode(Mqtt5DisconnectReasonCode.DISCONNECT_WITH_WILL_MESSAGE).send();
    }

    /** Disconnects normally (no will). */
    public CompletableFuture<Void> disconnect() {
        closing = true;
        if (!client.getState().isConnectedOrReconnect()) {
            return CompletableFuture.completedFuture(null);
        }
        return client.disconnect().exceptionally(e -> null);
    }

    @Override
    public void close() {
        try {
            disconnect().get(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            // already gone
        }
    }
}
