package dev.turnout.orchestrator.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.sim.DeviceEnrollment;
import dev.turnout.orchestrator.sim.SimulatedDevice;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulatedImageArchive;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.RolloutEventType;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import org.awaitility.core.ConditionTimeoutException;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;

/**
 * Benchmark (not a test): a staged rollout ({@code 1%,10%,100%}, no soak) to N simulated devices,
 * against the time the same broker needs to move the same messages. Run with
 * {@code bin/bench rollout [--devices N] [--broker embedded|mosquitto|both] [--rollouts K]}; with {@code both},
 * the two brokers run one after the other on the same fleet and a table compares them.
 *
 * <p>The orchestrator runs as its own process ({@code turnout server}, the JVM flags of
 * {@code bin/turnout}), so that its RSS and heap are its own; the simulated devices (one MQTT
 * session and one set of credentials each) run in this JVM. Enrolling 10,000 devices takes minutes,
 * so the enrolled fleet (the orchestrator's data directory and the
 * devices' configs) is kept in {@code --fleet-cache} and copied afresh for every run; enrollment
 * throughput is measured when the fleet is made and printed with every run.
 *
 * <p>Figures: time from deploy to SUCCEEDED; the engine's wave decision latency (its own timer, read
 * from its log: from taking up the report that completed a wave to the next wave's first desired
 * state, after commit) and the same seen from the devices (last ACTIVE published to the first
 * ACTIVATE received, both broker hops included); orchestrator RSS and live heap; and the broker
 * baseline: raw MQTT clients, one per device plus one in the orchestrator's role, moving the same
 * count of desired-state and status messages of the same sizes through the same broker (for the
 * embedded broker: the same HiveMQ CE set-up in its own JVM) with the orchestrator stopped.
 *
 * <p>After the rollouts, a reconnect storm: the broker restarts (Mosquitto: its process; embedded:
 * the orchestrator that holds it) and the time until every device is connected again is taken from
 * the broker's (re)start; the devices come back on their own back-off (1 s doubling to 30 s, as the
 * daemon's), so a broker that is down longer is also waited for longer ({@code --no-storm} skips it).
 */
public final class RolloutBenchmark {

    private static final Pattern DECISION = Pattern.compile("rollout (\\S+): wave (\\d+) decided in ([0-9.]+) ms");
    private static final Pattern HANDOVER = Pattern.compile(
            "a report that decided desired states waited ([0-9.]+) ms for the engine .*handed over at (\\d+) ns");
    private static final Pattern QUEUE_WAIT = Pattern.compile("a report that decided desired states waited ([0-9.]+) ms for the engine");
    private static final String APP = "web";

    /**
     * A rollout's messages per device and their sizes, as a 2,000-device rollout of this benchmark counted them:
     * status, desired states, rollout events (each per device), desired-state bytes, event bytes.
     */
    static final double[] BASELINE_SHAPE = {7.0, 2.0, 1.004, 518, 67};

    int devices = 2000;
    String broker = "embedded";
    int rollouts = 3;
    /** Untimed rollouts first, so that both JVMs (the orchestrator's and the devices') run compiled code when timed. */
    int warmup = 1;
    long applyMs = 0;
    Path cache = Path.of("target", "bench-fleet");
    Path work = Path.of("target", "bench-rollout");
    Path plot;
    boolean jfr;
    boolean memoryRollout = true;
    boolean storm = true;
    /** Only the broker-alone exchange, with the message counts of {@link #BASELINE_SHAPE} (for profiling a broker). */
    boolean baselineOnly;
    List<String> brokers = List.of("embedded");
    String serverJvm = System.getenv().getOrDefault("TURNOUT_JAVA_OPTS", "-XX:+UseSerialGC");
    final PrintStream out;

    private final ObjectMapper json = new ObjectMapper();
    /** The monitor identity's broker password (the baseline's monitor uses it too). */
    String monitorPassword;
    static final String MONITOR = "bench-monitor";
    /**
     * Session expiry of the orchestrator's and the simulated devices' sessions, which the baseline's clients keep too: the
     * orchestrator keeps its session, a device starts clean and keeps none (as the daemon, and since 2026-12-08 the
     * simulator; before, the simulated devices and these clients kept 10 minutes).
     */
    private static final long ORCHESTRATOR_SESSION_SECONDS = 3600;
    private static final long DEVICE_SESSION_SECONDS = 0;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    RolloutBenchmark(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        RolloutBenchmark b = new RolloutBenchmark(System.out);
        try {
            b.parse(args);
            b.run();
        } catch (IllegalArgumentException | IllegalStateException e) {
            System.err.println("bench rollout: " + e.getMessage());
            System.exit(1);
        }
        System.exit(0);
    }

