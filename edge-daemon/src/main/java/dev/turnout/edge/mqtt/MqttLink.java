package dev.turnout.edge.mqtt;

import dev.turnout.edge.port.StatusReporter;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.Presence;
import dev.turnout.proto.ReconnectPolicy;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.tls.PinnedTrust;
import org.eclipse.paho.mqttv5.client.DisconnectedBufferOptions;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttActionListener;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.client.MqttClientException;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The daemon's MQTT 5 session: subscribes to its desired-state and log-request topics, publishes presence (birth,
 * will, goodbye), status events, health reports and log answers. Paho callbacks only hand work to other threads.
 */
public final class MqttLink implements StatusReporter, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MqttLink.class);

    private final Client client;
    private final Topics topics;
    private final String deviceId;
    private final String username;
    private final String password;
    private final Consumer<byte[]> onDesiredState;
    private final Supplier<Presence> presence;
    private final Supplier<List<StatusEvent>> currentStatus;
    /** Takes each message of the log-request topic (null: the daemon answers none). */
    private volatile Consumer<byte[]> onLogRequest;
    /** One thread at a time for the work after a (re)connect; it ends when idle, as the link is almost always. */
    private final ExecutorService linkThread = new ThreadPoolExecutor(0, 1, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            r -> new Thread(r, "mqtt-link"));
    private final CountDownLatch firstSubscription = new CountDownLatch(1);
    /** How long the broker has to confirm the subscription to the desired state after a (re)connect. */
    static final long SUBSCRIBE_TIMEOUT_MS = 10_000;
    /** Runs the reconnect attempts after a lost connection; its thread ends when idle. */
    private final ScheduledThreadPoolExecutor reconnects = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "mqtt-reconnect");
        t.setDaemon(true);
        return t;
    });
    /** The fleet's reconnect window from the last accepted desired state (0: none known). */
    private volatile long reconnectWindowMs;
    /** The longest wait between two reconnect attempts (the device's {@code reconnectBackoffMax}). */
    private volatile long reconnectCapMs = ReconnectPolicy.CAP.toMillis();
    /** A reconnect attempt is scheduled or running: a lost connection schedules only one. */
    private final AtomicBoolean reconnecting = new AtomicBoolean();
    private volatile boolean closed;
    private volatile boolean everConnected;
    /**
     * Status reports sent and not yet acknowledged by the broker, in the order sent, with the connection (counted by
     * {@link #losses}) they went out on. The link connects with a clean session, so what was in flight when a
     * connection was lost is gone with it: Paho neither sends it again nor says so. At the loss those go into Paho's
     * disconnected buffer again, ahead of what is reported while away ({@link #sendAgainWhatTheLastConnectionLost}); before, only each app's current status was, and a refusal
     * (REJECTED: bad signature, unknown key, expired) is no app's status, so it was lost. A report sent twice is told
     * apart by its report number. At most {@value #UNACKNOWLEDGED_MAX} are kept (the oldest go first).
     */
    private final java.util.LinkedHashMap<Long, Unacknowledged> unacknowledged = new java.util.LinkedHashMap<>();
    static final int UNACKNOWLEDGED_MAX = 256;
    private final java.util.concurrent.atomic.AtomicLong reportKeys = new java.util.concurrent.atomic.AtomicLong();
    /** Connections lost so far: a report is marked with the count when sent. */
    private final java.util.concurrent.atomic.AtomicLong losses = new java.util.concurrent.atomic.AtomicLong();
    private final String brokerUrl;
    private final PinnedTrust trust;

    public MqttLink(String brokerUrl, String deviceId, Topics topics, String username, String password,
                    Consumer<byte[]> onDesiredState, Supplier<Presence> presence, Supplier<List<StatusEvent>> currentStatus)
            throws MqttException {
        this(brokerUrl, deviceId, topics, username, password, onDesiredState, presence, currentStatus, null);
    }

    /**
     * @param trust for an {@code ssl://} broker: the CA(s) its certificate must chain to (pinned); null: the system
     *              trust store. The broker's host name is verified either way.
     */
    public MqttLink(String brokerUrl, String deviceId, Topics topics, String username, String password,
                    Consumer<byte[]> onDesiredState, Supplier<Presence> presence, Supplier<List<StatusEvent>> currentStatus,
                    PinnedTrust trust) throws MqttException {
        this.brokerUrl = brokerUrl;
        this.trust = trust;
        this.client = new Client(brokerUrl, deviceId);
        reconnects.setKeepAliveTime(10, TimeUnit.SECONDS);
        reconnects.allowCoreThreadTimeOut(true);
        this.topics = topics;
        this.deviceId = deviceId;
        this.username = username;
        this.password = password;
        this.onDesiredState = onDesiredState;
        this.presence = presence;
        this.currentStatus = currentStatus;
        DisconnectedBufferOptions buffer = new DisconnectedBufferOptions();
        buffer.setBufferEnabled(true);
        buffer.setBufferSize(1000);
        buffer.setDeleteOldestMessages(true);
        buffer.setPersistBuffer(false);
        client.setBufferOpts(buffer);
        client.setCallback(new Callback());
    }

    /** Connects and returns once subscribed to the desired-state topic; retries until {@code timeout}. */
    public void connect(Duration timeout) throws MqttException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        MqttException last = null;
        int attempt = 0;
        while (System.nanoTime() < deadline) {
            if (client.isConnected()) {
                // an earlier attempt that timed out here went through after all (a slow broker): connected
                last = null;
                break;
            }
            try {
                client.connect(options()).waitForCompletion(10_000);
                last = null;
                break;
            } catch (MqttException e) {
                if (e.getReasonCode() == MqttClientException.REASON_CODE_CLIENT_CONNECTED) {
                    last = null;
                    break;
                }
                last = e;
                String tls = PinnedTrust.explain(e);
                log.warn("cannot connect to the broker {} yet: {}", brokerUrl, tls != null ? tls : e.getMessage());
                // back off before the next attempt, jittered: a site whose devices all boot at once does not retry in step
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                Thread.sleep(Math.max(0, Math.min(left, ReconnectPolicy.delayMs(attempt++, reconnectWindowMs, reconnectCapMs))));
            }
        }
        if (last != null) {
            String tls = PinnedTrust.explain(last);
            if (tls != null) {
                throw new IllegalStateException("cannot connect to the broker " + brokerUrl + ": " + tls, last);
            }
            throw last;
        }
        long left = Math.max(1, deadline - System.nanoTime());
        if (!firstSubscription.await(left, TimeUnit.NANOSECONDS)) {
            throw new IllegalStateException("connected but not subscribed to " + topics.desired(deviceId) + " in time");
        }
    }

    private MqttConnectionOptions options() {
        MqttConnectionOptions options = new MqttConnectionOptions();
        // A fresh session at every connect: the broker's retained copy of the desired state is the newest one, and
        // the only one the device needs. A kept session would also queue every desired state published while the
        // device was away, and the device would work through superseded releases (issue 23). What the device sends
        // is not lost either way: it publishes its presence and every app's current status after each connect.
        options.setCleanStart(true);
        options.setSessionExpiryInterval(0L);
        // Not Paho's automatic reconnect: it waits 1, 2, 4 … 30 s on every device of a fleet at the same instants, so
        // ten thousand devices hit a restarted broker together and overflow its listen backlog. The link reconnects
        // by itself with full jitter over the fleet's window (ReconnectPolicy, scheduleReconnect).
        options.setAutomaticReconnect(false);
        options.setKeepAliveInterval(30);
        options.setConnectionTimeout(10);
        options.setHttpsHostnameVerificationEnabled(true);
        if (trust != null) {
            options.setSocketFactory(trust.socketFactory("broker", true));
        }
        if (username != null && !username.isEmpty()) {
            options.setUserName(username);
        }
        if (password != null && !password.isEmpty()) {
            options.setPassword(password.getBytes(StandardCharsets.UTF_8));
        }
        MqttMessage will = message(Presence.newBuilder().setDeviceId(deviceId).setOnline(false).build().toByteArray(), true);
        options.setWill(topics.presence(deviceId), will);
        options.setWillMessageProperties(protobufProperties());
        return options;
    }

    /**
     * Spreads the first reconnect attempt after a lost connection over {@code windowMs} (the orchestrator sizes it to
     * the fleet and signs it into every desired state); 0: the default, a first attempt within a second.
     */
    public void reconnectWindow(long windowMs) {
        this.reconnectWindowMs = windowMs;
    }

    /**
     * The longest wait between two attempts to reach the broker again (default {@link ReconnectPolicy#CAP}, 30 s); a
     * fleet's reconnect window longer than it still spreads the first attempt over the window.
     */
    public void reconnectBackoffAtMost(java.time.Duration longest) {
        if (longest.isNegative() || longest.isZero()) {
            throw new IllegalArgumentException("the longest reconnect back-off must be positive");
        }
        this.reconnectCapMs = longest.toMillis();
    }

    /** After a lost connection: the next attempt, {@code attempt} (0-based) since the loss, after a jittered delay. */
    private void scheduleReconnect(int attempt) {
        if (closed) {
            return;
        }
        long delay = ReconnectPolicy.delayMs(attempt, reconnectWindowMs, reconnectCapMs);
        log.debug("reconnect attempt {} in {} ms", attempt + 1, delay);
        try {
            reconnects.schedule(() -> reconnect(attempt), delay, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closed meanwhile
        }
    }

    private void reconnect(int attempt) {
        if (closed || client.isConnected()) {
            reconnecting.set(false);
            return;
        }
        try {
            client.connect(options(), null, new MqttActionListener() {
                @Override
                public void onSuccess(IMqttToken token) {
                    reconnecting.set(false);
                    client.sendBuffered(); // what was published while away goes first, as with Paho's own reconnect
                }

                @Override
                public void onFailure(IMqttToken token, Throwable failure) {
                    String tls = PinnedTrust.explain(failure);
                    log.debug("reconnect attempt {} failed: {}", attempt + 1, tls != null ? tls : failure.getMessage());
                    scheduleReconnect(attempt + 1);
                }
            });
        } catch (MqttException e) {
            log.debug("reconnect attempt {} not started: {}", attempt + 1, e.getMessage());
            scheduleReconnect(attempt + 1);
        }
    }

    /** Hands each message of this device's log-request topic to {@code handler}; call before {@link #connect}. */
    public void onLogRequest(Consumer<byte[]> handler) {
        this.onLogRequest = handler;
    }

    /** Answers a log request on this device's log-response topic (never retained). */
    public void publishLogResponse(LogResponse response) {
        publish(topics.logResponse(deviceId), response.toByteArray(), false);
    }

    @Override
    public void report(StatusEvent event) {
        sendReport(event.toByteArray());
    }

    private record Unacknowledged(byte[] payload, long connection) {
    }

    private void sendReport(byte[] payload) {
        long key = reportKeys.incrementAndGet();
        synchronized (unacknowledged) {
            unacknowledged.put(key, new Unacknowledged(payload, losses.get()));
            if (unacknowledged.size() > UNACKNOWLEDGED_MAX) {
                unacknowledged.remove(unacknowledged.keySet().iterator().next());
            }
        }
        try {
            client.publish(topics.status(deviceId), message(payload, false), null, new MqttActionListener() {
                @Override
                public void onSuccess(IMqttToken token) {
                    synchronized (unacknowledged) {
                        unacknowledged.remove(key);
                    }
                }

                @Override
                public void onFailure(IMqttToken token, Throwable failure) {
                    // kept: sent again after the next reconnect
                }
            });
        } catch (MqttException e) {
            log.warn("cannot publish a status report now ({}); it goes again after the next reconnect", e.getMessage());
        }
    }

    /** Sends again the reports a lost connection took with it (sent on it, never acknowledged). */
    private void sendAgainWhatTheLastConnectionLost() {
        long now = losses.get();
        List<byte[]> again = new java.util.ArrayList<>();
        synchronized (unacknowledged) {
            var it = unacknowledged.values().iterator();
            while (it.hasNext()) {
                Unacknowledged u = it.next();
                if (u.connection() < now) { // went out on a connection lost since; later ones wait in Paho's buffer
                    again.add(u.payload());
                    it.remove();
                }
            }
        }
        again.forEach(this::sendReport);
        if (!again.isEmpty()) {
            log.info("{} status report(s) the lost connection had not had acknowledged go again", again.size());
        }
    }

    /** Status reports sent and not yet acknowledged (for tests). */
    int unacknowledgedReports() {
        synchronized (unacknowledged) {
            return unacknowledged.size();
        }
    }

    /** Publishes the device's presence again (retained), e.g. once it trusts other signing keys. */
    public void publishPresence() {
        if (client.isConnected()) {
            publish(topics.presence(deviceId), presence.get().toByteArray(), true);
        }
    }

    /**
     * Publishes the device's presence (retained) and waits until the broker has it: what was published before it on
     * this session has reached the broker too. False when not connected or not acknowledged within {@code timeout}.
     */
    public boolean publishPresenceAndWait(Duration timeout) {
        if (!client.isConnected()) {
            return false;
        }
        try {
            client.publish(topics.presence(deviceId), message(presence.get().toByteArray(), true)).waitForCompletion(timeout.toMillis());
            return true;
        } catch (MqttException | RuntimeException e) {
            log.warn("presence not acknowledged: {}", e.getMessage());
            return false;
        }
    }

    public void publishHealth(HealthReport report) {
        publish(topics.health(deviceId), report.toByteArray(), false);
    }

    public boolean isConnected() {
        return client.isConnected();
    }

    private void publish(String topic, byte[] payload, boolean retained) {
        try {
            client.publish(topic, message(payload, retained));
        } catch (MqttException e) {
            log.warn("cannot publish to {}: {}", topic, e.getMessage());
        }
    }

    private static MqttMessage message(byte[] payload, boolean retained) {
        MqttMessage message = new MqttMessage(payload, 1, retained, protobufProperties());
        return message;
    }

    private static MqttProperties protobufProperties() {
        MqttProperties properties = new MqttProperties();
        properties.setContentType(Topics.CONTENT_TYPE);
        return properties;
    }

    /** Runs on the link thread after every (re)connect. */
    private void onConnected(boolean reconnect) {
        try {
            IMqttToken token = client.subscribe(new MqttSubscription[] {new MqttSubscription(topics.desired(deviceId), 1)});
            token.waitForCompletion(SUBSCRIBE_TIMEOUT_MS);
        } catch (MqttException | RuntimeException e) {
            // Connected but not subscribed: no desired state would ever arrive on this connection (the chaos soak saw a
            // daemon stay so for minutes after a partition healed). Drop it and connect again, which subscribes again.
            log.warn("the subscription to {} was not confirmed ({}); connecting again", topics.desired(deviceId), e.getMessage());
            dropAndReconnect();
            return;
        }
        try {
            if (onLogRequest != null) {
                subscribeToLogRequests();
            }
            client.publish(topics.presence(deviceId), message(presence.get().toByteArray(), true));
            if (reconnect) {
                sendAgainWhatTheLastConnectionLost(); // normally done at the loss already (see there); this catches the rest
            }
            for (StatusEvent event : currentStatus.get()) {
                report(event);
            }
            log.info("{} to the broker, subscribed to {}", reconnect ? "reconnected" : "connected", topics.desired(deviceId));
            firstSubscription.countDown();
        } catch (MqttException | RuntimeException e) {
            log.warn("after connecting: {}", e.getMessage());
        }
    }

    /** Closes the connection without a goodbye and schedules a reconnect, as after a lost connection. */
    private void dropAndReconnect() {
        if (closed) {
            return;
        }
        losses.incrementAndGet();
        try {
            client.disconnectForcibly(0, 1_000, false);
        } catch (MqttException | RuntimeException e) {
            log.debug("dropping the connection: {}", e.getMessage());
        }
        if (reconnecting.compareAndSet(false, true)) {
            client.rest();
            sendAgainWhatTheLastConnectionLost();
            scheduleReconnect(0);
        }
    }

    /**
     * Log requests on a subscription of their own: a broker whose rules predate them (a Mosquitto ACL not generated
     * again) refuses it, and the device must still get its desired states.
     */
    private void subscribeToLogRequests() {
        try {
            IMqttToken token = client.subscribe(new MqttSubscription[] {new MqttSubscription(topics.logRequest(deviceId), 1)});
            token.waitForCompletion(10_000);
            int[] codes = token.getReasonCodes();
            if (codes != null && codes.length > 0 && codes[0] >= 0x80) {
                log.warn("the broker refused the subscription to {} (reason {}): `turnout logs` cannot reach this device until its"
                        + " rules allow it (turnout broker mosquitto-config)", topics.logRequest(deviceId), codes[0]);
            }
        } catch (MqttException | RuntimeException e) {
            log.warn("cannot subscribe to {}: {}; `turnout logs` cannot reach this device", topics.logRequest(deviceId), e.getMessage());
        }
    }

    /**
     * What the Paho callback does with every received message: a payload on this device's desired-state
     * topic goes to the handler, anything else is dropped. Public so that tests feed it without a broker.
     */
    public void deliver(String topic, byte[] payload) {
        if (topics.desired(deviceId).equals(topic)) {
            onDesiredState.accept(payload == null ? new byte[0] : payload);
        } else if (topics.logRequest(deviceId).equals(topic) && onLogRequest != null) {
            onLogRequest.accept(payload == null ? new byte[0] : payload);
        } else {
            log.debug("dropped a message on {}", topic);
        }
    }

    @Override
    public void close() {
        closed = true;
        reconnects.shutdownNow();
        try {
            if (client.isConnected()) {
                Presence offline = presence.get().toBuilder().setOnline(false).setTimestampMs(System.currentTimeMillis()).build();
                client.publish(topics.presence(deviceId), message(offline.toByteArray(), true)).waitForCompletion(5_000);
                client.disconnect(5_000).waitForCompletion(6_000);
            }
        } catch (MqttException | RuntimeException e) {
            log.warn("clean disconnect failed: {}", e.getMessage());
        }
        linkThread.shutdownNow();
        try {
            client.close(true);
        } catch (MqttException e) {
            log.debug("close: {}", e.getMessage());
        }
    }

    private final class Callback implements MqttCallback {
        @Override
        public void disconnected(MqttDisconnectResponse response) {
            losses.incrementAndGet();
            log.warn("disconnected from the broker: {}", response.getReasonString() == null ? response.getReturnCode() : response.getReasonString());
            if (!closed && reconnecting.compareAndSet(false, true)) {
                client.rest(); // publishes wait in the buffer until the link is back
                // what the lost connection took goes into the buffer first, ahead of the reports made while away, so that
                // it reaches the orchestrator in the order it was made (behind newer ones it would be recorded late)
                sendAgainWhatTheLastConnectionLost();
                scheduleReconnect(0);
            }
        }

        @Override
        public void mqttErrorOccurred(MqttException exception) {
            String tls = PinnedTrust.explain(exception);
            log.warn("MQTT error: {}", tls != null ? tls : exception.getMessage());
        }

        @Override
        public void messageArrived(String topic, MqttMessage message) {
            deliver(topic, message.getPayload());
        }

        @Override
        public void deliveryComplete(IMqttToken token) {
            // nothing to do
        }

        @Override
        public void connectComplete(boolean reconnect, String serverUri) {
            boolean again = everConnected;
            everConnected = true;
            linkThread.execute(() -> onConnected(again));
        }

        @Override
        public void authPacketArrived(int reasonCode, MqttProperties properties) {
            // no enhanced authentication
        }
    }

    /**
     * Paho's client with the two steps of its automatic reconnect the link takes over: resting after a loss (publishes
     * go to the disconnected buffer instead of failing) and sending that buffer once connected again.
     */
    private static final class Client extends MqttAsyncClient {
        Client(String brokerUrl, String clientId) throws MqttException {
            super(brokerUrl, clientId, new MemoryPersistence());
        }

        void rest() {
            comms.setRestingState(true);
        }

        void sendBuffered() {
            comms.setRestingState(false);
            comms.notifyReconnect();
        }
    }
}
