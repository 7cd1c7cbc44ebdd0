package dev.turnout.orchestrator.sim;

import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.AppHealth;
import dev.turnout.proto.AppSummary;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Presence;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.LogLine;
import dev.turnout.proto.LogRequest;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.rules.DeviceTrust;
import dev.turnout.proto.rules.LogRequestRules;
import dev.turnout.proto.rules.TrustRules;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A simulated device: its own MQTT session and the edge daemon's wire behaviour, with an in-memory
 * container runtime instead of Docker. It judges each signed desired state by the daemon's own
 * {@link TrustRules} (signature, device id, sequence, expiry, platform, downgrade, key rotation) and walks
 * the daemon's states: {@code STAGE} goes
 * DOWNLOADING, STAGED; {@code ACTIVATE} goes on to APPLYING, VERIFYING and ACTIVE, or ROLLING_BACK and
 * ROLLED_BACK when the simulated health check fails. It publishes a retained presence (the broker
 * publishes its last will when the connection drops) and periodic health reports.
 *
 * <p>Costs no thread of its own: timed steps run on the fleet's shared scheduler, under this
 * device's lock.
 */
public final class SimulatedDevice {

    /** Agent version a simulated device reports in its presence. */
    public static final String AGENT_VERSION = "turnout-sim/0.1.0";
    private static final Logger LOG = LoggerFactory.getLogger(SimulatedDevice.class);

    /** Where one app stands, as the daemon persists it. */
    private record AppRecord(String app, String targetVersion, UpdateState state, Reason reason, String message, long sequence,
                             String rolloutId) {
    }

