package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.sim.DeviceEnrollment;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.LogLine;
import dev.turnout.proto.LogRequest;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.rules.DeviceTrust;
import dev.turnout.proto.rules.LogRequestRules;
import dev.turnout.proto.rules.TrustRules;
import dev.turnout.testsupport.MessageCallback;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A scripted MQTT peer on a device's credentials, for tests of the orchestrator's side of the wire: it
 * judges each desired state by the devices' {@link TrustRules} and answers in the fewest steps (STAGE with
 * STAGED, ACTIVATE with ACTIVE, or ROLLED_BACK for versions it is told to fail, nothing when it refuses
 * one), keeps what it accepted and counts what it refused, and publishes what a test scripts (a status, a
 * forged one, a health report, an offline presence). The simulator's device, which walks every state of
 * the edge daemon, is {@link dev.turnout.orchestrator.sim.SimulatedDevice}.
 */
public final class ScriptedDevice implements AutoCloseable {

    /** The platform it claims; every release it accepts needs an image for it. */
    private static final String PLATFORM = "linux/arm64";

    private final String id;
    private final Topics topics;
    private final TrustRules rules;
    private final Set<String> failingVersions;
    private final MqttAsyncClient client;
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final List<DesiredState> accepted = new CopyOnWriteArrayList<>();
    private final java.util.concurrent.atomic.AtomicInteger rejected = new java.util.concurrent.atomic.AtomicInteger();
    private final Map<String, String> running = new ConcurrentHashMap<>();
    private final java.time.Duration activationTime;
    // only the worker thread reads and writes it
    private volatile DeviceTrust trust;
    private final java.util.concurrent.atomic.AtomicInteger logRefused = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicInteger logAnswered = new java.util.concurrent.atomic.AtomicInteger();
    private volatile boolean silentOnLogs;
    /** When its log's lines were written, as far as its answers say (Unix epoch nanoseconds). */
    private final long startedNs = System.currentTimeMillis() * 1_000_000L;

    /**
     * Connects as {@code id} (user name and client id) with the broker secret from its enrollment
     * config ({@link #passwordOf}).
     */
    public ScriptedDevice(String id, String password, String brokerUrl, Topics topics, PublicKey trusted,
                          Set<String> failingVersions) throws MqttException {
        this(id, password, brokerUrl, topics, trusted, failingVersions, java.time.Duration.ZERO);
    }

