package dev.turnout.orchestrator.mqtt;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.orchestrator.port.FleetEvents;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.port.ReportExecutor;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import org.eclipse.paho.mqttv5.client.DisconnectedBufferOptions;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttActionListener;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@link FleetTransport} over MQTT 5 (Paho async client): publishes desired states (retained,
 * QoS 1) and rollout events, subscribes to status, presence and health of every device and hands
 * each decoded report to {@link FleetEvents} on the given executor. Paho callbacks never block.
 *
 * <p>Reports are acknowledged by hand ({@link OrderedAcks}): a status or presence report only once the
 * executor says it is stored, so that the broker keeps every report this orchestrator has not stored
 * (a kill -9 loses none: the session is kept, the broker hands them over again). Whatever is not stored
 * (log answers, malformed or unwanted messages) is acknowledged at once.
 */
public final class MqttFleetTransport implements FleetTransport, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(MqttFleetTransport.class);
    /**
     * Desired states and rollout events handed to the broker and not acknowledged yet, at most (and
     * never more than the broker's receive maximum). Ten, as before, held a 10,000-device rollout to
     * the round trips of one connection: the wave's desired states queued here while the broker idled.
     */
    static final int MAX_IN_FLIGHT = 1000;
    /**
     * Of which STAGEs, states published again and rollout events, at most: a wave's ACTIVATE waits behind these at the
     * broker, never behind the whole window (at 1,000 it waited 90 ms p50 at 10,000 devices on Mosquitto, 14,000 msg/s).
     */
    static final int MAX_BACKGROUND_IN_FLIGHT = 200;
    private static final int PUBLISH_ATTEMPTS = 20;
    /** Attempts at connecting at start while the broker does not answer in time (10 s each, then a pause). */
    private static final int CONNECT_ATTEMPTS = 6;
    private static final long SUBSCRIBE_TIMEOUT_MS = 30_000;

    private final Topics topics;
    private final MqttAsyncClient client;
    /** Shared-subscription group of the orchestrator instances ({@code $share/<group>/...}); null: plain subscriptions. */
    private final String shareGroup;
    private volatile FleetEvents events;
    /** Takes each device's answer to a log request (topic's device id, answer); null: none are read. */
    private volatile java.util.function.BiConsumer<String, LogResponse> logResponses;
    /** Larger log answers are dropped unread: a device sends 64 KiB at most. */
    static final int MAX_LOG_RESPONSE_BYTES = 80 * 1024;
    private volatile ReportExecutor eventExecutor;
    /**
     * Reports the broker delivers from this orchestrator's persistent session as soon as it
     * connects, before {@link #listen} is called: what devices said while it was down. Kept and
     * handed over in order, not dropped.
     */
    private final List<TopicMessage> early = new ArrayList<>();
    /** Set once the reports are subscribed to (again after every reconnect). */
    private volatile boolean reportsWanted;

    private record TopicMessage(String topic, MqttMessage message, OrderedAcks.Receipt receipt) {
    }
    /** Acknowledges what arrived, in order, once done with. */
    private final OrderedAcks acks;
    /**
     * The MQTT 5 user property naming a report's receipt at the broker and who takes it once the report is stored
     * (the embedded broker holds the device's acknowledgement until then); null: none.
     */
    private volatile String receiptProperty;
    private volatile java.util.function.Consumer<String> receiptStored;
    /**
     * Decisions before background desired states and rollout events ({@link OutboundQueue}); its window is sized once
     * connected: the smaller of {@link #MAX_IN_FLIGHT} and the broker's receive maximum.
     */
    private volatile OutboundQueue outbox;
    private final Thread publisher;
    /** When the last message arrived from the broker ({@link System#nanoTime}); read by {@link #awaitQuiet}. */
    private volatile long lastArrivalNanos = System.nanoTime();
    private volatile boolean closed;
    /**
     * Lost the connection this long ago and not back: the client is asked to reconnect now. Paho's automatic reconnect
     * tries after 1, 2, 4 ... 30 s, but once (RecordTruthIT, after a Mosquitto restart) it never came back in 60 s while
     * the devices were back within a second; Paho logs nothing of its attempts, so this also says that it happened.
     */
    static final long RECONNECT_NUDGE_NANOS = TimeUnit.SECONDS.toNanos(20);
    /** When the connection was lost ({@link System#nanoTime}); 0 while connected. */
    private volatile long disconnectedSinceNanos;
    private long lastNudgeNanos;

    private MqttFleetTransport(Topics topics, MqttAsyncClient client, String shareGroup) {
        this.topics = topics;
        this.client = client;
        this.shareGroup = shareGroup;
        this.publisher = new Thread(this::publishLoop, "turnout-mqtt-publisher");
        this.publisher.setDaemon(true);
        this.acks = new OrderedAcks(client::messageArrivedComplete);
    }

    /**
     * Connects to {@code brokerUrl} as user {@code username} (with {@code password}; null: anonymously)
     * and client id {@code clientId}, waiting up to 30 s. Reports are read once {@link #listen} is called.
     *
     * @param shareGroup null for the only orchestrator; else one of several instances: device reports
     *                   are read through MQTT 5 shared subscriptions ({@code $share/<group>/...}, each
     *                   report goes to one instance of the group) and the session ends with the
     *                   connection, so that the broker hands a stopped instance's share to the others
     *                   instead of queueing it
     * @param tls        sockets for an {@code ssl://} broker URL (null: Paho's defaults)
     * @param verifyHost false only for this host's own loopback listener whose certificate may not name 127.0.0.1
     */
    public static MqttFleetTransport connect(String brokerUrl, String username, String clientId, String password, Topics topics,
                                             String shareGroup, javax.net.ssl.SSLSocketFactory tls, boolean verifyHost) throws MqttException {
        if (shareGroup != null && (shareGroup.isBlank() || shareGroup.matches(".*[/+#\\s].*"))) {
            throw new IllegalArgumentException("share group '" + shareGroup + "' must be a non-empty name without '/', '+', '#' or spaces");
        }
        MqttAsyncClient client = new MqttAsyncClient(brokerUrl, clientId, new MemoryPersistence());
        MqttFleetTransport transport = new MqttFleetTransport(topics, client, shareGroup);
        client.setCallback(transport.new Callback());
        client.setManualAcks(true); // a report is acknowledged once stored (OrderedAcks)
        DisconnectedBufferOptions buffer = new DisconnectedBufferOptions();
        buffer.setBufferEnabled(true);
        buffer.setBufferSize(100_000);
        buffer.setPersistBuffer(false);
        buffer.setDeleteOldestMessages(false);
        client.setBufferOpts(buffer);
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setAutomaticReconnect(true);
        options.setAutomaticReconnectDelay(1, 30);
        options.setCleanStart(shareGroup != null);
        options.setSessionExpiryInterval(shareGroup != null ? 0L : 3600L);
        options.setKeepAliveInterval(30);
        options.setConnectionTimeout(10);
        if (password != null) {
            options.setUserName(username);
            options.setPassword(password.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        if (tls != null) {
            options.setSocketFactory(tls);
            options.setHttpsHostnameVerificationEnabled(verifyHost);
        }
        try {
            IMqttToken connected = connectPatiently(client, options, brokerUrl);
            Integer receiveMaximum = connected.getResponseProperties() == null ? null
                    : connected.getResponseProperties().getReceiveMaximum();
            int window = Math.min(MAX_IN_FLIGHT, receiveMaximum == null || receiveMaximum <= 0 ? 65_535 : receiveMaximum);
            transport.outbox = new OutboundQueue(window, Math.max(1, Math.min(MAX_BACKGROUND_IN_FLIGHT, window / 2)));
        } catch (MqttException e) {
            String why = dev.turnout.proto.tls.PinnedTrust.explain(e);
            if (why != null) {
                throw new IllegalStateException("cannot connect to the broker " + brokerUrl + ": " + why, e);
            }
            throw e;
        }
        transport.publisher.start();
        LOG.info("connected to MQTT broker {} as {} ({} messages in flight at most){}", brokerUrl, clientId, transport.outbox.window(),
                shareGroup == null ? "" : ", reading device reports in shared subscription group " + shareGroup);
        return transport;
    }

    /**
     * Connects, trying again while the broker does not answer in time: a broker that has just started (the embedded one
     * after an orchestrator restart) may be busy with thousands of devices coming back at once, and the orchestrator
     * must not give up its start for that. A refusal (bad credentials, not authorized) is not retried.
     */
    private static IMqttToken connectPatiently(MqttAsyncClient client, MqttConnectionOptions options, String brokerUrl)
            throws MqttException {
        for (int attempt = 1; ; attempt++) {
            try {
                IMqttToken connected = client.connect(options);
                connected.waitForCompletion(30_000);
                return connected;
            } catch (MqttException e) {
                boolean busy = e.getReasonCode() == org.eclipse.paho.mqttv5.client.MqttClientException.REASON_CODE_CLIENT_TIMEOUT
                        || e.getReasonCode() == org.eclipse.paho.mqttv5.client.MqttClientException.REASON_CODE_SERVER_CONNECT_ERROR
                        || e.getReasonCode() == org.eclipse.paho.mqttv5.client.MqttClientException.REASON_CODE_CONNECT_IN_PROGRESS;
                if (!busy || attempt >= CONNECT_ATTEMPTS) {
                    throw e;
                }
                LOG.warn("the broker {} did not answer in time ({}); trying again ({} of {})", brokerUrl, e.getMessage(),
                        attempt + 1, CONNECT_ATTEMPTS);
                try {
                    Thread.sleep(1_000L * attempt);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /** Subscribes to every device's reports and hands each to {@code events} on {@code executor}. */
    public void listen(FleetEvents events, ReportExecutor executor) throws MqttException {
        synchronized (early) {
            this.eventExecutor = executor;
            this.events = events;
            if (!early.isEmpty()) {
                LOG.info("handing over {} report(s) that arrived while the orchestrator was away", early.size());
            }
            for (TopicMessage m : early) {
                dispatch(m.topic(), m.message(), m.receipt());
            }
            early.clear();
        }
        subscribeToReports();
    }

    /**
     * Subscribes to every device's reports now, once, and returns when the broker has acknowledged it; reports that
     * arrive before {@link #listen} are kept for it. The embedded broker, which keeps nothing on disk, lets devices in
     * once this returns: no report can reach it before the orchestrator listens for it.
     */
    public void subscribeToReports() throws MqttException {
        synchronized (early) {
            if (reportsWanted) {
                return;
            }
            reportsWanted = true;
        }
        subscribe().waitForCompletion(SUBSCRIBE_TIMEOUT_MS);
    }

    private IMqttToken subscribe() throws MqttException {
        if (!reportsWanted) {
            return null;
        }
        return client.subscribe(new MqttSubscription[] {
            new MqttSubscription(shared(topics.allStatus()), 1),
            new MqttSubscription(shared(topics.allPresence()), 1),
            new MqttSubscription(shared(topics.allHealth()), 0),
            // not shared: the answer goes to every instance, and the one that asked takes it
            new MqttSubscription(topics.allLogResponses(), 1),
        });
    }

    /**
     * Once a report carrying the user property {@code property} is stored (or dropped unread: malformed, not a
     * device's), hands its value to {@code stored}: the embedded broker's receipt, on which it releases the device's
     * acknowledgement. Call before {@link #listen}.
     */
    public void onReceiptStored(String property, java.util.function.Consumer<String> stored) {
        this.receiptProperty = property;
        this.receiptStored = stored;
    }

    /** Reports received and not acknowledged to the broker yet (not stored yet, or behind one that is not). */
    public int unacknowledged() {
        return acks.unacknowledged();
    }

    /** Hands every device's answer to a log request to {@code handler} (on Paho's thread: it must not block). */
    public void onLogResponse(java.util.function.BiConsumer<String, LogResponse> handler) {
        this.logResponses = handler;
    }

    /** Publishes a signed log request for one device (QoS 1, never retained: a device offline now never gets it). */
    public void publishLogRequest(String deviceId, byte[] signedEnvelope) {
        outbox.add(new OutboundQueue.Outgoing(topics.logRequest(deviceId), signedEnvelope, false), OutboundQueue.Lane.DECISION);
    }

    private String shared(String filter) {
        return shareGroup == null ? filter : "$share/" + shareGroup + "/" + filter;
    }

    @Override
    public void publishDesired(String deviceId, byte[] signedEnvelope) {
        outbox.add(new OutboundQueue.Outgoing(topics.desired(deviceId), signedEnvelope, true), OutboundQueue.Lane.DECISION);
    }

    @Override
    public void publishDesiredInBackground(String deviceId, byte[] signedEnvelope) {
        outbox.add(new OutboundQueue.Outgoing(topics.desired(deviceId), signedEnvelope, true), OutboundQueue.Lane.BACKGROUND);
    }

    @Override
    public void publishRolloutEvent(RolloutEvent event) {
        outbox.add(new OutboundQueue.Outgoing(topics.rolloutEvents(event.getRolloutId()), event.toByteArray(), false),
                OutboundQueue.Lane.EVENTS);
    }

    /** Messages accepted and not yet acknowledged by the broker. */
    public int pending() {
        return outbox.size();
    }

    private void publishLoop() {
        while (!closed) {
            nudgeReconnect();
            OutboundQueue.Outgoing next;
            try {
                next = outbox.take(200);
                if (next == null) {
                    continue;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            send(next);
        }
    }

    /** Asks the client to reconnect once the connection has been lost for {@link #RECONNECT_NUDGE_NANOS}, and every as long after. */
    private void nudgeReconnect() {
        long since = disconnectedSinceNanos;
        long now = System.nanoTime();
        if (since == 0 || closed || now - since < RECONNECT_NUDGE_NANOS || now - lastNudgeNanos < RECONNECT_NUDGE_NANOS) {
            return;
        }
        lastNudgeNanos = now;
        if (client.isConnected()) {
            disconnectedSinceNanos = 0;
            return;
        }
        LOG.warn("still not connected to the MQTT broker {} s after the connection was lost: asking the client to reconnect now",
                TimeUnit.NANOSECONDS.toSeconds(now - since));
        try {
            client.reconnect();
        } catch (MqttException e) {
            LOG.info("reconnect: {}", e.toString()); // already connecting: its own attempt goes on
        }
    }

    private void send(OutboundQueue.Outgoing out) {
        MqttMessage message = new MqttMessage(out.payload);
        message.setQos(1);
        message.setRetained(out.retained);
        MqttProperties properties = new MqttProperties();
        properties.setContentType(Topics.CONTENT_TYPE);
        message.setProperties(properties);
        for (int attempt = 1; attempt <= PUBLISH_ATTEMPTS && !closed; attempt++) {
            try {
                client.publish(out.topic, message, null, new MqttActionListener() {
                    @Override
                    public void onSuccess(IMqttToken token) {
                        outbox.acknowledged(out);
                    }

                    @Override
                    public void onFailure(IMqttToken token, Throwable failure) {
                        outbox.acknowledged(out);
                        LOG.warn("publish to {} failed: {}", out.topic, failure.toString());
                    }
                });
                return;
            } catch (MqttException e) {
                LOG.warn("publish to {} refused (attempt {}): {}", out.topic, attempt, e.toString());
                try {
                    Thread.sleep(500); // dedicated publisher thread: back off before the next attempt
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        outbox.acknowledged(out);
        LOG.error("gave up publishing to {}", out.topic);
    }

    /**
     * Waits until no message has arrived for {@code quiet} (at most {@code limit}): what the broker already holds for
     * this client (reports it acknowledged to devices) is read before the client goes. Returns the time waited.
     */
    public Duration awaitQuiet(Duration quiet, Duration limit) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + limit.toNanos();
        while (System.nanoTime() < deadline) {
            long sinceLast = System.nanoTime() - lastArrivalNanos;
            if (sinceLast >= quiet.toNanos()) {
                break;
            }
            Thread.sleep(Math.max(1, (quiet.toNanos() - sinceLast) / 1_000_000));
        }
        return Duration.ofNanos(System.nanoTime() - start);
    }

    /** This client's id at the broker. */
    public String clientId() {
        return client.getClientId();
    }

    @Override
    public void close() {
        closed = true;
        publisher.interrupt();
        try {
            if (client.isConnected()) {
                client.disconnect(1_000).waitForCompletion(5_000);
            }
        } catch (MqttException e) {
            LOG.debug("disconnect: {}", e.toString());
        }
        try {
            client.close(true);
        } catch (MqttException e) {
            LOG.debug("close: {}", e.toString());
        }
    }

    /**
     * True for the states a device reports once activated: the outcome the engine may be waiting for to
     * complete a wave. Staging progress (DOWNLOADING, STAGED) and the rest are not urgent.
     */
    static boolean decidesAWave(dev.turnout.proto.UpdateState state) {
        return switch (state) {
            case APPLYING, VERIFYING, ACTIVE, ROLLING_BACK, ROLLED_BACK, FAILED, REJECTED, WAITING_FOR_WINDOW -> true;
            default -> false;
        };
    }

    /**
     * Hands one device report to the engine, on its executor, to be acknowledged once stored; anything else is
     * acknowledged at once (never left open: the broker sends no more than its window of unacknowledged messages).
     */
    private void dispatch(String topic, MqttMessage message, OrderedAcks.Receipt receipt) {
        String deviceId = topics.deviceIdOf(topic).orElse(null);
        String kind = topics.kindOf(topic).orElse("");
        FleetEvents events = MqttFleetTransport.this.events;
        ReportExecutor eventExecutor = MqttFleetTransport.this.eventExecutor;
        // what is dropped is done with at once, the broker's receipt too: a device is not held up for a report never stored
        Runnable doneWith = stored(message, receipt);
        if (events == null || deviceId == null || !Topics.isValidId(deviceId)) {
            doneWith.run();
            return;
        }
        boolean handedOver = false;
        try {
            switch (kind) {
                case "status" -> {
                    StatusEvent event = StatusEvent.parseFrom(message.getPayload());
                    eventExecutor.execute(deviceId, decidesAWave(event.getState()), () -> events.onStatus(deviceId, event), doneWith);
                    handedOver = true;
                }
                case "presence" -> {
                    if (message.getPayload().length == 0) {
                        break; // a cleared retained presence
                    }
                    Presence presence = Presence.parseFrom(message.getPayload());
                    eventExecutor.execute(() -> events.onPresence(deviceId, presence), doneWith);
                    handedOver = true;
                }
                case "health" -> {
                    HealthReport report = HealthReport.parseFrom(message.getPayload());
                    eventExecutor.execute(() -> events.onHealth(deviceId, report), doneWith);
                    handedOver = true;
                }
                case Topics.LOG_RESPONSE -> {
                    java.util.function.BiConsumer<String, LogResponse> handler = logResponses;
                    if (handler == null) {
                        break;
                    }
                    if (message.getPayload().length > MAX_LOG_RESPONSE_BYTES) {
                        LOG.warn("dropped a log answer of {} bytes from {} (at most {})", message.getPayload().length, deviceId,
                                MAX_LOG_RESPONSE_BYTES);
                        break;
                    }
                    handler.accept(deviceId, LogResponse.parseFrom(message.getPayload()));
                }
                default -> {
                    // desired states and anything else under the prefix are not ours to read
                }
            }
        } catch (InvalidProtocolBufferException e) {
            LOG.warn("dropped a malformed {} message from {}: {}", kind, deviceId, e.getMessage());
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // not acknowledged: the broker keeps it in this orchestrator's session for the next start
            LOG.debug("left a {} message from {} unacknowledged while stopping", kind, deviceId);
            return;
        }
        if (!handedOver) {
            doneWith.run();
        }
    }

    /** What runs once a report is stored, or dropped unread: its acknowledgement, and the broker's receipt if it carries one. */
    private Runnable stored(MqttMessage message, OrderedAcks.Receipt receipt) {
        String property = receiptProperty;
        java.util.function.Consumer<String> taker = receiptStored;
        String ref = property == null || taker == null ? null : userProperty(message, property);
        if (ref == null) {
            return () -> acks.done(receipt);
        }
        return () -> {
            acks.done(receipt);
            taker.accept(ref);
        };
    }

    private static String userProperty(MqttMessage message, String name) {
        MqttProperties properties = message.getProperties();
        if (properties == null || properties.getUserProperties() == null) {
            return null;
        }
        for (org.eclipse.paho.mqttv5.common.packet.UserProperty p : properties.getUserProperties()) {
            if (name.equals(p.getKey())) {
                return p.getValue();
            }
        }
        return null;
    }

    private final class Callback implements MqttCallback {

        @Override
        public void disconnected(MqttDisconnectResponse response) {
            if (disconnectedSinceNanos == 0) {
                disconnectedSinceNanos = System.nanoTime();
            }
            acks.connectionLost();
            LOG.warn("disconnected from the MQTT broker: {}", response);
        }

        @Override
        public void mqttErrorOccurred(MqttException exception) {
            LOG.warn("MQTT error: {}", exception.toString());
        }

        @Override
        public void messageArrived(String topic, MqttMessage message) {
            lastArrivalNanos = System.nanoTime();
            OrderedAcks.Receipt receipt = acks.arrived(message.getId(), message.getQos());
            synchronized (early) {
                if (events == null) {
                    early.add(new TopicMessage(topic, message, receipt));
                    return;
                }
            }
            dispatch(topic, message, receipt);
        }

        @Override
        public void deliveryComplete(IMqttToken token) {
            // completion is tracked per publish
        }

        @Override
        public void connectComplete(boolean reconnect, String serverUri) {
            disconnectedSinceNanos = 0;
            try {
                subscribe();
            } catch (MqttException e) {
                LOG.error("cannot subscribe to device reports: {}", e.toString());
            }
            if (reconnect) {
                LOG.info("reconnected to MQTT broker {}", serverUri);
            }
        }

        @Override
        public void authPacketArrived(int reasonCode, MqttProperties properties) {
            // no enhanced authentication
        }
    }
}
