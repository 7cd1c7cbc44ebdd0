package dev.turnout.edge.app;

import dev.turnout.edge.agent.AgentHome;
import dev.turnout.edge.cache.ArtifactCache;
import dev.turnout.edge.transfer.DownloadPace;
import dev.turnout.edge.docker.DockerContainerRuntime;
import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.StackContainers;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.domain.UpdateWindow;
import dev.turnout.edge.engine.DesiredStateVerifier;
import dev.turnout.edge.engine.UpdateEngine;
import dev.turnout.edge.health.HealthChecker;
import dev.turnout.edge.health.MonotonicClock;
import dev.turnout.edge.health.Probes;
import dev.turnout.edge.logs.LogRequests;
import dev.turnout.edge.mqtt.MqttLink;
import dev.turnout.edge.port.StatusReporter;
import dev.turnout.proto.tls.PinnedTrust;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.edge.store.LockDirectory;
import dev.turnout.edge.store.ReportNumbers;
import dev.turnout.proto.AppHealth;
import dev.turnout.proto.AppSummary;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.agent.AgentDistribution;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

/**
 * The running edge daemon: one MQTT session, one worker thread that verifies desired states and
 * drives the update engine, and a periodic health reporter.
 */
public final class EdgeDaemon implements AutoCloseable {

    /** The built-in version: reported in presence messages unless the daemon runs an agent release. */
    public static final String AGENT_VERSION = "0.1.0";

    private static final Logger log = LoggerFactory.getLogger(EdgeDaemon.class);