    void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length && !a.equals("--jfr") && !a.equals("--no-memory-rollout") && !a.equals("--no-storm")
                    && !a.equals("--baseline-only")) {
                throw new IllegalArgumentException(a + " needs a value");
            }
            switch (a) {
                case "--devices" -> devices = Integer.parseInt(args[++i]);
                case "--broker" -> broker = args[++i];
                case "--no-storm" -> storm = false;
                case "--baseline-only" -> baselineOnly = true;
                case "--rollouts" -> rollouts = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--apply-ms" -> applyMs = Long.parseLong(args[++i]);
                case "--fleet-cache" -> cache = Path.of(args[++i]);
                case "--work" -> work = Path.of(args[++i]);
                case "--plot" -> plot = Path.of(args[++i]);
                case "--server-jvm" -> serverJvm = args[++i];
                case "--jfr" -> jfr = true;
                case "--no-memory-rollout" -> memoryRollout = false;
                default -> throw new IllegalArgumentException("unknown option " + a + "; use --devices N --broker embedded|mosquitto|both "
                        + "--rollouts K --warmup K --apply-ms MS --fleet-cache DIR --work DIR --plot FILE.png --server-jvm FLAGS --jfr"
                        + " --no-storm --no-memory-rollout --baseline-only");
            }
        }
        brokers = switch (broker) {
            case "embedded", "mosquitto" -> List.of(broker);
            case "both" -> List.of("mosquitto", "embedded");
            default -> throw new IllegalArgumentException("--broker is embedded, mosquitto or both, not " + broker);
        };
        if (devices < 100 || rollouts < 1) {
            throw new IllegalArgumentException("use at least 100 devices (waves of 1%) and 1 rollout");
        }
    }

    /** What one rollout took. */
    record RolloutRun(String version, double seconds, String state, long statusMessages, long desiredMessages, long desiredBytes,
                      List<Double> deviceSideDecisionMs, List<double[]> progress, List<double[]> waveStarts, long eventMessages,
                      long eventBytes, List<long[]> decisionSpans) {
    }

    void run() throws Exception {
        // the devices' connections here, the broker's for them, plus headroom for the JVM and HTTP
        BenchProcesses.requireOpenFiles(devices + 2048L, devices + " simulated devices");
        silenceLogs();
        Files.createDirectories(work);
        Path plotAsked = plot;
        List<Figures> figures = new ArrayList<>();
        for (String b : brokers) {
            broker = b;
            if (plotAsked == null) {
                plot = work.resolve("rollout-" + broker + "-" + devices + ".png");
            } else if (brokers.size() > 1) {
                String name = plotAsked.getFileName().toString();
                int dot = name.lastIndexOf('.');
                plot = plotAsked.resolveSibling(dot < 0 ? name + "-" + broker : name.substring(0, dot) + "-" + broker + name.substring(dot));
            }
            figures.add(runOne());
        }
        if (baselineOnly) {
            if (figures.size() > 1) {
                out.printf(Locale.ROOT, "embedded broker's rate / Mosquitto's (same messages, same run): %.2f (target >= 0.7)%n",
                        figures.get(1).baselineRate() / figures.get(0).baselineRate());
            }
            return;
        }
        if (figures.size() > 1) {
            compare(figures.get(0), figures.get(1));
        }
    }

    private Figures runOne() throws Exception {
        Path runDir = Files.createTempDirectory(work.toAbsolutePath(), broker + "-" + devices + "-");
        out.printf(Locale.ROOT, "machine: %d cores, %s, %s; broker %s; %,d devices, waves 1%%,10%%,100%%, no soak, %d ms per activation%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.name") + " " + System.getProperty("os.version"),
                System.getProperty("java.vm.name") + " " + Runtime.version(),
                broker.equals("embedded") ? "embedded HiveMQ CE (in the orchestrator's JVM)" : "Mosquitto " + mosquittoVersion(), devices, applyMs);
        out.printf(Locale.ROOT, "orchestrator JVM flags: %s%n", serverJvm);

        FleetCache fleetCache = enrolledFleet();
        Path data = runDir.resolve("data");
        BenchProcesses.copyTree(fleetCache.data(), data);

        Mosquitto mosquitto = null;
        Process server = null;
        Path serverLog = runDir.resolve("orchestrator.log");
        int httpPort;
        String brokerUrl;
        List<RolloutRun> runs = new ArrayList<>();
        BenchProcesses.Memory idle;
        BenchProcesses.Memory connected;
        BenchProcesses.Memory during = null;
        double connectSeconds;
        String stormFigures = null;
        double stormSeconds = Double.NaN;
        Figures figures;
        int warmupDecisions = 0;
        BenchProcesses.DiskSampler brokerDisk = null;
        String brokerDiskFigures = null;
        try {
            List<String> serverArgs = new ArrayList<>(List.of("server", "--data", data.toString(),
                    "--bind", "127.0.0.1", "--advertise-host", "127.0.0.1"));
            if (broker.equals("mosquitto")) {
                Path turnoutConf = runDir.resolve("mosquitto-turnout");
                Path mosquittoDir = runDir.resolve("mosquitto");
                mosquitto = Mosquitto.start(mosquittoDir, port -> {
                    cli("broker", "mosquitto-config", "--data", data.toString(), "--out", turnoutConf.toString(),
                            "--listener", port + " 127.0.0.1");
                    // as root Mosquitto would switch to its own user, which cannot read the run's private directory
                    return "user root\npersistence_location " + mosquittoDir + "/\nlog_dest stdout\nlog_type error\nlog_type warning\n"
                            + "log_type notice\nconnection_messages false\n"
                            + "include_dir " + turnoutConf + "\n";
                });
                brokerUrl = mosquitto.url();
                serverArgs.addAll(List.of("--broker-url", brokerUrl, "--mosquitto-config", turnoutConf.toString(),
                        "--mosquitto-reload-command", "kill -HUP " + mosquitto.pid()));
            } else {
                int mqttPort = Ports.free();
                brokerUrl = "tcp://127.0.0.1:" + mqttPort;
                serverArgs.addAll(List.of("--mqtt-port", Integer.toString(mqttPort)));
            }
            // picked once the broker listens, so that the two cannot draw the same free port
            httpPort = freePortOtherThan(brokerUrl);
            serverArgs.addAll(List.of("--http-port", Integer.toString(httpPort)));
            List<String> flags = new ArrayList<>(Arrays.asList(serverJvm.trim().split("\\s+")));
            if (jfr) {
                flags.add("-XX:StartFlightRecording=filename=" + runDir.resolve("orchestrator.jfr") + ",settings=profile,dumponexit=true");
            }
            long t0 = System.nanoTime();
            server = BenchProcesses.java(flags, BenchProcesses.productionClasspath(), TurnoutCli.class.getName(), serverArgs, serverLog);
            String base = "http://127.0.0.1:" + httpPort;
            BenchProcesses.awaitHttp(server, base + "/api/v1/health", serverLog, Duration.ofMinutes(5));
            token = readToken(data);
            out.printf(Locale.ROOT, "orchestrator up in %.1f s (pid %d, log %s)%n", (System.nanoTime() - t0) / 1e9, server.pid(), serverLog);
            if (broker.equals("embedded")) {
                brokerDisk = new BenchProcesses.DiskSampler(data.resolve("broker"));
            }
            idle = BenchProcesses.memory(server.pid(), true);
            out.printf(Locale.ROOT, "memory, %,d devices enrolled, none connected: %s%n", devices, idle.describe());

            List<String> warmupVersions = new ArrayList<>();
            for (int k = 1; k <= warmup; k++) {
                warmupVersions.add("1.0." + k);
                release(base, warmupVersions.get(k - 1));
            }
            List<String> versions = new ArrayList<>();
            for (int k = 1; k <= rollouts + (memoryRollout ? 1 : 0); k++) {
                versions.add("1." + k + ".0");
                release(base, versions.get(k - 1));
            }
            Monitor monitor = Monitor.connect(this, base, brokerUrl);
            if (baselineOnly) {
                monitor.close();
                BenchProcesses.stop(server);
                server = null;
                long status = Math.round(devices * BASELINE_SHAPE[0]);
                long desired = Math.round(devices * BASELINE_SHAPE[1]);
                long events = Math.round(devices * BASELINE_SHAPE[2]);
                double seconds = baseline(runDir, data, fleetCache.enrollments(), mosquitto, status, desired,
                        (int) BASELINE_SHAPE[3], events, (int) BASELINE_SHAPE[4]);
                double rate = (status + desired + events) / seconds;
                out.printf(Locale.ROOT, "baseline: broker moves the same messages : %.2f s (%,.0f msg/s)%n", seconds, rate);
                if (jfr && broker.equals("embedded")) {
                    out.printf(Locale.ROOT, "flight recording of the baseline broker: %s%n", runDir.resolve("baseline-broker.jfr"));
                }
                return new Figures(broker, Double.NaN, seconds, rate, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0);
            }

            SimulationOptions options = SimulationOptions.defaults(devices)
                    .withApplyTime(Duration.ofMillis(applyMs)).withHealthInterval(Duration.ofDays(1)).withBrokerUrl(brokerUrl);
            options = new SimulationOptions(options.devices(), options.idPrefix(), options.labels(), options.platform(), Duration.ZERO,
                    options.applyTime(), options.failingVersions(), options.failRate(), options.offlineRate(), options.flapInterval(),
                    options.offlineTime(), options.healthInterval(), options.brokerUrl(), options.seed());
            long c0 = System.nanoTime();
            try (SimulatedFleet fleet = SimulatedFleet.start(fleetCache.enrollments(), options, Duration.ofMinutes(30))) {
                connectSeconds = (System.nanoTime() - c0) / 1e9;
                out.printf(Locale.ROOT, "connected %,d devices in %.1f s (%.0f/s; each connect checks the device's secret: %s)%n",
                        fleet.connectedCount(), connectSeconds, devices / connectSeconds,
                        broker.equals("embedded") ? "HMAC-SHA256 in the orchestrator's broker" : "PBKDF2-SHA512 in Mosquitto");
                awaitQuiet(server.pid(), Duration.ofMinutes(5));
                connected = BenchProcesses.memory(server.pid(), true);
                out.printf(Locale.ROOT, "memory, %,d devices connected: %s%n", devices, connected.describe());

                for (String version : warmupVersions) {
                    RolloutRun r = rollout(base, monitor, fleet, version, null);
                    out.printf(Locale.ROOT, "warm-up rollout (%s, untimed): %s in %.2f s%n", version, r.state(), r.seconds());
                    awaitQuiet(server.pid(), Duration.ofMinutes(2));
                }
                warmupDecisions = engineDecisions(serverLog).size();
                for (int k = 0; k < rollouts; k++) {
                    RolloutRun r = rollout(base, monitor, fleet, versions.get(k), null);
                    runs.add(r);
                    out.printf(Locale.ROOT, "rollout %d (%s): %s in %.2f s; %,d status + %,d desired messages%n", k + 1, r.version(),
                            r.state(), r.seconds(), r.statusMessages(), r.desiredMessages());
                    awaitQuiet(server.pid(), Duration.ofMinutes(2));
                }
                if (memoryRollout) {
                    BenchProcesses.Memory[] sample = new BenchProcesses.Memory[1];
                    long pid = server.pid();
                    RolloutRun r = rollout(base, monitor, fleet, versions.get(rollouts), () -> {
                        try {
                            sample[0] = BenchProcesses.memory(pid, true);
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    });
                    during = sample[0];
                    out.printf(Locale.ROOT, "memory, rollout %s running (wave 3 started; untimed): %s; the rollout %s in %.2f s%n",
                            r.version(), during == null ? "not sampled" : during.describe(), r.state(), r.seconds());
                }
                if (storm) {
                    // the broker restarts; every device's session reconnects by itself (1 s to 30 s back-off, as the daemon's)
                    long s0 = System.nanoTime();
                    if (mosquitto != null) {
                        mosquitto.restart(); // returns once it listens again
                    } else {
                        BenchProcesses.stop(server);
                        s0 = System.nanoTime();
                        // a recording of its own: the same file name would overwrite the rollouts' recording with the storm's
                        List<String> restartedFlags = flags.stream()
                                .map(f -> f.replace(runDir.resolve("orchestrator.jfr").toString(), runDir.resolve("orchestrator-restarted.jfr").toString()))
                                .toList();
                        server = BenchProcesses.java(restartedFlags, BenchProcesses.productionClasspath(), TurnoutCli.class.getName(), serverArgs,
                                runDir.resolve("orchestrator-restarted.log"));
                        Process restarted = server;
                        Ports.awaitListening(restarted, URI.create(brokerUrl).getPort(), Duration.ofMinutes(5),
                                () -> BenchProcesses.tail(runDir.resolve("orchestrator-restarted.log"), 30));
                    }
                    long listening = System.nanoTime();
                    await().atMost(Duration.ofMinutes(30)).pollInterval(Duration.ofMillis(50))
                            .until(() -> fleet.connectedCount() == devices);
                    long back = System.nanoTime();
                    stormSeconds = (back - s0) / 1e9;
                    stormFigures = String.format(Locale.ROOT, "%,d devices back %.1f s after the %s (%,.0f/s), %.1f s after it listened again",
                            devices, stormSeconds, mosquitto != null ? "Mosquitto restart" : "new orchestrator process started (it holds the broker)",
                            devices / stormSeconds, (back - listening) / 1e9);
                    out.printf(Locale.ROOT, "reconnect storm: %s%n", stormFigures);
                }
            }
            monitor.close();
            List<Double> engineMs = engineDecisions(serverLog);
            List<Double> queueWaits = matches(serverLog, QUEUE_WAIT, 1).stream().sorted().toList();
            engineMs = engineMs.subList(Math.min(warmupDecisions, engineMs.size()), engineMs.size());
            BenchProcesses.stop(server);
            server = null;
            if (brokerDisk != null) {
                brokerDiskFigures = brokerDisk.describe();
            }

            // the broker alone moving the same messages
            long status = Math.round(runs.stream().mapToLong(RolloutRun::statusMessages).average().orElse(0));
            long desired = Math.round(runs.stream().mapToLong(RolloutRun::desiredMessages).average().orElse(0));
            int desiredSize = (int) Math.max(1, runs.get(0).desiredBytes() / Math.max(1, runs.get(0).desiredMessages()));
            long events = Math.round(runs.stream().mapToLong(RolloutRun::eventMessages).average().orElse(0));
            int eventSize = (int) Math.max(1, runs.get(0).eventBytes() / Math.max(1, runs.get(0).eventMessages()));
            double baselineSeconds = baseline(runDir, data, fleetCache.enrollments(), mosquitto, status, desired, desiredSize, events,
                    eventSize);

            figures = report(runs, engineMs, baselineSeconds, status, desired, desiredSize, events, idle, connected, during, fleetCache,
                    connectSeconds, stormSeconds);
            decisionParts(runs, serverLog);
            out.printf(Locale.ROOT, "report wait for the engine, deciding ones: p50 %.1f ms, p99 %.1f ms (%d reports; the device-side"
                    + " decision latency's part spent queued in the orchestrator before the engine took the report up)%n",
                    BenchProcesses.percentile(queueWaits, 50), BenchProcesses.percentile(queueWaits, 99), queueWaits.size());
            if (stormFigures != null) {
                out.printf(Locale.ROOT, "reconnect storm after a broker restart   : %s%n", stormFigures);
            }
            if (brokerDiskFigures != null) {
                out.printf(Locale.ROOT, "embedded broker disk (du DATA/broker)    : %s%n", brokerDiskFigures);
            }
            if (plot != null) {
                ProgressChart.write(plot, runs.get(0), devices, broker.equals("embedded") ? "embedded HiveMQ CE" : "Mosquitto");
                out.printf(Locale.ROOT, "plot of rollout 1: %s%n", plot.toAbsolutePath());
            }
            if (jfr) {
                out.printf(Locale.ROOT, "flight recording of the orchestrator: %s%n", runDir.resolve("orchestrator.jfr"));
                if (broker.equals("embedded")) {
                    out.printf(Locale.ROOT, "flight recording of the baseline broker: %s%n", runDir.resolve("baseline-broker.jfr"));
                }
            }
        } finally {
            BenchProcesses.stop(server);
            if (brokerDisk != null) {
                brokerDisk.close();
            }
            if (mosquitto != null) {
                mosquitto.close();
            }
        }
        BenchProcesses.deleteTree(data);
        return figures;
    }

    // ---- the enrolled fleet, made once per size and kept ----

    record FleetCache(Path data, List<DeviceEnrollment> enrollments) {
    }

    private FleetCache enrolledFleet() throws Exception {
        Path dir = cache.toAbsolutePath().resolve(devices + "-devices");
        Path data = dir.resolve("data");
        Path configs = dir.resolve("enrollments.json");
        Path about = dir.resolve("enrollment.properties");
        if (!Files.exists(about)) {
            BenchProcesses.deleteTree(dir);
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            int httpPort = Ports.free();
            Path log = dir.resolve("enroll.log");
            Process server = BenchProcesses.java(Arrays.asList(serverJvm.trim().split("\\s+")), BenchProcesses.productionClasspath(),
                    TurnoutCli.class.getName(), List.of("server", "--data", data.toString(), "--http-port", Integer.toString(httpPort),
                            "--mqtt-port", Integer.toString(Ports.free()), "--bind", "127.0.0.1", "--advertise-host", "127.0.0.1"),
                    log);
            try {
                String base = "http://127.0.0.1:" + httpPort;
                BenchProcesses.awaitHttp(server, base + "/api/v1/health", log, Duration.ofMinutes(5));
                out.printf(Locale.ROOT, "enrolling %,d devices over the API (64 requests in flight) ...%n", devices);
                long t0 = System.nanoTime();
                List<DeviceEnrollment> enrolled = SimulatedFleet.enroll(base, readToken(data), SimulationOptions.defaults(devices), Duration.ofHours(3), null);
                double seconds = (System.nanoTime() - t0) / 1e9;
                Files.writeString(configs, json.writeValueAsString(enrolled.stream().map(DeviceEnrollment::config).toList()));
                Files.setPosixFilePermissions(configs, PosixFilePermissions.fromString("rw-------"));
                Properties p = new Properties();
                p.setProperty("devices", Integer.toString(devices));
                p.setProperty("seconds", String.format(Locale.ROOT, "%.1f", seconds));
                p.setProperty("at", Instant.now().toString());
                p.setProperty("cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
                try (var w = Files.newBufferedWriter(about)) {
                    p.store(w, "enrollment of the benchmark fleet");
                }
            } finally {
                BenchProcesses.stop(server);
            }
        }
        Properties p = new Properties();
        try (var r = Files.newBufferedReader(about)) {
            p.load(r);
        }
        double seconds = Double.parseDouble(p.getProperty("seconds"));
        out.printf(Locale.ROOT, "enrollment: %,d devices in %.1f s = %.1f devices/s (measured %s on %s cores; fleet kept in %s and copied for each run)%n",
                devices, seconds, devices / seconds, p.getProperty("at"), p.getProperty("cores"), dir);
        List<DeviceEnrollment> enrollments = new ArrayList<>();
        for (JsonNode c : json.readTree(Files.readString(configs))) {
            enrollments.add(DeviceEnrollment.parse(c.asText()));
        }
        return new FleetCache(data, enrollments);
    }

    // ---- one rollout ----

    private RolloutRun rollout(String base, Monitor monitor, SimulatedFleet fleet, String version, Runnable atLastWave)
            throws Exception {
        long statusBefore = fleet.devices().stream().mapToLong(SimulatedDevice::publishedCount).sum();
        long desiredBefore = fleet.devices().stream().mapToLong(SimulatedDevice::desiredReceivedCount).sum();
        long bytesBefore = fleet.devices().stream().mapToLong(SimulatedDevice::desiredBytesReceived).sum();
        monitor.reset();
        long r0 = System.nanoTime();
        JsonNode created = post(base + "/api/v1/rollouts", Map.of("app", APP, "version", version, "target", "all",
                "waves", "1%,10%,100%", "deviceTimeout", "30m"));
        String id = created.path("id").asText();
        List<double[]> progress = new ArrayList<>();
        List<double[]> waveStarts = new ArrayList<>();
        int active = 0;
        int failed = 0;
        long events = 0;
        long eventBytes = 0;
        String state = "RUNNING";
        boolean sampled = false;
        long lastEvent = System.nanoTime();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(30);
        while (true) {
            Monitor.Seen seen = monitor.events.poll(100, TimeUnit.MILLISECONDS);
            if (seen == null) {
                if (System.nanoTime() - lastEvent > TimeUnit.SECONDS.toNanos(120) || System.nanoTime() > deadline) {
                    Map<String, Integer> simulated = new java.util.TreeMap<>();
                    for (SimulatedDevice d : fleet.devices()) {
                        simulated.merge(d.state(APP) + (d.isConnected() ? "" : " offline"), 1, Integer::sum);
                    }
                    throw new IllegalStateException("rollout " + id + " made no progress for 120 s: " + active + " active, " + failed
                            + " failed as the orchestrator tells; the simulated devices say " + simulated + ", "
                            + fleet.devices().stream().mapToLong(SimulatedDevice::publishFailureCount).sum()
                            + " publishes failed; see the orchestrator log");
                }
                continue;
            }
            lastEvent = System.nanoTime();
            RolloutEvent e = seen.event();
            if (!e.getRolloutId().equals(id)) {
                continue;
            }
            events++;
            eventBytes += e.getSerializedSize();
            double t = (seen.atNanos() - r0) / 1e9;
            if (e.getType() == RolloutEventType.DEVICE_SUCCEEDED) {
                progress.add(new double[] {t, ++active, failed});
            } else if (e.getType() == RolloutEventType.DEVICE_FAILED) {
                progress.add(new double[] {t, active, ++failed});
            } else if (e.getType() == RolloutEventType.WAVE_STARTED) {
                waveStarts.add(new double[] {t, e.getWave()});
                if (e.getWave() == 3 && atLastWave != null && !sampled) {
                    sampled = true;
                    atLastWave.run();
                }
            } else if (e.getType() == RolloutEventType.STATE_CHANGED) {
                state = e.getState().name().replace("ROLLOUT_", "");
                if (!state.equals("RUNNING") && !state.equals("PAUSED")) {
                    break;
                }
            }
        }
        double seconds = (System.nanoTime() - r0) / 1e9;
        // devices report after they are counted: let the last statuses land before counting messages (no event marks
        // the last one, so this lets time pass on purpose)
        Thread.sleep(1000);
        long status = fleet.devices().stream().mapToLong(SimulatedDevice::publishedCount).sum() - statusBefore;
        long desired = fleet.devices().stream().mapToLong(SimulatedDevice::desiredReceivedCount).sum() - desiredBefore;
        long bytes = fleet.devices().stream().mapToLong(SimulatedDevice::desiredBytesReceived).sum() - bytesBefore;

        // the same decision seen from the devices: last ACTIVE of wave n published -> first ACTIVATE of wave n+1 received
        JsonNode rollout = get(base + "/api/v1/rollouts/" + id);
        Map<String, SimulatedDevice> byId = new HashMap<>();
        fleet.devices().forEach(d -> byId.put(d.id(), d));
        List<Double> deviceSide = new ArrayList<>();
        List<long[]> spans = new ArrayList<>();
        JsonNode waves = rollout.path("waves");
        for (int w = 0; w + 1 < waves.size(); w++) {
            long lastActive = 0;
            for (JsonNode d : waves.get(w).path("devices")) {
                lastActive = Math.max(lastActive, byId.get(d.asText()).activeReportedAt(APP, version));
            }
            long firstActivate = Long.MAX_VALUE;
            for (JsonNode d : waves.get(w + 1).path("devices")) {
                long at = byId.get(d.asText()).activateSeenAt(APP, version);
                if (at != 0) {
                    firstActivate = Math.min(firstActivate, at);
                }
            }
            if (lastActive != 0 && firstActivate != Long.MAX_VALUE) {
                deviceSide.add((firstActivate - lastActive) / 1e6);
                spans.add(new long[] {lastActive, firstActivate});
            }
        }
        return new RolloutRun(version, seconds, state, status, desired, bytes, deviceSide, progress, waveStarts, events, eventBytes, spans);
    }

    // ---- the broker alone ----

    /**
     * Seconds the broker needs to move {@code status} status messages (devices to one subscriber in
     * the orchestrator's role) and {@code desired} retained desired states (that one client to the
     * devices), all QoS 1, at once, over one connection per device.
     */
    private double baseline(Path runDir, Path data, List<DeviceEnrollment> enrollments, Mosquitto mosquitto, long status,
                            long desired, int desiredSize, long events, int eventSize) throws Exception {
        Process brokerOnly = null;
        String url;
        String orchestratorName;
        String orchestratorSecret;
        if (mosquitto != null) {
            // the same Mosquitto, its password file and ACL: the orchestrator's identity and the devices' own
            url = mosquitto.url();
            OrchestratorIdentity self = OrchestratorIdentity.loadOrCreate(data,
                    TurnoutServer.loadOrCreateKey(data.resolve("signing.key")).keyId());
            orchestratorName = self.name();
            orchestratorSecret = self.secret();
        } else {
            int port = Ports.free();
            Path log = runDir.resolve("baseline-broker.log");
            List<String> brokerFlags = new ArrayList<>(Arrays.asList(serverJvm.trim().split("\\s+")));
            if (jfr) {
                brokerFlags.add("-XX:StartFlightRecording=filename=" + runDir.resolve("baseline-broker.jfr") + ",settings=profile,dumponexit=true");
            }
            brokerOnly = BenchProcesses.java(brokerFlags, System.getProperty("java.class.path"),
                    BaselineBroker.class.getName(), List.of(runDir.resolve("baseline-broker").toString(), Integer.toString(port)), log);
            Ports.awaitListening(brokerOnly, port, Duration.ofMinutes(2), () -> "the baseline broker: " + BenchProcesses.tail(log, 30));
            url = "tcp://127.0.0.1:" + port;
            orchestratorName = BaselineBroker.ORCHESTRATOR;
            orchestratorSecret = "unused";
        }
        try {
            Topics topics = new Topics(Topics.DEFAULT_PREFIX);
            AtomicLong statusReceived = new AtomicLong();
            AtomicLong desiredReceived = new AtomicLong();
            AtomicLong lastReceived = new AtomicLong();
            // sessions as the product keeps them: the orchestrator's kept after a disconnect (the broker persists its QoS 1
            // state), a device's clean and not kept, as the daemon's and the simulated devices'
            AsyncMqttSession orchestrator = AsyncMqttSession.create(new AsyncMqttSession.Settings(orchestratorName, url, orchestratorName,
                    orchestratorSecret, true, ORCHESTRATOR_SESSION_SECONDS, null, null, false), (topic, payload) -> {
                        statusReceived.incrementAndGet();
                        lastReceived.set(System.nanoTime());
                    });
            orchestrator.connect().get(30, TimeUnit.SECONDS);
            orchestrator.subscribe(List.of(topics.allStatus())).get(30, TimeUnit.SECONDS);
            // the rollout events a monitor receives are messages of the rollout too
            AtomicLong eventsReceived = new AtomicLong();
            AsyncMqttSession monitorSession = AsyncMqttSession.create(new AsyncMqttSession.Settings(MONITOR, url, MONITOR,
                    monitorPassword == null ? "unused" : monitorPassword, true, 0, null, null, false), (topic, payload) -> {
                        eventsReceived.incrementAndGet();
                        lastReceived.set(System.nanoTime());
                    });
            monitorSession.connect().get(30, TimeUnit.SECONDS);
            monitorSession.subscribe(List.of(topics.allRolloutEvents())).get(30, TimeUnit.SECONDS);
            List<AsyncMqttSession> sessions = new ArrayList<>();
            Semaphore slots = new Semaphore(64);
            List<CompletableFuture<Void>> ready = new ArrayList<>();
            for (DeviceEnrollment e : enrollments) {
                AsyncMqttSession s = AsyncMqttSession.create(new AsyncMqttSession.Settings(e.deviceId(), url, e.mqttUsername(),
                        e.mqttPassword(), true, DEVICE_SESSION_SECONDS, null, null, false), (topic, payload) -> {
                            desiredReceived.incrementAndGet();
                            lastReceived.set(System.nanoTime());
                        });
                sessions.add(s);
                slots.acquire();
                ready.add(s.connect().thenCompose(x -> s.subscribe(List.of(topics.desired(e.deviceId()))))
                        .whenComplete((x, err) -> slots.release()));
            }
            CompletableFuture.allOf(ready.toArray(CompletableFuture[]::new)).get(30, TimeUnit.MINUTES);
            byte[] statusPayload = sampleStatus().toByteArray();
            byte[] desiredPayload = new byte[desiredSize];
            new java.util.Random(1).nextBytes(desiredPayload);
            byte[] eventPayload = new byte[eventSize];
            new java.util.Random(2).nextBytes(eventPayload);
            out.printf(Locale.ROOT, "baseline: %,d raw clients connected to %s, sessions as the devices' (clean) and the orchestrator's (kept) are;"
                            + " moving %,d status (%d B) + %,d desired (%d B, retained) + %,d rollout events (%d B, to a monitor), QoS 1%n",
                    sessions.size() + 2, mosquitto != null ? "the same Mosquitto (orchestrator stopped)"
                            : "the same HiveMQ CE set-up in its own JVM", status, statusPayload.length, desired, desiredSize, events,
                    eventSize);
            // the same exchange twice, the first untimed: a JVM broker runs compiled code when timed (the first round of
            // a fresh HiveMQ JVM spends most of its CPU in the JIT: 21 s of C2 compilation in one 2,000-device run),
            // as the rollouts it is compared with run after a warm-up rollout
            double seconds = 0;
            for (int round = 0; round < 2; round++) {
                statusReceived.set(0);
                desiredReceived.set(0);
                eventsReceived.set(0);
                Semaphore window = new Semaphore(2000);
                AtomicLong failures = new AtomicLong();
                long start = System.nanoTime();
                Thread desiredSender = new Thread(() -> {
                    try {
                        long total = desired + events;
                        long nextDevice = 0;
                        for (long i = 0; i < total; i++) {
                            window.acquire();
                            // the rollout's events spread evenly among its desired states, as in the orchestrator's outbox
                            boolean event = (i + 1) * events / total != i * events / total;
                            String topic = event ? topics.rolloutEvents("r-baseline")
                                    : topics.desired(enrollments.get((int) (nextDevice++ % enrollments.size())).deviceId());
                            orchestrator.publish(topic, event ? eventPayload : desiredPayload, 1, !event).whenComplete((x, err) -> {
                                if (err != null) {
                                    failures.incrementAndGet();
                                }
                                window.release();
                            });
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                desiredSender.start();
                for (long i = 0; i < status; i++) {
                    window.acquire();
                    int d = (int) (i % sessions.size());
                    sessions.get(d).publish(topics.status(enrollments.get(d).deviceId()), statusPayload, 1, false).whenComplete((x, err) -> {
                        if (err != null) {
                            failures.incrementAndGet();
                        }
                        window.release();
                    });
                }
                desiredSender.join();
                // every message, or none for 30 s: a broker that acknowledged a message and never delivered it is a finding
                // to print (the time is then to the last message that did arrive), not a reason to wait 10 minutes and stop
                await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofMillis(5)).until(() -> (statusReceived.get() >= status
                        && desiredReceived.get() >= desired && eventsReceived.get() >= events)
                        || (lastReceived.get() > start && System.nanoTime() - lastReceived.get() > TimeUnit.SECONDS.toNanos(30)));
                long lost = (status - statusReceived.get()) + (desired - desiredReceived.get()) + (events - eventsReceived.get());
                if (lost > 0) {
                    out.printf(Locale.ROOT, "baseline round %d: LOST %,d message(s) the broker had acknowledged: %,d of %,d status, %,d of %,d"
                                    + " desired, %,d of %,d rollout events arrived (%d publishes failed); none for 30 s%n", round + 1, lost,
                            statusReceived.get(), status, desiredReceived.get(), desired, eventsReceived.get(), events, failures.get());
                }
                seconds = (lastReceived.get() - start) / 1e9;
                if (round == 0) {
                    out.printf(Locale.ROOT, "baseline warm-up round (untimed): %.2f s%n", seconds);
                }
            }
            orchestrator.close();
            monitorSession.close();
            sessions.forEach(AsyncMqttSession::close);
            return seconds;
        } finally {
            BenchProcesses.stop(brokerOnly);
        }
    }

    private static int freePortOtherThan(String brokerUrl) throws java.io.IOException {
        int brokerPort = URI.create(brokerUrl).getPort();
        int port;
        do {
            port = Ports.free();
        } while (port == brokerPort);
        return port;
    }

    private static StatusEvent sampleStatus() {
        return StatusEvent.newBuilder().setDeviceId("sim-0001").setApp(APP).setVersion("1.1.0").setState(UpdateState.APPLYING)
                .setSequence(1234).setRunningVersion("1.0.0").setTimestampMs(System.currentTimeMillis()).build();
    }

    // ---- figures ----

    /** One broker's figures, for the comparison of {@code --broker both}. */
    record Figures(String broker, double meanRollout, double baselineSeconds, double baselineRate, double engineP99,
                   double deviceP50, double deviceP99, double connectRate, double stormSeconds, long rssDuring) {
    }

    private Figures report(List<RolloutRun> runs, List<Double> engineMs, double baselineSeconds, long status, long desired, int desiredSize,
                           long events, BenchProcesses.Memory idle, BenchProcesses.Memory connected, BenchProcesses.Memory during,
                           FleetCache fleet, double connectSeconds, double stormSeconds) {
        List<Double> engine = engineMs.stream().sorted().toList();
        List<Double> deviceSide = runs.stream().flatMap(r -> r.deviceSideDecisionMs().stream()).sorted().toList();
        double meanRollout = runs.stream().mapToDouble(RolloutRun::seconds).average().orElse(Double.NaN);
        double bestRollout = runs.stream().mapToDouble(RolloutRun::seconds).min().orElse(Double.NaN);
        out.println();
        out.printf(Locale.ROOT, "== rollout to %,d devices on %s (%d rollouts) ==%n", devices, broker, runs.size());
        out.printf(Locale.ROOT, "deploy -> all ACTIVE (SUCCEEDED)          : mean %.2f s, best %.2f s (%s)%n", meanRollout, bestRollout,
                String.join(", ", runs.stream().map(r -> String.format(Locale.ROOT, "%.2f", r.seconds())).toList()));
        out.printf(Locale.ROOT, "wave decision, engine (%d decisions)      : p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 <= 50 ms)%n",
                engine.size(), BenchProcesses.percentile(engine, 50), BenchProcesses.percentile(engine, 99),
                engine.isEmpty() ? Double.NaN : engine.get(engine.size() - 1));
        out.printf(Locale.ROOT, "wave decision, seen by devices (%d)       : p50 %.1f ms, p99 %.1f ms (last ACTIVE sent -> first ACTIVATE received)%n",
                deviceSide.size(), BenchProcesses.percentile(deviceSide, 50), BenchProcesses.percentile(deviceSide, 99));
        out.printf(Locale.ROOT, "messages per rollout                     : %,d status + %,d desired (%d B) + %,d rollout events%n", status,
                desired, desiredSize, events);
        out.printf(Locale.ROOT, "baseline: broker moves the same messages : %.2f s (%,.0f msg/s)%n", baselineSeconds,
                (status + desired + events) / baselineSeconds);
        out.printf(Locale.ROOT, "ratio rollout / baseline                 : %.2f mean, %.2f best (target <= 2.0)%n", meanRollout / baselineSeconds,
                bestRollout / baselineSeconds);
        out.printf(Locale.ROOT, "orchestrator memory, devices enrolled    : %s%n", idle.describe());
        out.printf(Locale.ROOT, "orchestrator memory, devices connected   : %s%n", connected.describe());
        if (during != null) {
            out.printf(Locale.ROOT, "orchestrator memory, rollout running     : %s%n", during.describe());
            out.printf(Locale.ROOT, "per device (rollout running - enrolled)  : RSS %,.0f B, live heap %,.0f B%n",
                    (during.rssBytes() - idle.rssBytes()) / (double) devices,
                    (during.liveHeapBytes() - idle.liveHeapBytes()) / (double) devices);
            out.printf(Locale.ROOT, "per device (whole process / devices)     : RSS %,.0f B, live heap %,.0f B%n",
                    during.rssBytes() / (double) devices, during.liveHeapBytes() / (double) devices);
        }
        out.printf(Locale.ROOT, "connect                                  : %,.0f devices/s%n", devices / connectSeconds);
        return new Figures(broker, meanRollout, baselineSeconds, (status + desired + events) / baselineSeconds,
                BenchProcesses.percentile(engine, 99), BenchProcesses.percentile(deviceSide, 50), BenchProcesses.percentile(deviceSide, 99),
                devices / connectSeconds, stormSeconds, during == null ? connected.rssBytes() : during.rssBytes());
    }

    /** The two brokers side by side, as measured in this run (Markdown, to paste into docs/benchmarks.md). */
    private void compare(Figures m, Figures e) {
        out.println();
        out.printf(Locale.ROOT, "== %,d devices, both brokers in this run ==%n", devices);
        out.println("| | Mosquitto | embedded HiveMQ CE |");
        out.println("|---|---|---|");
        out.printf(Locale.ROOT, "| broker alone moves the rollout's messages | %.2f s (%,.0f msg/s) | %.2f s (%,.0f msg/s) |%n",
                m.baselineSeconds(), m.baselineRate(), e.baselineSeconds(), e.baselineRate());
        out.printf(Locale.ROOT, "| deploy -> all ACTIVE | %.2f s mean | %.2f s mean |%n", m.meanRollout(), e.meanRollout());
        out.printf(Locale.ROOT, "| ratio rollout / broker | %.2fx | %.2fx |%n", m.meanRollout() / m.baselineSeconds(),
                e.meanRollout() / e.baselineSeconds());
        out.printf(Locale.ROOT, "| wave decision in the engine, p99 | %.1f ms | %.1f ms |%n", m.engineP99(), e.engineP99());
        out.printf(Locale.ROOT, "| wave decision seen by devices | p50 %.0f ms, p99 %.0f ms | p50 %.0f ms, p99 %.0f ms |%n",
                m.deviceP50(), m.deviceP99(), e.deviceP50(), e.deviceP99());
        out.printf(Locale.ROOT, "| devices connected per second | %,.0f | %,.0f |%n", m.connectRate(), e.connectRate());
        out.printf(Locale.ROOT, "| reconnect storm: all devices back after the broker (re)starts | %.1f s | %.1f s |%n",
                m.stormSeconds(), e.stormSeconds());
        out.printf(Locale.ROOT, "| orchestrator RSS, rollout running | %,d MiB | %,d MiB |%n", m.rssDuring() >> 20, e.rssDuring() >> 20);
        out.printf(Locale.ROOT, "embedded broker's rate / Mosquitto's (same messages, same run): %.2f (target >= 0.7)%n",
                e.baselineRate() / m.baselineRate());
    }

    /**
     * Where the device-side decision time goes, per decision: the deciding report on its way to the orchestrator (device,
     * broker, orchestrator's MQTT client), queued for the engine, the engine's decision (store commit included), and the
     * first ACTIVATE on its way out (publish queue, MQTT client, broker, device). The orchestrator and the devices run on
     * one machine, whose System.nanoTime() (CLOCK_MONOTONIC) both read.
     */
    private void decisionParts(List<RolloutRun> runs, Path serverLog) throws java.io.IOException {
        List<double[]> handovers = new ArrayList<>(); // handed over at (ns), wait (ms), engine decision (ms)
        for (String line : Files.readAllLines(serverLog)) {
            Matcher h = HANDOVER.matcher(line);
            if (h.find()) {
                handovers.add(new double[] {Long.parseLong(h.group(2)), Double.parseDouble(h.group(1)), Double.NaN});
                continue;
            }
            Matcher d = DECISION.matcher(line);
            if (d.find() && !handovers.isEmpty() && Double.isNaN(handovers.get(handovers.size() - 1)[2])) {
                handovers.get(handovers.size() - 1)[2] = Double.parseDouble(d.group(3));
            }
        }
        List<Double> inbound = new ArrayList<>();
        List<Double> queued = new ArrayList<>();
        List<Double> engine = new ArrayList<>();
        List<Double> outbound = new ArrayList<>();
        for (RolloutRun run : runs) {
            for (long[] span : run.decisionSpans()) {
                double[] found = null;
                for (double[] h : handovers) {
                    if (h[0] >= span[0] && h[0] <= span[1] && !Double.isNaN(h[2]) && (found == null || h[0] < found[0])) {
                        found = h;
                    }
                }
                if (found == null) {
                    continue;
                }
                inbound.add((found[0] - span[0]) / 1e6);
                queued.add(found[1]);
                engine.add(found[2]);
                outbound.add((span[1] - found[0]) / 1e6 - found[1] - found[2]);
            }
        }
        out.printf(Locale.ROOT, "decision seen by devices, its parts (%d of them, p50 / max ms): report to the orchestrator %s;"
                + " queued for the engine %s; engine and commit %s; first ACTIVATE out to its device %s%n", inbound.size(),
                parts(inbound), parts(queued), parts(engine), parts(outbound));
    }

    private static String parts(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.isEmpty() ? "-" : String.format(Locale.ROOT, "%.1f / %.1f", BenchProcesses.percentile(sorted, 50),
                sorted.get(sorted.size() - 1));
    }

    private static List<Double> engineDecisions(Path log) throws java.io.IOException {
        return matches(log, DECISION, 3);
    }

    /** Group {@code group} of every line of {@code log} that {@code pattern} finds, as numbers. */
    private static List<Double> matches(Path log, Pattern pattern, int group) throws java.io.IOException {
        List<Double> values = new ArrayList<>();
        for (String line : Files.readAllLines(log)) {
            Matcher m = pattern.matcher(line);
            if (m.find()) {
                values.add(Double.parseDouble(m.group(group)));
            }
        }
        return values;
    }

    // ---- helpers ----

    /** Waits until the process uses less than 5 % of a core over a second (devices settled, reports applied). */
    private static void awaitQuiet(long pid, Duration max) throws Exception {
        long[] before = {cpuTicks(pid)};
        try {
            await().atMost(max).pollDelay(Duration.ofSeconds(1)).pollInterval(Duration.ofSeconds(1)).until(() -> {
                long now = cpuTicks(pid);
                boolean quiet = now - before[0] <= 5; // clock ticks are 1/100 s
                before[0] = now;
                return quiet;
            });
        } catch (ConditionTimeoutException stillBusy) {
            // measured as it is: the figures say how busy it was
        }
    }

    private static long cpuTicks(long pid) throws java.io.IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    private void release(String base, String version) throws Exception {
        byte[] archive = SimulatedImageArchive.of("bench/web:" + version);
        HttpResponse<String> up = http.send(authorized(HttpRequest.newBuilder(URI.create(base + "/api/v1/artifacts")))
                .POST(HttpRequest.BodyPublishers.ofByteArray(archive)).build(), HttpResponse.BodyHandlers.ofString());
        if (up.statusCode() >= 300) {
            throw new IllegalStateException("artifact upload answered " + up.statusCode() + ": " + up.body());
        }
        String digest = json.readTree(up.body()).path("digest").asText();
        post(base + "/api/v1/releases", Map.of("app", APP, "version", version,
                "images", List.of(Map.of("platform", "linux/arm64", "digest", digest)),
                "spec", Map.of("container", Map.of("command", List.of("/bin/true")))));
    }

    /** The operator token of the orchestrator whose data directory this is (read once it is up). */
    private volatile String token;

    private static String readToken(Path data) throws java.io.IOException {
        return Files.readString(data.resolve("operator.token")).strip();
    }

    private HttpRequest.Builder authorized(HttpRequest.Builder request) {
        return token == null ? request : request.header("Authorization", "Bearer " + token);
    }

    JsonNode post(String url, Object body) throws Exception {
        HttpResponse<String> r = http.send(authorized(HttpRequest.newBuilder(URI.create(url))).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() >= 300) {
            throw new IllegalStateException(url + " answered " + r.statusCode() + ": " + r.body());
        }
        return json.readTree(r.body());
    }

    private JsonNode get(String url) throws Exception {
        return json.readTree(http.send(authorized(HttpRequest.newBuilder(URI.create(url))).build(), HttpResponse.BodyHandlers.ofString()).body());
    }

    private static void cli(String... args) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8),
                System.getenv(), args);
        if (code != 0) {
            throw new IllegalStateException("turnout " + String.join(" ", args) + " exited " + code + ": " + e);
        }
    }

    private static String mosquittoVersion() {
        try {
            Process p = new ProcessBuilder("/usr/sbin/mosquitto", "-h").redirectErrorStream(true).start();
            String first = new String(p.getInputStream().readAllBytes()).lines().findFirst().orElse("");
            p.waitFor(5, TimeUnit.SECONDS);
            Matcher m = Pattern.compile("version (\\S+)").matcher(first);
            return m.find() ? m.group(1) : "";
        } catch (Exception e) {
            return "";
        }
    }

    static void silenceLogs() {
        if (org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME) instanceof ch.qos.logback.classic.Logger root) {
            root.setLevel(ch.qos.logback.classic.Level.WARN);
        }
    }

    /** A monitor identity subscribed to every rollout's events: progress as the orchestrator tells it, when it tells it. */
    static final class Monitor implements AutoCloseable {
        record Seen(long atNanos, RolloutEvent event) {
        }

        final LinkedBlockingQueue<Seen> events = new LinkedBlockingQueue<>();
        private AsyncMqttSession session;

        static Monitor connect(RolloutBenchmark b, String base, String brokerUrl) throws Exception {
            JsonNode user = b.post(base + "/api/v1/users", Map.of("name", MONITOR, "role", "monitor"));
            b.monitorPassword = user.path("password").asText();
            Monitor m = new Monitor();
            m.session = AsyncMqttSession.create(new AsyncMqttSession.Settings("bench-monitor", brokerUrl, "bench-monitor",
                    user.path("password").asText(), true, 0, null, null, true), (topic, payload) -> {
                        try {
                            m.events.add(new Seen(System.nanoTime(), RolloutEvent.parseFrom(payload)));
                        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                            // not a rollout event
                        }
                    });
            // Mosquitto reloads its password file after the user is added: retry the first connect for a moment
            await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                    .untilAsserted(() -> m.session.connect().get(10, TimeUnit.SECONDS));
            m.session.subscribe(List.of(new Topics(Topics.DEFAULT_PREFIX).allRolloutEvents())).get(30, TimeUnit.SECONDS);
            return m;
        }

        void reset() {
            events.clear();
        }

        @Override
        public void close() {
            session.close();
        }
    }
}