    /** @param activationTime how long an activation takes before the device reports its outcome */
    public ScriptedDevice(String id, String password, String brokerUrl, Topics topics, PublicKey trusted,
                          Set<String> failingVersions, java.time.Duration activationTime) throws MqttException {
        this.activationTime = activationTime;
        this.id = id;
        this.topics = topics;
        this.rules = new TrustRules(id, PLATFORM);
        this.trust = DeviceTrust.of(List.of(trusted));
        this.failingVersions = failingVersions;
        this.client = new MqttAsyncClient(brokerUrl, id, new MemoryPersistence());
        client.setCallback((MessageCallback) (topic, message) -> {
            byte[] payload = message.getPayload();
            if (topic.equals(topics.logRequest(id))) {
                worker.execute(() -> onLogRequest(payload));
            } else {
                worker.execute(() -> onDesired(payload));
            }
        });
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        options.setUserName(id);
        options.setPassword(password.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        client.connect(options).waitForCompletion(10_000);
        client.subscribe(new MqttSubscription[] {new MqttSubscription(topics.desired(id), 1),
                new MqttSubscription(topics.logRequest(id), 1)}).waitForCompletion(10_000);
        publishPresence();
    }

    /** The ids of the signing keys it trusts: the enrolled one, or the last signed rotation's. */
    public List<String> trustedKeyIds() {
        return trust.keys().trustedKeys().stream().map(PublicKey::keyId).toList();
    }

    /** Says it is online, with the keys it trusts, as the daemon does after connecting and after a key rotation. */
    private void publishPresence() {
        publish(topics.presence(id), Presence.newBuilder().setDeviceId(id).setOnline(true).setPlatform(PLATFORM)
                .setTimestampMs(System.currentTimeMillis()).addAllTrustedKeyIds(trustedKeyIds()).build().toByteArray(), true);
    }

    /** The {@code mqttPassword} of an enrollment config (the YAML {@code POST /api/v1/devices} answers). */
    public static String passwordOf(String enrollmentYaml) {
        return DeviceEnrollment.parse(enrollmentYaml).mqttPassword();
    }

    /** Desired states its trust rules refused (bad signature, another device, replay, ...). */
    public int rejected() {
        return rejected.get();
    }

    public boolean isConnected() {
        return client.isConnected();
    }

    public List<DesiredState> accepted() {
        return accepted;
    }

    /** The version of app web that runs ("" for none). */
    public String running() {
        return running.getOrDefault("web", "");
    }

    /** Publishes an ACTIVE status for app web at {@code version} on its own status topic. */
    public void reportStatus(String version) {
        publish(topics.status(id), StatusEvent.newBuilder().setDeviceId(id).setApp("web").setVersion(version)
                .setState(UpdateState.ACTIVE).setTimestampMs(System.currentTimeMillis()).build().toByteArray(), false);
    }

    /** Publishes a status as if it came from {@code claimedId} on this device's own topic. */
    void publishSpoofedStatus(String claimedId, String version, long sequence) {
        publish(topics.status(id), StatusEvent.newBuilder().setDeviceId(claimedId).setApp("web").setVersion(version)
                .setState(UpdateState.ACTIVE).setSequence(sequence).build().toByteArray(), false);
    }

    /** Publishes {@code event} as it is on this device's own status topic (QoS 1), retained if asked: a crafted report. */
    void publishStatus(StatusEvent event, boolean retained) {
        publish(topics.status(id), event.toByteArray(), retained);
    }

    /** Says it is offline, as the broker does with the daemon's last will. */
    public void publishOffline() {
        publish(topics.presence(id), Presence.newBuilder().setDeviceId(id).setOnline(false)
                .setTimestampMs(System.currentTimeMillis()).build().toByteArray(), true);
    }

    /** Publishes a health report the way the edge daemon's reporter does. */
    void publishHealth(double cpuPercent, double temperatureCelsius) {
        publish(topics.health(id), dev.turnout.proto.HealthReport.newBuilder().setDeviceId(id)
                .setTimestampMs(System.currentTimeMillis()).setCpuPercent(cpuPercent)
                .setMemoryUsedBytes(200L << 20).setMemoryTotalBytes(1L << 30)
                .setDiskFreeBytes(8L << 30).setDiskTotalBytes(32L << 30)
                .setTemperatureCelsius(temperatureCelsius)
                .addApps(dev.turnout.proto.AppHealth.newBuilder().setApp("web").setVersion(running()).setHealthy(true)
                        .setContainerState("running"))
                .build().toByteArray(), false);
    }

    private void onDesired(byte[] wire) {
        TrustRules.Verdict verdict = rules.judge(wire, trust, System.currentTimeMillis(), true, app -> running.getOrDefault(app, ""));
        if (verdict instanceof TrustRules.Refused) {
            rejected.incrementAndGet();
            return;
        }
        if (!(verdict instanceof TrustRules.Accepted ok)) {
            return; // the last sequence again: acted on already
        }
        List<String> keysBefore = trustedKeyIds();
        trust = ok.next();
        if (!keysBefore.equals(trustedKeyIds())) {
            publishPresence();
        }
        DesiredState state = ok.state();
        accepted.add(state);
        for (AppDesired app : state.getAppsList()) {
            String version = app.getRelease().getVersion();
            if (app.getPhase() == Phase.REMOVE) { // as the daemon does: nothing of the app is left
                running.remove(app.getApp());
                status(app, "", UpdateState.REMOVED, Reason.REASON_UNSPECIFIED, state.getSequence());
                continue;
            }
            if (app.getPhase() == Phase.STAGE) {
                status(app, version, UpdateState.STAGED, Reason.REASON_UNSPECIFIED, state.getSequence());
                continue;
            }
            try {
                Thread.sleep(activationTime.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (failingVersions.contains(version)) {
                status(app, version, UpdateState.ROLLED_BACK, Reason.HEALTH_CHECK_FAILED, state.getSequence(), failureLog(app.getApp(), version));
            } else {
                running.put(app.getApp(), version);
                status(app, version, UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED, state.getSequence());
            }
        }
    }

    /** What the failed container of {@code version} printed last, as the daemon's failure report carries it. */
    public static String failureLog(String app, String version) {
        return app + " " + version + " starting\nerror: <b>cannot open</b> /dev/ttyACM0 & giving up";
    }

    /** What its app web printed, oldest first, as it answers log requests: two lines per version that ran. */
    public static List<String> log(String version) {
        return List.of("web " + version + " listening on :8080", "web " + version + " \u001b[32mhealthy\u001b[0m");
    }

    /** Log requests it refused (bad signature, another device's, expired: not answered) and those it answered. */
    public int logRequestsRefused() {
        return logRefused.get();
    }

    public int logRequestsAnswered() {
        return logAnswered.get();
    }

    /** True: it receives log requests and answers none (an old daemon, a hung one). */
    public void answerNoLogRequests(boolean silent) {
        this.silentOnLogs = silent;
    }

    /** As the edge daemon does (LogRequests): the same rules, then the app's lines; nothing for a refused request. */
    private void onLogRequest(byte[] wire) {
        LogRequestRules.Verdict verdict = new LogRequestRules(id).judge(wire, trust.keys(), System.currentTimeMillis(), true);
        if (!(verdict instanceof LogRequestRules.Accepted accepted)) {
            logRefused.incrementAndGet();
            return;
        }
        if (silentOnLogs) {
            return;
        }
        LogRequest request = accepted.request();
        LogResponse.Builder answer = LogResponse.newBuilder().setRequestId(request.getRequestId()).setDeviceId(id)
                .setApp(request.getApp()).setTimestampMs(System.currentTimeMillis());
        String version = running.get(request.getApp());
        if (version == null) {
            answer.setError("no app '" + request.getApp() + "' on device " + id).setNotFound(true);
        } else {
            answer.setVersion(version);
            List<String> lines = log(version);
            List<LogLine> kept = new java.util.ArrayList<>();
            for (int i = 0; i < lines.size(); i++) { // each line keeps its time, as an engine's log does
                if (startedNs + i > request.getSinceNs()) {
                    kept.add(LogLine.newBuilder().setTimestampNs(startedNs + i).setText(lines.get(i)).build());
                }
            }
            answer.addAllLines(kept.subList(Math.max(0, kept.size() - accepted.tail()), kept.size()));
        }
        logAnswered.incrementAndGet();
        publish(topics.logResponse(id), answer.build().toByteArray(), false);
    }

    private void status(AppDesired app, String version, UpdateState s, Reason reason, long sequence) {
        status(app, version, s, reason, sequence, "");
    }

    private void status(AppDesired app, String version, UpdateState s, Reason reason, long sequence, String logTail) {
        publish(topics.status(id), StatusEvent.newBuilder().setDeviceId(id).setApp(app.getApp()).setVersion(version)
                .setState(s).setReason(reason).setSequence(sequence).setRolloutId(app.getRolloutId())
                .setRunningVersion(running.getOrDefault(app.getApp(), "")).setTimestampMs(System.currentTimeMillis())
                .setLogTail(logTail).build().toByteArray(), false);
    }

    private void publish(String topic, byte[] payload, boolean retained) {
        try {
            MqttMessage message = new MqttMessage(payload);
            message.setQos(1);
            message.setRetained(retained);
            client.publish(topic, message);
        } catch (MqttException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() throws MqttException {
        worker.shutdownNow();
        if (client.isConnected()) {
            client.disconnect(1_000).waitForCompletion(5_000);
        }
        client.close(true);
    }
}
