package dev.turnout.orchestrator.observe;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.RolloutEventType;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The orchestrator's Prometheus metrics (Micrometer). Counters and the activation histogram move
 * as events pass; fleet, rollout and DORA figures are read from the store at each scrape.
 * {@link #scrape()} blocks on the store: call it off the event loop.
 */
public final class FleetMetrics {

    /** Bucket bounds of the activation-to-ACTIVE histogram. */
    static final Duration[] ACTIVATION_BUCKETS = {
        Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(15), Duration.ofSeconds(30),
        Duration.ofMinutes(1), Duration.ofMinutes(2), Duration.ofMinutes(5), Duration.ofMinutes(10),
        Duration.ofMinutes(30), Duration.ofHours(1),
    };

    private final FleetStore store;
    private final Clock clock;
    private static final org.slf4j.Logger DECISIONS_LOG = org.slf4j.LoggerFactory.getLogger("dev.turnout.orchestrator.engine.WaveDecisions");
    private static final Duration[] DECISION_BUCKETS = {Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25),
        Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(1000)};
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    /** Registered with the first forwarded report: a single orchestrator's scrape does not change. */
    private volatile Timer forwardedDelay;
    private final MultiGauge devices;
    private final MultiGauge appDevices;
    private final MultiGauge rollouts;
    private final MultiGauge waveDevices;
    private final MultiGauge currentWave;
    private final MultiGauge deploymentsPerDay;
    private final MultiGauge leadTime;
    private final MultiGauge changeFailureRate;
    private final MultiGauge timeToRestore;
    private final MultiGauge unrestored;
    private final Counter downloadMoved;
    private final Counter downloadFull;
    private volatile DoraFigures dora = DoraFigures.compute(List.of(), Map.of(), Map.of(), Instant.EPOCH, DoraFigures.WINDOW);

    public FleetMetrics(FleetStore store, Clock clock) {
        this.store = store;
        this.clock = clock;
        RuntimeMetrics.bindTo(registry); // first: it configures meter filters, which apply to meters registered after them
        devices = MultiGauge.builder("turnout.devices")
                .description("Enrolled devices by presence (state=online|offline)").register(registry);
        appDevices = MultiGauge.builder("turnout.app.devices")
                .description("Devices running each version of each app, as they last reported").register(registry);
        rollouts = MultiGauge.builder("turnout.rollouts").description("Rollouts by state").register(registry);
        waveDevices = MultiGauge.builder("turnout.rollout.wave.devices")
                .description("Devices of each wave by rollout device state, for unfinished rollouts and the newest rollout of each app")
                .register(registry);
        currentWave = MultiGauge.builder("turnout.rollout.current.wave")
                .description("Current wave of a rollout (0 while only staging)").register(registry);
        FunctionCounter.builder("turnout.rollbacks", this, m -> m.dora.rollbacksTotal())
                .description("Rollouts that started rolling the fleet back (from the store)").register(registry);
        FunctionCounter.builder("turnout.dora.deployments", this, m -> m.dora.deploymentsTotal())
                .description("DORA: successful rollouts (deployments), ever").register(registry);
        deploymentsPerDay = MultiGauge.builder("turnout.dora.deployment.frequency")
                .description("DORA deployment frequency: successful rollouts per day over the last 30 days")
                .baseUnit("per_day").register(registry);
        leadTime = MultiGauge.builder("turnout.dora.lead.time")
                .description("DORA lead time for changes: median time from release creation to its rollout succeeding, last 30 days")
                .baseUnit("seconds").register(registry);
        changeFailureRate = MultiGauge.builder("turnout.dora.change.failure.rate")
                .description("DORA change failure rate: failed changes / changes over the last 30 days (0..1)")
                .register(registry);
        timeToRestore = MultiGauge.builder("turnout.dora.time.to.restore")
                .description("DORA time to restore: median time from a failed change to its restore, last 30 days")
                .baseUnit("seconds").register(registry);
        unrestored = MultiGauge.builder("turnout.dora.unrestored.failures")
                .description("Failed changes not restored yet").register(registry);
        // registered at once: a dashboard panel shows 0 before the first download, not "no data"
        downloadMoved = Counter.builder("turnout.download").baseUnit("bytes").tags("kind", "moved")
                .description("Bytes devices reported moving over the network to stage releases (kind=moved), and the full size"
                        + " of those releases' archives (kind=full): full minus moved is what caches and resumes saved")
                .register(registry);
        downloadFull = Counter.builder("turnout.download").baseUnit("bytes").tags("kind", "full")
                .description("Bytes devices reported moving over the network to stage releases (kind=moved), and the full size"
                        + " of those releases' archives (kind=full): full minus moved is what caches and resumes saved")
                .register(registry);
    }

    /** Counts a staged release's download as its device reported it: {@code moved} bytes over the network of {@code full}. */
    public void downloaded(long moved, long full) {
        downloadMoved.increment(Math.max(0, moved));
        downloadFull.increment(Math.max(0, full));
    }

    /** Counts one status event a device sent. */
    public void statusReceived(String state, String reason) {
        Counter.builder("turnout.status.events")
                .description("Status events received from devices, by update state and reason")
                .tags("state", state, "reason", reason.equals("REASON_UNSPECIFIED") ? "none" : reason)
                .register(registry).increment();
    }

    /** Counts one webhook delivery that ended: {@code delivered}, {@code failed} or {@code dropped}. */
    public void webhookDelivery(dev.turnout.orchestrator.domain.WebhookDelivery.Result result) {
        Counter.builder("turnout.webhook.deliveries")
                .description("Webhook deliveries that ended, by result (delivered, failed after its retries, dropped from a full queue)")
                .tags("result", result.name().toLowerCase(java.util.Locale.ROOT))
                .register(registry).increment();
    }

    /** Records what a rollout event tells: the activation time of a device that became ACTIVE. */
    public void rolloutEvent(RolloutEvent e) {
        if (e.getType() != RolloutEventType.DEVICE_SUCCEEDED
                || e.getState() == dev.turnout.proto.RolloutState.ROLLOUT_ROLLING_BACK) {
            return;
        }
        // the engine measured it from the device in memory: no read of the store per device (it ran on the engine thread)
        if (!e.hasActivationMs()) {
            return;
        }
        Duration took = Duration.ofMillis(e.getActivationMs());
        Timer.builder("turnout.activation")
                .description("Time from activating a device to its ACTIVE report")
                .tags("app", e.getApp())
                .serviceLevelObjectives(ACTIVATION_BUCKETS)
                .register(registry).record(took);
    }

    /**
     * Records how long the engine took from the device report that completed a wave to the next
     * wave's first desired state (after its commit), and logs it: the benchmark reads the log line.
     */
    public void waveDecision(String rolloutId, int wave, long nanos) {
        Timer.builder("turnout.rollout.wave.decision")
                .description("Time from taking up the device report that completed a wave to publishing the next wave's first desired state")
                .serviceLevelObjectives(DECISION_BUCKETS)
                .register(registry).record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        DECISIONS_LOG.info("rollout {}: wave {} decided in {} ms after the report that completed wave {}", rolloutId, wave,
                String.format(java.util.Locale.ROOT, "%.3f", nanos / 1e6), wave - 1);
    }

    /** Reads the fleet, rollouts and history from the store, then renders the Prometheus text format. */
    public synchronized String scrape() {
        refresh();
        return registry.scrape();
    }

    /** The Content-Type of {@link #scrape()}. */
    public static String contentType() {
        return "text/plain; version=0.0.4; charset=utf-8";
    }

    private void refresh() {
        Instant now = clock.instant();
        List<Device> fleet = store.listDevices();
        long online = fleet.stream().filter(Device::online).count();
        devices.register(List.of(
                MultiGauge.Row.of(Tags.of("state", "online"), online),
                MultiGauge.Row.of(Tags.of("state", "offline"), fleet.size() - online)), true);

        Map<List<String>, Long> perVersion = new TreeMap<>((a, b) -> String.join("\0", a).compareTo(String.join("\0", b)));
        for (Device d : fleet) {
            for (DeviceApp a : store.deviceApps(d.id())) {
                if (a.runningVersion() != null) {
                    perVersion.merge(List.of(a.app(), a.runningVersion()), 1L, Long::sum);
                }
            }
        }
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        perVersion.forEach((k, n) -> rows.add(MultiGauge.Row.of(Tags.of("app", k.get(0), "version", k.get(1)), n)));
        appDevices.register(rows, true);

        List<Rollout> all = store.listRollouts();
        Map<RolloutState, Long> byState = new LinkedHashMap<>();
        for (RolloutState s : RolloutState.values()) {
            byState.put(s, 0L);
        }
        all.forEach(r -> byState.merge(r.state(), 1L, Long::sum));
        rollouts.register(byState.entrySet().stream()
                .<MultiGauge.Row<?>>map(e -> MultiGauge.Row.of(Tags.of("state", e.getKey().name()), e.getValue())).toList(), true);

        List<MultiGauge.Row<?>> waves = new ArrayList<>();
        List<MultiGauge.Row<?>> current = new ArrayList<>();
        Map<String, Boolean> newestSeen = new HashMap<>();
        for (Rollout r : all) { // newest first
            boolean newestOfApp = newestSeen.putIfAbsent(r.app(), true) == null;
            if (r.state().isTerminal() && !newestOfApp) {
                continue;
            }
            Tags base = Tags.of("rollout", r.id(), "app", r.app(), "version", r.version());
            current.add(MultiGauge.Row.of(base, r.currentWave()));
            for (int n = 1; n <= r.waveCount(); n++) {
                List<RolloutDevice> members = r.wave(n);
                for (RolloutDeviceState s : RolloutDeviceState.values()) {
                    long count = members.stream().filter(d -> d.state() == s).count();
                    waves.add(MultiGauge.Row.of(base.and("wave", Integer.toString(n), "state", s.name()), count));
                }
            }
        }
        waveDevices.register(waves, true);
        currentWave.register(current, true);

        Map<String, Instant> releaseCreated = new HashMap<>();
        for (Release release : store.listReleases()) {
            releaseCreated.put(release.app() + ":" + release.version(), release.createdAt());
        }
        Map<String, Instant> firstFailure = new HashMap<>();
        for (AuditEntry e : store.auditByAction("rollout.failure", Instant.EPOCH)) {
            firstFailure.putIfAbsent(e.subject(), e.at());
        }
        DoraFigures figures = DoraFigures.compute(all, releaseCreated, firstFailure, now, DoraFigures.WINDOW);
        dora = figures;
        deploymentsPerDay.register(List.of(MultiGauge.Row.of(Tags.empty(), figures.deploymentsPerDay())), true);
        leadTime.register(optional(figures.leadTime().map(FleetMetrics::seconds)), true);
        changeFailureRate.register(optional(figures.changeFailureRate()), true);
        timeToRestore.register(optional(figures.timeToRestore().map(FleetMetrics::seconds)), true);
        unrestored.register(List.of(MultiGauge.Row.of(Tags.empty(), figures.unrestored())), true);
    }

    private static List<MultiGauge.Row<?>> optional(Optional<Double> value) {
        return value.<List<MultiGauge.Row<?>>>map(v -> List.of(MultiGauge.Row.of(Tags.empty(), v))).orElse(List.of());
    }

    private static double seconds(Duration d) {
        return d.toMillis() / 1000.0;
    }

    /** How long a device report forwarded by another orchestrator instance took to reach the rollout's owner. */
    public void forwardedReportDelay(Duration delay) {
        Timer timer = forwardedDelay;
        if (timer == null) {
            timer = Timer.builder("turnout.forwarded.report.delay")
                    .description("From an orchestrator instance receiving a device report to the rollout's owner applying it")
                    .publishPercentiles(0.5, 0.99).register(registry);
            forwardedDelay = timer;
        }
        timer.record(delay.isNegative() ? Duration.ZERO : delay);
    }
}