    private final EdgeConfig config;
    private final String platform;
    private final FileStateStore store;
    private final DockerContainerRuntime runtime;
    private final UpdateEngine engine;
    private final MqttLink link;
    private final DesiredStateVerifier verifier;
    private final HostMetrics metrics;
    /** This daemon's own versions: the built-in one and the agent releases in {@code <data>/agent}. */
    private final AgentHome agent;
    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> new Thread(r, "edge-worker"));
    /**
     * Answers log requests, apart from the worker (busy for minutes during an update's check): one at a time, a few
     * waiting at most (more are dropped; the orchestrator asks again), ended when idle.
     */
    private final ExecutorService logs = new java.util.concurrent.ThreadPoolExecutor(0, 1, 10, TimeUnit.SECONDS,
            new java.util.concurrent.ArrayBlockingQueue<>(4), r -> {
                Thread t = new Thread(r, "edge-logs");
                t.setDaemon(true);
                return t;
            }, new java.util.concurrent.ThreadPoolExecutor.DiscardPolicy());
    private final ScheduledExecutorService reporter = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edge-health");
        t.setDaemon(true);
        return t;
    });
    /** The newest desired state received and not yet taken by the worker (null: none). */
    private final AtomicReference<byte[]> pendingDesired = new AtomicReference<>();
    /** Orders every status and presence this device sends ({@code report_seq}). */
    private final ReportNumbers reportNumbers;
    /** Set when the engine reports a status: a tick that did something counts as work for {@link #idleRelease}. */
    private final AtomicBoolean engineReported = new AtomicBoolean();
    private final IdleMemoryRelease idleRelease = new IdleMemoryRelease(
            (delay, task) -> reporter.schedule(task, delay.toMillis(), TimeUnit.MILLISECONDS), worker, System::gc);

    private EdgeDaemon(EdgeConfig config, Path dataDir) throws Exception {
        this.config = config;
        Files.createDirectories(dataDir);
        this.store = new FileStateStore(dataDir.resolve("state"));
        this.reportNumbers = new ReportNumbers(dataDir.resolve("report-seq"), System::currentTimeMillis);
        this.runtime = new DockerContainerRuntime(config.dockerHost());
        this.platform = config.platform() != null ? config.platform() : detectPlatform(runtime);
        this.metrics = new HostMetrics(dataDir);
        this.agent = new AgentHome(dataDir, AGENT_VERSION, config.agentStartTimeout(), System.getenv(), EdgeDaemon::exitForRestart);
        PinnedTrust trust = config.pinnedTrust();
        DownloadPace pace = new DownloadPace(config.downloadRateLimit());
        ArtifactCache cache = new ArtifactCache(dataDir.resolve("cache"), config.orchestratorUrl(), trust)
                .useCredentials(config.mqttUsername(), config.mqttPassword()).pacedBy(pace)
                // an orchestrator that answers with errors: for the retry window (longer than it takes to restart: the
                // chaos soak saw 20 s on a loaded machine); one that cannot be reached (a partition): until it can
                .retryingFor(config.retryTimes().downloadRetryWindow()).backingOffAtMost(config.retryTimes().downloadBackoffMax())
                .waitingOutUnreachable(this::newerDesiredStateWaits);
        HealthChecker health = new HealthChecker(runtime::status, new Probes(runtime), MonotonicClock.SYSTEM, config.crashLoopRestarts(),
                runtime::usage, new EngineDisk(runtime::dataRoot, dataDir));
        DesiredStateVerifier verifier = new DesiredStateVerifier(config.deviceId(), platform, new EnvelopeVerifier(config.publicKeys()),
                store, System::currentTimeMillis, wallClockSynced(config.clockTrust()),
                app -> AgentDistribution.isAgent(app) ? agent.runningVersion()
                        : store.loadApp(app).map(AppRecord::runningVersion).orElse(""));
        Topics topics = new Topics(config.topicPrefix());
        this.verifier = verifier;
        this.link = new MqttLink(config.brokerUrl(), config.deviceId(), topics, config.mqttUsername(), config.mqttPassword(),
                this::enqueueDesiredState, this::presence, this::currentStatusSafely, trust);
        link.reconnectBackoffAtMost(config.retryTimes().reconnectBackoffMax());
        verifier.onKeysRotated(link::publishPresence); // the orchestrator waits for every device to trust a new key
        verifier.onAccepted(state -> link.reconnectWindow(state.getReconnectWindowMs())); // sized by the orchestrator to the fleet
        LogRequests logRequests = new LogRequests(config.deviceId(), verifier::trustedKeys, store, runtime, link::publishLogResponse,
                System::currentTimeMillis, wallClockSynced(config.clockTrust()), System::nanoTime);
        link.onLogRequest(wire -> logs.execute(() -> {
            try {
                logRequests.handle(wire);
            } catch (RuntimeException e) {
                log.warn("answering a log request failed: {}", e.toString());
            }
        }));
        StatusReporter reporting = event -> {
            engineReported.set(true);
            link.report(numbered(event));
        };
        this.engine = new UpdateEngine(config.deviceId(), platform, verifier, store, cache, runtime, health, reporting, System::currentTimeMillis,
                new UpdateEngine.Policy(config.maxRollbackAttempts(), config.updateWindow(), localClock(config.updateWindow()))
                        .withLockTimeout(config.lockTimeout()),
                new ProcHostBoot(), new LockDirectory(dataDir.resolve("locks")))
                .useDownloadPace(pace)
                .useAgentVersions(agent, () -> link.publishPresenceAndWait(Duration.ofSeconds(10)))
                .useComposeVariables(config.variables())
                .onRepeatedWhileSettled(link::publishPresence);
    }

    /** Ends the process (not on the caller's thread: the shutdown hook waits for the worker) so that the launcher starts another version. */
    private static void exitForRestart() {
        Thread exit = new Thread(() -> System.exit(AgentHome.RESTART_EXIT_CODE), "edge-restart");
        exit.start();
    }

    /**
     * Starts a daemon: recovers interrupted updates, connects to the broker and subscribes to its
     * desired-state topic; returns once subscribed.
     *
     * @param config the device configuration
     * @param dataDir state and cache directory (null: {@link EdgeConfig#dataDir()})
     */
    public static EdgeDaemon start(EdgeConfig config, Path dataDir) throws Exception {
        Path dir = dataDir != null ? dataDir : config.dataDir();
        if (dir == null) {
            throw new IllegalArgumentException("no data directory: set dataDir in the config or pass --data");
        }
        EdgeDaemon daemon = new EdgeDaemon(config, dir);
        try {
            daemon.worker.execute(daemon::recover);
            // a version on trial keeps trying until the launcher's watchdog decides (AGENT_NOT_CONNECTED), not less
            Duration connectFor = Duration.ofSeconds(60);
            if (daemon.agent.onTrial() && config.agentStartTimeout().plusSeconds(30).compareTo(connectFor) > 0) {
                connectFor = config.agentStartTimeout().plusSeconds(30);
            }
            daemon.link.connect(connectFor);
            daemon.worker.execute(daemon::agentConnected); // a version of the daemon on trial confirms it now
            long seconds = Math.max(1, config.healthReportInterval().toSeconds());
            daemon.reporter.scheduleAtFixedRate(daemon::reportHealth, seconds, seconds, TimeUnit.SECONDS);
            // first tick right after recovery: a device that comes back inside its update window switches at once
            daemon.reporter.scheduleWithFixedDelay(daemon::enqueueTick, 0, config.checkInterval().toMillis(), TimeUnit.MILLISECONDS);
            log.info("edge daemon {} {} started (platform {}, data {})", config.deviceId(), daemon.agent.runningVersion(), daemon.platform, dir);
            daemon.idleRelease.workEnded(); // start-up garbage: give it back once recovery and the first tick are over
            return daemon;
        } catch (Exception e) {
            daemon.close();
            throw e;
        }
    }

    /** The device id this daemon serves. */
    public String deviceId() {
        return config.deviceId();
    }

    /** Stops the daemon cleanly; app containers keep running. An update in progress resumes at the next start. */
    @Override
    public void close() {
        reporter.shutdownNow();
        logs.shutdownNow();
        worker.shutdownNow();
        try {
            if (!worker.awaitTermination(20, TimeUnit.SECONDS)) {
                log.warn("worker did not stop in time");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        link.close();
        runtime.close();
        log.info("edge daemon {} stopped", config.deviceId());
    }

    private void recover() {
        try {
            engine.recover();
        } catch (RuntimeException e) {
            log.error("recovery failed", e);
        }
    }

    private void agentConnected() {
        try {
            engine.agentConnected();
        } catch (RuntimeException e) {
            log.error("confirming the agent's trial failed", e);
        }
    }

    /** Time-driven steps (the update window opening) run on the worker like everything else the engine does. */
    private void enqueueTick() {
        try {
            worker.execute(() -> {
                try {
                    engine.tick();
                } catch (RuntimeException e) {
                    log.error("engine tick failed", e);
                }
                if (engineReported.getAndSet(false)) {
                    idleRelease.workEnded(); // the tick repaired drift or opened the update window
                }
            });
        } catch (RejectedExecutionException e) {
            log.debug("closing: tick dropped");
        }
    }

    /**
     * Desired states are level-triggered: only the newest one received matters. One waits here for the worker; a
     * newer one that arrives first replaces it, so a burst (a device back after several releases, the broker's
     * retained copy after a queued one) costs one verification and one update, never one per superseded release.
     */
    private void enqueueDesiredState(byte[] payload) {
        if (pendingDesired.getAndSet(payload) != null) {
            log.info("a newer desired state arrived before the worker took the previous one; the previous one is skipped");
            return; // a drain is queued already and will take this one
        }
        try {
            worker.execute(this::drainDesiredState);
        } catch (RejectedExecutionException e) {
            log.debug("closing: desired state dropped");
        }
    }

    /**
     * A desired state newer than the last one accepted waits for the worker: a download that waits for an unreachable
     * orchestrator gives up for it. Only its sequence is read here; the worker verifies it as any other.
     */
    private boolean newerDesiredStateWaits() {
        byte[] wire = pendingDesired.get();
        if (wire == null) {
            return false;
        }
        try {
            long sequence = DesiredState.parseFrom(SignedEnvelope.parseFrom(wire).getPayload()).getSequence();
            return sequence > store.loadTrust().lastSequence();
        } catch (com.google.protobuf.InvalidProtocolBufferException | RuntimeException e) {
            return false; // the worker refuses it and says why
        }
    }

    private void drainDesiredState() {
        byte[] payload = pendingDesired.getAndSet(null);
        if (payload == null) {
            return;
        }
        try {
            engine.onDesiredState(payload);
        } catch (RuntimeException e) {
            log.error("handling a desired state failed", e);
        }
        engineReported.set(false);
        idleRelease.workEnded();
    }

    private StatusEvent numbered(StatusEvent event) {
        return event.toBuilder().setReportSeq(reportNumbers.next()).build();
    }

    private List<StatusEvent> currentStatusSafely() {
        try {
            return engine.currentStatus().stream().map(this::numbered).toList();
        } catch (RuntimeException e) {
            log.warn("cannot read app states: {}", e.getMessage());
            return List.of();
        }
    }

    private Presence presence() {
        Presence.Builder presence = Presence.newBuilder()
                .setDeviceId(config.deviceId())
                .setOnline(true)
                .setTimestampMs(System.currentTimeMillis())
                .setAgentVersion(agent.runningVersion())
                .setPlatform(platform)
                .setLastSequence(store.loadTrust().lastSequence())
                .setReportSeq(reportNumbers.next())
                .addAllTrustedKeyIds(verifier.trustedKeyIds());
        for (AppRecord record : store.loadApps()) {
            presence.addApps(AppSummary.newBuilder().setApp(record.app()).setRunningVersion(record.runningVersion()).setState(record.state()));
        }
        return presence.build();
    }

    private void reportHealth() {
        try {
            HealthReport.Builder report = HealthReport.newBuilder().setDeviceId(config.deviceId()).setTimestampMs(System.currentTimeMillis());
            metrics.fill(report);
            for (AppRecord record : store.loadApps()) {
                if (record.containerId().isEmpty()) {
                    continue;
                }
                // a Compose app is as healthy as its least healthy service's container, and reports that one's state
                boolean healthy = record.state() != UpdateState.FAILED;
                String state = "";
                int restarts = 0;
                for (String id : StackContainers.ids(record.containerId())) {
                    ContainerStatus status = runtime.status(id);
                    boolean up = status.running() && !"unhealthy".equals(status.health());
                    if (state.isEmpty() || (healthy && !up)) {
                        state = status.state();
                    }
                    healthy &= up || ("exited".equals(status.state()) && status.exitCode() == 0 && StackContainers.isStack(record.containerId()));
                    restarts += status.restartCount();
                }
                report.addApps(AppHealth.newBuilder().setApp(record.app()).setVersion(record.runningVersion())
                        .setHealthy(healthy).setContainerState(state).setRestartCount(restarts));
            }
            link.publishHealth(report.build());
        } catch (UpdateFailure | RuntimeException e) {
            log.warn("health report failed: {}", e.getMessage());
        }
    }

    /**
     * The device's local time, for the update window. Without a window no zone is needed: the system zone would load
     * the time-zone database (about 400 KiB of heap) for nothing.
     */
    private static Clock localClock(UpdateWindow window) {
        return window == null ? Clock.systemUTC() : Clock.systemDefaultZone();
    }

    /** Marker file systemd-timesyncd keeps while the clock is synchronised. */
    private static final Path TIMESYNC_MARKER = Path.of("/run/systemd/timesync/synchronized");

    private static BooleanSupplier wallClockSynced(EdgeConfig.ClockTrust trust) {
        return switch (trust) {
            case ALWAYS -> () -> true;
            case NEVER -> () -> false;
            case AUTO -> () -> Files.exists(TIMESYNC_MARKER);
        };
    }

    /** The configured platform, else the Docker engine's, else the JVM's architecture. */
    static String platformOf(EdgeConfig config) {
        if (config.platform() != null) {
            return config.platform();
        }
        try (DockerContainerRuntime runtime = new DockerContainerRuntime(config.dockerHost())) {
            return detectPlatform(runtime);
        }
    }

    private static String detectPlatform(DockerContainerRuntime runtime) {
        try {
            return runtime.platform();
        } catch (UpdateFailure e) {
            String fallback = DockerContainerRuntime.platformOf(System.getProperty("os.arch", ""));
            log.warn("cannot ask the Docker engine for its platform ({}); using {}", e.getMessage(), fallback);
            return fallback;
        }
    }
}