    private final DeviceEnrollment enrollment;
    private final SimulationOptions options;
    private final Topics topics;
    private final TrustRules rules;
    private final ScheduledExecutorService scheduler;
    private final SimulatedContainerRuntime runtime;
    private final SplittableRandom random;
    private final AsyncMqttSession session;
    private final CompletableFuture<Void> firstSubscription = new CompletableFuture<>();
    private final java.util.concurrent.atomic.AtomicLong published = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong publishFailures = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong desiredReceived = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong desiredBytes = new java.util.concurrent.atomic.AtomicLong();
    /** What its connection did, for a soak that stops on it: connects, the last subscription's outcome, the last message. */
    private final java.util.concurrent.atomic.AtomicLong connects = new java.util.concurrent.atomic.AtomicLong();
    private volatile String lastSubscription = "none";
    private volatile long lastDesiredAt;
    /** Report numbers as the daemon's: above the wall clock in milliseconds at start, then one more per report. */
    private final java.util.concurrent.atomic.AtomicLong reportNumbers = new java.util.concurrent.atomic.AtomicLong(System.currentTimeMillis());
    /** Status reports the broker acknowledged (QoS 1), in the order they were sent. */
    private final java.util.Queue<AcknowledgedReport> acknowledged = new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** The last status reports sent, newest last: what {@link #replayReports} sends again. */
    private final java.util.ArrayDeque<byte[]> recentReports = new java.util.ArrayDeque<>();
    /** "app:version" -> System.nanoTime() of the first accepted ACTIVATE of that version, and of its first ACTIVE report. */
    private final Map<String, Long> activateSeenAt = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, Long> activeReportedAt = new java.util.concurrent.ConcurrentHashMap<>();

    // guarded by this
    private DeviceTrust trust;
    /** When the simulated log's one line was "written", Unix epoch nanoseconds. */
    private final long startedNs = System.currentTimeMillis() * 1_000_000L;
    private final Map<String, AppRecord> apps = new LinkedHashMap<>();
    private boolean busy;
    private byte[] waiting;
    private boolean stopped;
    private boolean away;
    private int accepted;
    private ScheduledFuture<?> healthReports;

    SimulatedDevice(DeviceEnrollment enrollment, SimulationOptions options, ScheduledExecutorService scheduler, long seed) {
        this.enrollment = enrollment;
        this.options = options;
        this.topics = new Topics(enrollment.topicPrefix());
        this.rules = new TrustRules(enrollment.deviceId(), options.platform());
        this.trust = DeviceTrust.of(enrollment.trustedKeys());
        this.scheduler = scheduler;
        this.random = new SplittableRandom(seed);
        SplittableRandom healthDraws = new SplittableRandom(seed ^ 0x5DEECE66DL);
        this.runtime = new SimulatedContainerRuntime((app, version) ->
                !options.failingVersions().contains(version) && !(options.failRate() > 0 && healthDraws.nextDouble() < options.failRate()));
        String id = enrollment.deviceId();
        byte[] will = Presence.newBuilder().setDeviceId(id).setOnline(false).setAgentVersion(AGENT_VERSION)
                .setPlatform(options.platform()).build().toByteArray();
        this.session = AsyncMqttSession.create(new AsyncMqttSession.Settings(id, enrollment.brokerUrl(), enrollment.mqttUsername(),
                // as the daemon connects (MqttLink): a fresh session each time, the retained desired state being all it needs.
                // Until 2026-12-08 the simulator kept a 10-minute session the daemon has not kept since issue 23: a broker
                // then held 10,000 persistent sessions that no real fleet gives it, and every "deaf" device seen (connected,
                // subscribed, hearing nothing) was one of these sessions
                enrollment.mqttPassword(), true, 0, topics.presence(id), will, true, enrollment.trust()), new Link());
    }

    public String id() {
        return enrollment.deviceId();
    }

    /** Connects; completes once subscribed to its desired-state topic and its presence is published. */
    CompletableFuture<Void> start() {
        session.connect().whenComplete((ok, e) -> {
            if (e != null) {
                firstSubscription.completeExceptionally(e);
            }
        });
        synchronized (this) {
            long interval = options.healthInterval().toMillis();
            healthReports = scheduler.scheduleAtFixedRate(this::reportHealth, random.nextLong(interval) + 1, interval,
                    TimeUnit.MILLISECONDS);
        }
        return firstSubscription;
    }

    public boolean isConnected() {
        return session.isConnected();
    }

    /** The version of {@code app} that runs ("" for none). */
    public synchronized String running(String app) {
        return runtime.running(app);
    }

    /** Every app that runs, with its version. */
    public synchronized Map<String, String> runningApps() {
        return runtime.runningApps();
    }

    /** The last update state of {@code app} (IDLE when it never heard of it). */
    public synchronized UpdateState state(String app) {
        AppRecord r = apps.get(app);
        return r == null ? UpdateState.IDLE : r.state();
    }

    /** Messages the broker acknowledged (QoS 1) or took (QoS 0) from this device. */
    public long publishedCount() {
        return published.get();
    }

    /** Messages this device could not publish (not connected, refused). */
    public long publishFailureCount() {
        return publishFailures.get();
    }

    /**
     * What its connection did, and whether its desired state arrives when it subscribes once more (waits up to
     * {@code wait}): for a soak that stops on a device that heard nothing while connected.
     */
    public String connectionReport(Duration wait) {
        long before = desiredReceived.get();
        String again;
        try {
            session.subscribe(List.of(topics.desired(id()))).get(wait.toMillis(), TimeUnit.MILLISECONDS);
            long until = System.nanoTime() + wait.toNanos();
            while (desiredReceived.get() == before && System.nanoTime() < until) {
                Thread.sleep(20);
            }
            again = desiredReceived.get() > before ? "its retained desired state arrived when it subscribed again"
                    : "subscribed again: still no desired state within " + wait.toMillis() + " ms";
        } catch (Exception e) {
            again = "subscribing again failed: " + e;
        }
        return connects.get() + " connect(s), last subscription " + lastSubscription + ", last desired state "
                + (lastDesiredAt == 0 ? "never" : java.time.Instant.ofEpochMilli(lastDesiredAt).toString()) + "; " + again;
    }

    /** Desired-state messages that arrived (accepted or not). */
    public long desiredReceivedCount() {
        return desiredReceived.get();
    }

    /** Bytes of the desired-state messages that arrived. */
    public long desiredBytesReceived() {
        return desiredBytes.get();
    }

    /** System.nanoTime() when it accepted the first desired state activating {@code version} of {@code app}; 0 if never. */
    public long activateSeenAt(String app, String version) {
        return activateSeenAt.getOrDefault(app + ":" + version, 0L);
    }

    /** System.nanoTime() when it first published ACTIVE on {@code version} of {@code app}; 0 if never. */
    public long activeReportedAt(String app, String version) {
        return activeReportedAt.getOrDefault(app + ":" + version, 0L);
    }

    /** How many desired states it accepted. */
    public synchronized int acceptedCount() {
        return accepted;
    }

    /** A status report the broker acknowledged, and when (System.nanoTime()). */
    public record AcknowledgedReport(StatusEvent event, long atNanos) {
    }

    /** Every status report the broker acknowledged from this device (replays by {@link #replayReports} not counted). */
    public List<AcknowledgedReport> acknowledgedReports() {
        return List.copyOf(acknowledged);
    }

    /**
     * A fault a flaky link or a buggy client makes: sends its newest status report again (a duplicate, same report
     * number) and an older one (stale: a lower report number), as they were first sent.
     *
     * @return how many reports were sent again (0 when it has sent fewer than two, or is not connected)
     */
    public synchronized int replayReports(SplittableRandom draw) {
        if (stopped || recentReports.size() < 2 || !session.isConnected()) {
            return 0;
        }
        List<byte[]> recent = new ArrayList<>(recentReports);
        byte[] newest = recent.get(recent.size() - 1);
        byte[] older = recent.get(draw.nextInt(recent.size() - 1));
        session.publish(topics.status(id()), newest, 1, false);
        session.publish(topics.status(id()), older, 1, false);
        return 2;
    }

    /** Drops the connection so that the broker publishes the last will, and comes back after {@code awayFor}. */
    void dropConnection(Duration awayFor) {
        synchronized (this) {
            if (stopped || away) {
                return;
            }
            away = true;
        }
        session.disconnectWithWill().whenComplete((ok, e) -> scheduler.schedule(() -> {
            synchronized (this) {
                away = false;
                if (stopped) {
                    return;
                }
            }
            session.connect().exceptionally(failure -> {
                LOG.debug("{} could not reconnect: {}", id(), failure.toString());
                return null;
            });
        }, awayFor.toMillis(), TimeUnit.MILLISECONDS));
    }

    /** Says goodbye (offline presence) and disconnects, as the daemon does on a clean stop. */
    CompletableFuture<Void> stop() {
        synchronized (this) {
            stopped = true;
            if (healthReports != null) {
                healthReports.cancel(false);
            }
        }
        if (!session.isConnected()) {
            return session.disconnect();
        }
        return session.publish(topics.presence(id()), presence(false).toByteArray(), 1, true)
                .handle((ok, e) -> null)
                .thenCompose(x -> session.disconnect())
                .orTimeout(10, TimeUnit.SECONDS)
                .exceptionally(e -> null);
    }

    private final class Link implements AsyncMqttSession.Listener {
        @Override
        public void onMessage(String topic, byte[] payload) {
            if (topic.equals(topics.desired(id()))) {
                desiredReceived.incrementAndGet();
                lastDesiredAt = System.currentTimeMillis();
                desiredBytes.addAndGet(payload.length);
                onDesired(payload);
            } else if (topic.equals(topics.logRequest(id()))) {
                onLogRequest(payload);
            }
        }

        @Override
        public void onConnected() {
            connects.incrementAndGet();
            scheduler.execute(SimulatedDevice.this::afterConnect);
        }

        @Override
        public void onRefused(String why) {
            firstSubscription.completeExceptionally(new IllegalStateException(id() + ": the broker refused the connection: " + why));
        }
    }

    private void afterConnect() {
        long asked = System.currentTimeMillis();
        session.subscribe(List.of(topics.desired(id()), topics.logRequest(id()))).whenComplete((ok, e) ->
                lastSubscription = (e == null ? "confirmed" : "failed (" + e + ")") + " at " + java.time.Instant.ofEpochMilli(asked)
                        + " (connect " + connects.get() + ")").thenCompose(x -> {
            List<StatusEvent> current;
            synchronized (this) {
                current = apps.values().stream().map(this::event).toList();
            }
            for (StatusEvent e : current) {
                publishStatus(e);
            }
            return session.publish(topics.presence(id()), presence(true).toByteArray(), 1, true);
        }).whenComplete((ok, e) -> {
            if (e != null) {
                // connected, but maybe not subscribed: it would hear no desired state on this connection
                LOG.warn("{} after connecting: {}", id(), e.toString());
                firstSubscription.completeExceptionally(e);
            } else {
                firstSubscription.complete(null);
            }
        });
    }

    // ---- desired state: verify, then converge one app after the other ----

    /** Answers a log request as a daemon does (the same rules), with the few lines a simulated container "printed". */
    private synchronized void onLogRequest(byte[] wire) {
        LogRequestRules.Verdict verdict = new LogRequestRules(id()).judge(wire, trust.keys(), System.currentTimeMillis(), true);
        if (!(verdict instanceof LogRequestRules.Accepted accepted)) {
            LOG.debug("{} refused a log request: {}", id(), verdict);
            return;
        }
        LogRequest request = accepted.request();
        LogResponse.Builder answer = LogResponse.newBuilder().setRequestId(request.getRequestId()).setDeviceId(id())
                .setApp(request.getApp()).setTimestampMs(System.currentTimeMillis());
        String version = runtime.running(request.getApp());
        if (version.isEmpty()) {
            answer.setError("no container of '" + request.getApp() + "' on simulated device " + id()).setNotFound(true);
        } else {
            answer.setVersion(version);
            if (request.getSinceNs() < startedNs) { // one line, written when the simulation began: following adds nothing
                answer.addLines(LogLine.newBuilder().setTimestampNs(startedNs).setText(request.getApp() + " " + version
                        + " runs on simulated device " + id() + ": no container, no real log"));
            }
        }
        publish(topics.logResponse(id()), answer.build().toByteArray(), false);
    }

    private synchronized void onDesired(byte[] wire) {
        if (stopped) {
            return;
        }
        if (busy) {
            waiting = wire; // level-triggered: only the newest matters once the current update is done
            return;
        }
        process(wire);
    }

    /** Under the lock, not busy. */
    private void process(byte[] wire) {
        TrustRules.Verdict verdict = rules.judge(wire, trust, System.currentTimeMillis(), true, runtime::running);
        if (verdict instanceof TrustRules.Refused refused) {
            reject(refused.reason(), refused.message(), refused.state());
            return;
        }
        if (verdict instanceof TrustRules.Repeated repeated) {
            // as the daemon: a state applied arriving again gets the presence published again (retained), which says the
            // app is ACTIVE in case its report was lost with a broker that forgot the orchestrator's session
            long sequence = repeated.state().getSequence();
            if (session.isConnected() && apps.values().stream().anyMatch(r -> r.sequence() == sequence && r.state() == UpdateState.ACTIVE)) {
                session.publish(topics.presence(id()), presence(true).toByteArray(), 1, true);
            }
            return;
        }
        if (!(verdict instanceof TrustRules.Accepted ok)) {
            return; // a duplicate or the retained copy again: already acted on
        }
        List<String> keysBefore = trustedKeyIds();
        trust = ok.next();
        if (!keysBefore.equals(trustedKeyIds()) && session.isConnected()) { // as the daemon: tell the orchestrator
            session.publish(topics.presence(id()), presence(true).toByteArray(), 1, true);
        }
        DesiredState state = ok.state();
        session.reconnectWindow(state.getReconnectWindowMs()); // as the daemon does: the fleet's reconnect spread
        accepted++;
        long acceptedAt = System.nanoTime();
        for (AppDesired app : state.getAppsList()) {
            if (app.getPhase() == Phase.ACTIVATE) {
                activateSeenAt.putIfAbsent(app.getApp() + ":" + app.getRelease().getVersion(), acceptedAt);
            }
        }
        List<AppDesired> todo = new ArrayList<>();
        for (AppDesired app : state.getAppsList()) {
            AppRecord record = apps.get(app.getApp());
            if (record == null || record.sequence() < state.getSequence()) {
                todo.add(app);
            }
        }
        busy = true;
        convergeAll(todo.iterator(), state.getSequence());
    }

    private void convergeAll(Iterator<AppDesired> todo, long sequence) {
        if (!todo.hasNext()) {
            busy = false;
            byte[] next = waiting;
            waiting = null;
            if (next != null && !stopped) {
                process(next);
            }
            return;
        }
        converge(todo.next(), sequence, () -> convergeAll(todo, sequence));
    }

    private void converge(AppDesired want, long sequence, Runnable then) {
        if (want.getPhase() == Phase.REMOVE) {
            AppRecord removing = move(new AppRecord(want.getApp(), "", state(want.getApp()), Reason.REASON_UNSPECIFIED, "", sequence,
                    want.getRolloutId()), UpdateState.REMOVING, Reason.REASON_UNSPECIFIED, "");
            runtime.remove(want.getApp());
            move(removing, UpdateState.REMOVED, Reason.REASON_UNSPECIFIED, "");
            then.run();
            return;
        }
        String app = want.getApp();
        String version = want.getRelease().getVersion();
        AppRecord record = new AppRecord(app, version, state(app), Reason.REASON_UNSPECIFIED, "", sequence, want.getRolloutId());
        if (version.equals(runtime.running(app))) {
            move(record, UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED, "already running");
            then.run();
            return;
        }
        AppRecord downloading = move(record, UpdateState.DOWNLOADING, Reason.REASON_UNSPECIFIED, "");
        Duration download = runtime.isCached(app, version) ? Duration.ZERO : options.downloadTime();
        later(download, () -> {
            runtime.cache(app, version);
            AppRecord staged = move(downloading, UpdateState.STAGED, Reason.REASON_UNSPECIFIED, "");
            if (want.getPhase() != Phase.ACTIVATE) {
                then.run();
                return;
            }
            AppRecord applying = move(staged, UpdateState.APPLYING, Reason.REASON_UNSPECIFIED, "");
            Duration half = options.applyTime().dividedBy(2);
            later(half, () -> {
                AppRecord verifying = move(applying, UpdateState.VERIFYING, Reason.REASON_UNSPECIFIED, "");
                later(options.applyTime().minus(half), () -> {
                    boolean hadPrevious = !runtime.running(app).isEmpty();
                    if (runtime.swapAndCheck(app, version)) {
                        move(verifying, UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED, "");
                    } else if (hadPrevious) {
                        String why = "simulated health check of " + version + " failed";
                        AppRecord rollingBack = move(verifying, UpdateState.ROLLING_BACK, Reason.HEALTH_CHECK_FAILED, why);
                        move(rollingBack, UpdateState.ROLLED_BACK, Reason.HEALTH_CHECK_FAILED, why);
                    } else {
                        move(verifying, UpdateState.FAILED, Reason.HEALTH_CHECK_FAILED,
                                "simulated health check of " + version + " failed; no previous release to go back to");
                    }
                    then.run();
                });
            });
        });
    }

    /** Runs {@code step} after {@code delay} on the shared scheduler, under this device's lock. */
    private void later(Duration delay, Runnable step) {
        scheduler.schedule(() -> {
            synchronized (this) {
                if (stopped) {
                    return;
                }
                try {
                    step.run();
                } catch (RuntimeException e) {
                    LOG.error("simulated device {} failed a step", id(), e);
                    busy = false;
                }
            }
        }, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private AppRecord move(AppRecord record, UpdateState to, Reason reason, String message) {
        AppRecord next = new AppRecord(record.app(), record.targetVersion(), to, reason, message, record.sequence(), record.rolloutId());
        apps.put(next.app(), next);
        if (to == UpdateState.ACTIVE) {
            activeReportedAt.putIfAbsent(next.app() + ":" + next.targetVersion(), System.nanoTime());
        }
        publishStatus(event(next));
        return next;
    }

    private void reject(Reason reason, String message, DesiredState state) {
        LOG.debug("{} refused a desired state: {} {}", id(), reason, message);
        StatusEvent.Builder base = StatusEvent.newBuilder().setDeviceId(id()).setState(UpdateState.REJECTED).setReason(reason)
                .setMessage(message).setTimestampMs(System.currentTimeMillis());
        if (state == null || state.getAppsCount() == 0) {
            if (state != null) {
                base.setSequence(state.getSequence());
            }
            publishStatus(base.setReportSeq(reportNumbers.incrementAndGet()).build());
            return;
        }
        for (AppDesired app : state.getAppsList()) {
            publishStatus(base.clone().setApp(app.getApp()).setVersion(app.getRelease().getVersion())
                    .setSequence(state.getSequence()).setRolloutId(app.getRolloutId())
                    .setRunningVersion(runtime.running(app.getApp())).setReportSeq(reportNumbers.incrementAndGet()).build());
        }
    }

    private StatusEvent event(AppRecord r) {
        return StatusEvent.newBuilder().setDeviceId(id()).setApp(r.app()).setVersion(r.targetVersion()).setState(r.state())
                .setReason(r.reason()).setMessage(r.message()).setSequence(r.sequence()).setRolloutId(r.rolloutId())
                .setRunningVersion(runtime.running(r.app())).setTimestampMs(System.currentTimeMillis())
                .setReportSeq(reportNumbers.incrementAndGet()).build();
    }

    private synchronized List<String> trustedKeyIds() {
        return trust.keys().trustedKeys().stream().map(dev.turnout.proto.crypto.PublicKey::keyId).toList();
    }

    private synchronized Presence presence(boolean online) {
        Presence.Builder p = Presence.newBuilder().setDeviceId(id()).setOnline(online).setTimestampMs(System.currentTimeMillis())
                .setAgentVersion(AGENT_VERSION).setPlatform(options.platform()).setLastSequence(trust.mark().lastSequence())
                .addAllTrustedKeyIds(trustedKeyIds());
        for (AppRecord r : apps.values()) {
            p.addApps(AppSummary.newBuilder().setApp(r.app()).setRunningVersion(runtime.running(r.app())).setState(r.state()));
        }
        return p.build();
    }

    private void reportHealth() {
        HealthReport report;
        synchronized (this) {
            if (stopped || !session.isConnected()) {
                return;
            }
            HealthReport.Builder h = HealthReport.newBuilder().setDeviceId(id()).setTimestampMs(System.currentTimeMillis())
                    .setCpuPercent(5 + random.nextDouble() * 30)
                    .setMemoryUsedBytes((300L << 20) + random.nextLong(200L << 20)).setMemoryTotalBytes(4L << 30)
                    .setDiskFreeBytes((20L << 30) - random.nextLong(1L << 30)).setDiskTotalBytes(32L << 30)
                    .setTemperatureCelsius(45 + random.nextDouble() * 15);
            for (Map.Entry<String, String> app : runtime.runningApps().entrySet()) {
                h.addApps(AppHealth.newBuilder().setApp(app.getKey()).setVersion(app.getValue()).setHealthy(true)
                        .setContainerState("running").setRestartCount(runtime.restartCount(app.getKey())));
            }
            report = h.build();
        }
        publish(topics.health(id()), report.toByteArray(), false, 0);
    }

    private void publishStatus(StatusEvent e) {
        byte[] payload = e.toByteArray();
        synchronized (this) {
            recentReports.addLast(payload);
            if (recentReports.size() > 8) {
                recentReports.removeFirst();
            }
        }
        session.publish(topics.status(id()), payload, 1, false).whenComplete((ok, failure) -> {
            if (failure != null) {
                publishFailures.incrementAndGet();
                LOG.debug("{} cannot publish a status: {}", id(), failure.toString());
            } else {
                published.incrementAndGet();
                acknowledged.add(new AcknowledgedReport(e, System.nanoTime()));
            }
        });
    }

    private void publish(String topic, byte[] payload, boolean retained) {
        publish(topic, payload, retained, 1);
    }

    private void publish(String topic, byte[] payload, boolean retained, int qos) {
        session.publish(topic, payload, qos, retained).whenComplete((ok, e) -> {
            if (e != null) {
                publishFailures.incrementAndGet();
                LOG.debug("{} cannot publish to {}: {}", id(), topic, e.toString());
            } else {
                published.incrementAndGet();
            }
        });
    }
}
