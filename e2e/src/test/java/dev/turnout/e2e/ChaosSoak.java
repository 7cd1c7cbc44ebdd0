package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.sim.DeviceEnrollment;
import dev.turnout.orchestrator.sim.SimulatedDevice;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.proto.StatusEvent;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.FaultProxy;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
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
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Issue 20's chaos soak (a program, run by {@code bin/bench soak}, and in short by {@code ChaosSoakIT}): an
 * orchestrator as its own process (so that it can be killed with SIGKILL and restarted on its data directory),
 * its embedded HiveMQ CE or a Mosquitto process, a few hundred simulated devices (in this JVM, in groups, each group
 * reaching the broker through its own {@link FaultProxy}) and two real edge daemons (each its own JVM, on this
 * machine's Docker engine, reaching the broker and the orchestrator's HTTP through their own proxies). Rollouts back
 * to back ({@code 1,10%,100%}, a canary then waves), each a new version made from one of three image archives (two
 * healthy, one whose health check fails: its rollouts must end ROLLED_BACK), and one fault of the matrix per rollout
 * at a seeded random moment after the deploy, the kinds drawn from a shuffled bag so that every five rollouts
 * inject each kind once: a broker restart, an orchestrator kill -9, a partition of a device group or a daemon, stale
 * and duplicated reports from simulated devices, a daemon kill -9.
 *
 * <p>At the end, every fault healed, it checks: every device runs exactly one version of the app (never two, never
 * none); the orchestrator's view of every device is what runs there; every status report the broker acknowledged
 * from a simulated device is in its audit trail (none lost); every rollout ended as its policy says. And it prints
 * the orchestrator's live heap after a full GC after the first and after the last rollout, the time per rollout,
 * the faults injected per kind and the seed that reproduces the plan.
 */
public final class ChaosSoak {

    /** The faults of the matrix the soak injects. */
    enum Fault {
        /** The broker restarts (Mosquitto: its process; embedded: the orchestrator that holds it stops and starts again). */
        BROKER_RESTART,
        /** The orchestrator is killed with SIGKILL and started again on the same data directory. */
        ORCHESTRATOR_KILL,
        /** A group of simulated devices, or a daemon, loses its network (connections reset) for 2 to 8 s. */
        PARTITION,
        /** Simulated devices send their newest report again and an older one. */
        STALE_REPORTS,
        /** A daemon is killed with SIGKILL and started again a second later. */
        DAEMON_KILL
    }

    private static final String APP = "web";
    private static final Pattern AUDIT_STATUS = Pattern.compile("^(\\S+) (\\S+)(?: .*)? seq (\\d+)(?: \\(.*\\))?$");
    private static final Set<String> FINAL = Set.of("SUCCEEDED", "ROLLED_BACK", "ABORTED", "FAILED", "SUPERSEDED");

    int devices = 300;
    int rollouts = 50;
    long seed = System.nanoTime();
    String broker = "embedded";
    int groups = 4;
    /** The faults to draw from (default: every kind); {@code --faults ORCHESTRATOR_KILL,BROKER_RESTART} repeats some. */
    List<Fault> faults = List.of(Fault.values());
    Path work = Path.of("target", "soak");
    Duration rolloutTimeout = Duration.ofMinutes(5);
    final PrintStream out;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final String run = "soak-" + UUID.randomUUID().toString().substring(0, 6);
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);

    private Path data;
    private long started;
    private double setupSeconds;
    private int httpPort;
    private int mqttPort;
    private Mosquitto mosquitto;
    private Process orchestrator;
    private int orchestratorStarts;
    private String token;
    private final List<Daemon> daemons = new ArrayList<>();
    private final List<FaultProxy> groupLinks = new ArrayList<>();
    private final List<SimulatedFleet> fleets = new ArrayList<>();

    ChaosSoak(PrintStream out) {
        this.out = out;
    }

    /** What the soak found; {@link #violations()} empty when every invariant held. */
    record Result(int devicesOnTwoOrNone, int devicesMisreported, long reportsSent, long reportsLost,
                  int rolloutsOffPolicy,
                  Map<String, Integer> rolloutsByState, Map<Fault, Integer> faults, long heapAfterFirst, long heapAfterLast,
                  List<Double> rolloutSeconds, List<String> violations) {
    }

    public static void main(String[] args) {
        ChaosSoak soak = new ChaosSoak(System.out);
        int code;
        try {
            soak.parse(args);
            code = soak.run().violations().isEmpty() ? 0 : 1;
        } catch (IllegalArgumentException e) {
            System.err.println("bench soak: " + e.getMessage());
            code = 2;
        } catch (Exception e) {
            System.err.println("bench soak: " + e);
            e.printStackTrace();
            code = 1;
        }
        System.exit(code);
    }

    void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(a + " needs a value");
            }
            String v = args[++i];
            try {
                switch (a) {
                    case "--devices" -> devices = Integer.parseInt(v);
                    case "--rollouts" -> rollouts = Integer.parseInt(v);
                    case "--seed" -> seed = Long.parseLong(v);
                    case "--broker" -> broker = v;
                    case "--groups" -> groups = Integer.parseInt(v);
                    case "--work" -> work = Path.of(v);
                    case "--faults" -> faults = faults(v);
                    default -> throw new IllegalArgumentException("unknown option " + a
                            + "; use --devices N --rollouts K --seed N --broker embedded|mosquitto --groups G --work DIR"
                            + " --faults KIND,... (" + java.util.Arrays.toString(Fault.values()) + ")");
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(a + " takes a whole number, not '" + v + "'");
            }
        }
        if (!broker.equals("embedded") && !broker.equals("mosquitto")) {
            throw new IllegalArgumentException("--broker is embedded or mosquitto, not " + broker);
        }
        if (devices < 10 || rollouts < 1 || groups < 1 || groups > devices) {
            throw new IllegalArgumentException("use at least 10 simulated devices, 1 rollout, and between 1 group and one per device");
        }
    }

    // ---- the run ----

    Result run() throws Exception {
        Requirements.dockerEngine(TestEngines.DEFAULT);
        Requirements.busybox();
        if (broker.equals("mosquitto")) {
            Requirements.mosquitto();
        }
        started = System.nanoTime();
        Files.createDirectories(work);
        Path dir = Files.createTempDirectory(work.toAbsolutePath(), run + "-");
        // Mosquitto started as root drops to its own user: it must reach its files
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        data = dir.resolve("server");
        SplittableRandom plan = new SplittableRandom(seed);
        out.printf(Locale.ROOT, "soak: seed %d (bin/bench soak --seed %d --devices %d --rollouts %d --broker %s repeats the plan);"
                        + " %d cores, load %s%n", seed, seed, devices, rollouts, broker, Runtime.getRuntime().availableProcessors(),
                loadAverage());
        try (Closer closer = new Closer()) {
            closer.add((AutoCloseable) this::stopAll);
            long setup = System.nanoTime();
            startBrokerAndOrchestrator(dir);
            String platform = images.enginePlatform();
            List<String> versions = releases(dir, platform);
            Set<String> failing = new HashSet<>();
            for (int k = 0; k < versions.size(); k++) {
                if (failingRelease(k)) {
                    failing.add(versions.get(k));
                }
            }
            startDaemons(dir);
            startSimulatedFleet(platform, failing);
            awaitOnline(Duration.ofMinutes(2));
            setupSeconds = (System.nanoTime() - setup) / 1e9;
            out.printf(Locale.ROOT, "set-up: orchestrator, %d releases, %d simulated devices in %d groups, 2 daemons: %.1f s%n",
                    versions.size(), devices, groups, setupSeconds);

            Map<Fault, Integer> injected = new EnumMap<>(Fault.class);
            Map<String, Integer> byState = new TreeMap<>();
            List<Double> seconds = new ArrayList<>();
            List<String> violations = new ArrayList<>();
            List<Fault> bag = new ArrayList<>();
            long heapFirst = 0;
            for (int k = 0; k < rollouts; k++) {
                if (bag.isEmpty()) {
                    bag.addAll(faults);
                    shuffle(bag, plan);
                }
                Fault fault = bag.remove(bag.size() - 1);
                long delayMs = plan.nextLong(3000);
                long faultDraw = plan.nextLong();
                String version = versions.get(k);
                long r0 = System.nanoTime();
                String id = deploy(version);
                FaultThread f = new FaultThread(fault, delayMs, new SplittableRandom(faultDraw));
                f.start();
                String state = awaitEnd(id, version);
                f.join(TimeUnit.MINUTES.toMillis(3));
                if (f.failure != null) {
                    throw new IllegalStateException("injecting " + fault + " failed", f.failure);
                }
                double s = (System.nanoTime() - r0) / 1e9;
                seconds.add(s);
                injected.merge(fault, 1, Integer::sum);
                byState.merge(state, 1, Integer::sum);
                String expected = failing.contains(version) ? "ROLLED_BACK" : "SUCCEEDED";
                if (!state.equals(expected)) {
                    violations.add("rollout " + (k + 1) + " (" + version + ", " + id + ") ended " + state + ", its policy says " + expected);
                }
                out.printf(Locale.ROOT, "rollout %d/%d %s: %s in %.1f s; fault %s at +%d ms%s%n", k + 1, rollouts, version, state, s,
                        fault, delayMs, f.detail == null ? "" : " (" + f.detail + ")");
                if (k == 0) {
                    heapFirst = liveHeap();
                }
            }
            long heapLast = liveHeap();
            healAll();
            Result result = check(injected, byState, seconds, violations, heapFirst, heapLast);
            report(result);
            return result;
        }
    }

    /** Every fifth release, from the third on, fails its health check (3, 8, 13, ...). */
    private static boolean failingRelease(int k) {
        return k % 5 == 2;
    }

    // ---- the parts ----

    private void startBrokerAndOrchestrator(Path dir) throws Exception {
        httpPort = Ports.free();
        List<String> args = new ArrayList<>(List.of("server", "--data", data.toString(), "--bind", "127.0.0.1",
                "--advertise-host", "127.0.0.1", "--http-port", Integer.toString(httpPort)));
        if (broker.equals("mosquitto")) {
            Path turnoutConf = dir.resolve("mosquitto-turnout");
            Path mosquittoDir = dir.resolve("mosquitto");
            mosquitto = Mosquitto.start(mosquittoDir, port -> {
                cli(null, "broker", "mosquitto-config", "--data", data.toString(), "--out", turnoutConf.toString(),
                        "--listener", port + " 127.0.0.1");
                return "user root\npersistence true\npersistence_location " + mosquittoDir + "/\nautosave_interval 1\n"
                        + "log_dest stdout\nlog_type error\nlog_type warning\nconnection_messages false\n"
                        + "include_dir " + turnoutConf + "\n";
            });
            mqttPort = mosquitto.port();
            args.addAll(List.of("--broker-url", mosquitto.url(), "--mosquitto-config", turnoutConf.toString(),
                    "--mosquitto-reload-command", "kill -HUP " + mosquitto.pid()));
        } else {
            do {
                mqttPort = Ports.free();
            } while (mqttPort == httpPort);
            args.addAll(List.of("--mqtt-port", Integer.toString(mqttPort)));
        }
        orchestratorArgs = args;
        startOrchestrator();
        token = Files.readString(data.resolve("operator.token")).strip();
    }

    private List<String> orchestratorArgs;

    private void startOrchestrator() throws Exception {
        orchestratorStarts++;
        Path log = data.getParent().resolve("orchestrator-" + orchestratorStarts + ".log");
        orchestrator = JavaProcesses.start(List.of("-Xmx512m", "-XX:+UseSerialGC"), TurnoutCli.class.getName(), orchestratorArgs, log);
        String health = base() + "/api/v1/health";
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (true) {
            if (!orchestrator.isAlive()) {
                throw new IllegalStateException("the orchestrator exited (" + orchestrator.exitValue() + "): " + JavaProcesses.tail(log));
            }
            try {
                if (http.send(HttpRequest.newBuilder(URI.create(health)).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    break;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the orchestrator did not answer within 3 min: " + JavaProcesses.tail(log));
            }
            Thread.sleep(200);
        }
        if (mosquitto == null) {
            Ports.awaitListening(orchestrator, mqttPort, Duration.ofMinutes(2), () -> JavaProcesses.tail(log));
        }
    }

    private List<String> releases(Path dir, String platform) throws Exception {
        Path spec = dir.resolve("web.yaml");
        Files.writeString(spec, TestImages.WEB_SPEC, StandardCharsets.UTF_8);
        // three archives, each used by every third release: the versions grow (devices refuse a downgrade)
        Map<String, Path> archives = new LinkedHashMap<>();
        for (String kind : List.of("a", "b", "bad")) {
            String ref = run + "/web:" + kind;
            archives.put(kind, images.build(ref, kind, !kind.equals("bad"), dir));
            images.remove(ref);
        }
        List<String> versions = new ArrayList<>();
        for (int k = 0; k < rollouts; k++) {
            String version = "1." + (k + 1) + ".0";
            Path archive = failingRelease(k) ? archives.get("bad") : archives.get(k % 2 == 0 ? "a" : "b");
            cli(base(), "release", "create", APP + ":" + version, "--image", platform + "=" + archive, "--spec", spec.toString());
            versions.add(version);
        }
        return versions;
    }

    /** A real daemon: its own JVM, its own data directory, its links to the broker and to the orchestrator's HTTP. */
    private final class Daemon {
        final String id;
        final Path config;
        final Path dataDir;
        final FaultProxy mqtt;
        final FaultProxy web;
        Process process;
        int starts;

        Daemon(String id, Path config, Path dataDir, FaultProxy mqtt, FaultProxy web) {
            this.id = id;
            this.config = config;
            this.dataDir = dataDir;
            this.mqtt = mqtt;
            this.web = web;
        }

        void start() throws IOException {
            starts++;
            process = JavaProcesses.start(List.of("-Xmx128m", "-XX:+UseSerialGC"), "dev.turnout.edge.app.EdgeMain",
                    List.of("--config", config.toString(), "--data", dataDir.toString()), dataDir.resolveSibling(id + "-" + starts + ".log"));
        }

        void kill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    private void startDaemons(Path dir) throws Exception {
        for (String suffix : List.of("a", "b")) {
            String id = run + "-" + suffix;
            JsonNode enrolled = post("/api/v1/devices", Map.of("id", id));
            String yaml = enrolled.path("config").asText();
            FaultProxy mqtt = FaultProxy.to("127.0.0.1", mqttPort);
            FaultProxy web = FaultProxy.to("127.0.0.1", httpPort);
            Path config = dir.resolve(id + ".yaml");
            Files.writeString(config, yaml.replace("tcp://127.0.0.1:" + mqttPort, mqtt.url("tcp"))
                    .replace("http://127.0.0.1:" + httpPort, web.url("http")), StandardCharsets.UTF_8);
            Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-------"));
            Daemon d = new Daemon(id, config, dir.resolve(id), mqtt, web);
            Files.createDirectories(d.dataDir);
            d.start();
            daemons.add(d);
        }
    }

    private void startSimulatedFleet(String platform, Set<String> failing) throws Exception {
        SimulationOptions base = SimulationOptions.defaults(devices).withIdPrefix("sim").withPlatform(platform)
                .withApplyTime(Duration.ofMillis(300)).withHealthInterval(Duration.ofDays(1)).withFailingVersions(failing);
        List<DeviceEnrollment> enrolled = SimulatedFleet.enroll(base(), token, base, Duration.ofMinutes(10), null);
        for (int g = 0; g < groups; g++) {
            List<DeviceEnrollment> members = new ArrayList<>();
            for (int i = g; i < enrolled.size(); i += groups) {
                members.add(enrolled.get(i));
            }
            FaultProxy link = FaultProxy.to("127.0.0.1", mqttPort);
            groupLinks.add(link);
            SimulationOptions o = base.withBrokerUrl(link.url("tcp"));
            o = new SimulationOptions(members.size(), o.idPrefix(), o.labels(), o.platform(), o.downloadTime(), o.applyTime(),
                    o.failingVersions(), o.failRate(), o.offlineRate(), o.flapInterval(), o.offlineTime(), o.healthInterval(),
                    o.brokerUrl(), seed * 31 + g);
            fleets.add(SimulatedFleet.start(members, o, Duration.ofMinutes(10)));
        }
    }

    private List<SimulatedDevice> simulated() {
        List<SimulatedDevice> all = new ArrayList<>();
        fleets.forEach(f -> all.addAll(f.devices()));
        return all;
    }

    private void awaitOnline(Duration atMost) throws Exception {
        long deadline = System.nanoTime() + atMost.toNanos();
        int online = 0;
        while (System.nanoTime() < deadline) {
            online = 0;
            for (JsonNode d : get("/api/v1/devices").path("devices")) {
                online += d.path("online").asBoolean() ? 1 : 0;
            }
            if (online == devices + daemons.size()) {
                return;
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException(online + " of " + (devices + daemons.size()) + " devices online after " + atMost.toSeconds() + " s");
    }

    // ---- a rollout ----

    private String deploy(String version) throws Exception {
        JsonNode created = post("/api/v1/rollouts", Map.of("app", APP, "version", version, "target", "all",
                "waves", "1,10%,100%", "onFailure", "rollback", "deviceTimeout", "3m"));
        return created.path("id").asText();
    }

    /** Polls the rollout until it ends (the orchestrator may be down meanwhile: a failed poll is tried again). */
    private String awaitEnd(String id, String version) throws Exception {
        long deadline = System.nanoTime() + rolloutTimeout.toNanos();
        String state = "?";
        while (System.nanoTime() < deadline) {
            try {
                state = get("/api/v1/rollouts/" + id).path("state").asText();
                if (FINAL.contains(state)) {
                    return state;
                }
            } catch (IOException | IllegalStateException down) {
                // the orchestrator restarts
            }
            Thread.sleep(250);
        }
        Map<String, Integer> sims = new TreeMap<>();
        for (SimulatedDevice d : simulated()) {
            sims.merge(d.state(APP) + (d.isConnected() ? "" : " offline") + " " + d.running(APP), 1, Integer::sum);
        }
        // who it waits for, and what each of those simulated devices says of itself (the 50-rollout soak of 2026-12-07 stopped
        // on one that reported nothing on three desired states while connected: this is what the next one prints)
        List<String> waitingFor = new ArrayList<>();
        try {
            Map<String, SimulatedDevice> byId = new HashMap<>();
            simulated().forEach(d -> byId.put(d.id(), d));
            for (JsonNode d : get("/api/v1/rollouts/" + id).path("devices")) {
                String s = d.path("state").asText();
                if (!Set.of("ACTIVE", "ROLLED_BACK", "FAILED", "SKIPPED").contains(s)) {
                    SimulatedDevice sim = byId.get(d.path("id").asText());
                    waitingFor.add(d.path("id").asText() + " " + s + (sim == null ? "" : " (simulated: "
                            + (sim.isConnected() ? "connected" : "offline") + ", " + sim.desiredReceivedCount() + " desired states received, "
                            + sim.state(APP) + " " + sim.running(APP) + "; " + sim.connectionReport(Duration.ofSeconds(5)) + ")"));
                }
            }
        } catch (Exception e) {
            waitingFor.add("(the rollout could not be read: " + e + ")");
        }
        throw new IllegalStateException("rollout " + id + " (" + version + ") still " + state + " after " + rolloutTimeout.toSeconds()
                + " s; simulated devices: " + sims + "; it waits for " + waitingFor + "; see the logs in " + data.getParent());
    }

    // ---- faults ----

    private final class FaultThread extends Thread {
        final Fault fault;
        final long delayMs;
        final SplittableRandom draw;
        volatile Throwable failure;
        volatile String detail;

        FaultThread(Fault fault, long delayMs, SplittableRandom draw) {
            super("soak-fault");
            this.fault = fault;
            this.delayMs = delayMs;
            this.draw = draw;
            setDaemon(true);
        }

        @Override
        public void run() {
            try {
                Thread.sleep(delayMs);
                detail = inject(fault, draw);
            } catch (Throwable t) {
                failure = t;
            }
        }
    }

    /** {@code --faults}: kinds separated by commas, e.g. {@code orchestrator-kill,BROKER_RESTART}. */
    private static List<Fault> faults(String v) {
        try {
            return java.util.Arrays.stream(v.split(",")).map(String::trim)
                    .map(f -> Fault.valueOf(f.toUpperCase(Locale.ROOT).replace('-', '_'))).toList();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--faults takes kinds from " + java.util.Arrays.toString(Fault.values()) + ", not '" + v + "'");
        }
    }

    private String inject(Fault fault, SplittableRandom draw) throws Exception {
        switch (fault) {
            case BROKER_RESTART -> {
                if (mosquitto != null) {
                    mosquitto.restart();
                    return "Mosquitto restarted";
                }
                stop(orchestrator);
                startOrchestrator();
                return "embedded broker: orchestrator stopped and started";
            }
            case ORCHESTRATOR_KILL -> {
                orchestrator.destroyForcibly();
                orchestrator.waitFor(30, TimeUnit.SECONDS);
                startOrchestrator();
                return "SIGKILL, restarted";
            }
            case PARTITION -> {
                long ms = 2000 + draw.nextLong(6000);
                int which = draw.nextInt(groups + daemons.size());
                List<FaultProxy> links = which < groups ? List.of(groupLinks.get(which))
                        : List.of(daemons.get(which - groups).mqtt, daemons.get(which - groups).web);
                links.forEach(FaultProxy::partition);
                Thread.sleep(ms); // the fault's length
                links.forEach(FaultProxy::pass);
                return (which < groups ? "simulated group " + (which + 1) : "daemon " + daemons.get(which - groups).id) + " for " + ms + " ms";
            }
            case STALE_REPORTS -> {
                List<SimulatedDevice> all = simulated();
                int replayed = 0;
                for (int i = 0; i < Math.max(1, all.size() / 10); i++) {
                    replayed += all.get(draw.nextInt(all.size())).replayReports(draw);
                }
                return replayed + " reports sent again by " + Math.max(1, all.size() / 10) + " simulated devices";
            }
            case DAEMON_KILL -> {
                Daemon d = daemons.get(draw.nextInt(daemons.size()));
                d.kill();
                Thread.sleep(1000);
                d.start();
                return d.id;
            }
            default -> throw new IllegalStateException("unknown fault " + fault);
        }
    }

    private void healAll() {
        groupLinks.forEach(FaultProxy::pass);
        daemons.forEach(d -> {
            d.mqtt.pass();
            d.web.pass();
        });
    }

    // ---- the invariants ----

    private Result check(Map<Fault, Integer> faults, Map<String, Integer> byState, List<Double> seconds, List<String> violations,
                         long heapFirst, long heapLast) throws Exception {
        // every device's own truth: what runs
        Map<String, String> truth = new TreeMap<>();
        int twoOrNone = 0;
        for (SimulatedDevice d : simulated()) {
            String running = d.running(APP);
            if (running.isEmpty()) {
                twoOrNone++;
                violations.add(d.id() + " runs no version of " + APP);
            }
            truth.put(d.id(), running);
        }
        // the orchestrator's view agrees, once every device is back and has said so. A daemon killed by the last fault may
        // still be coming back and finishing that rollout "late" (the rollout ends SUCCEEDED with it offline, pending): what
        // its engine runs is read again each time round, not once before it is done (a stale read was the "orchestrator says
        // 1.15.0 ACTIVE, runs 1.14.0" of the 15-rollout soak on 2026-12-07: the daemon switched 10 s after the read)
        Map<String, String> wrong = new TreeMap<>();
        Map<String, String> daemonFaults = new TreeMap<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        do {
            wrong.clear();
            daemonFaults.clear();
            for (Daemon d : daemons) {
                List<Containers.Container> running = containers.running(d.id);
                if (running.size() != 1) {
                    daemonFaults.put(d.id, "runs " + running.size() + " containers of " + APP + ": "
                            + running.stream().map(Containers.Container::version).toList());
                }
                truth.put(d.id, running.size() == 1 ? running.get(0).version() : running.toString());
            }
            for (JsonNode d : get("/api/v1/devices").path("devices")) {
                String id = d.path("id").asText();
                String seen = "";
                for (JsonNode a : d.path("apps")) {
                    if (a.path("app").asText().equals(APP)) {
                        seen = a.path("runningVersion").asText("") + " " + a.path("state").asText();
                    }
                }
                String actual = truth.get(id);
                if (actual != null && !(actual + " ACTIVE").equals(seen) && !(seen.startsWith(actual + " ") && seen.endsWith("ROLLED_BACK"))) {
                    wrong.put(id, "orchestrator says '" + seen + "', runs " + actual);
                }
            }
            if (!wrong.isEmpty() || !daemonFaults.isEmpty()) {
                Thread.sleep(1000);
            }
        } while ((!wrong.isEmpty() || !daemonFaults.isEmpty()) && System.nanoTime() < deadline);
        twoOrNone += daemonFaults.size();
        daemonFaults.forEach((id, what) -> violations.add(id + " " + what));
        wrong.forEach((id, what) -> violations.add(id + ": " + what));

        // no report lost: every status the broker acknowledged from a simulated device is in its audit trail
        long sent = 0;
        long lost = 0;
        for (SimulatedDevice d : simulated()) {
            Map<String, Long> keys = new LinkedHashMap<>();
            for (SimulatedDevice.AcknowledgedReport a : d.acknowledgedReports()) {
                StatusEvent e = a.event();
                keys.merge(e.getApp() + ":" + e.getVersion() + " " + e.getState().name() + " " + e.getSequence(), a.atNanos(), Math::max);
            }
            sent += keys.size();
            JsonNode entries = get("/api/v1/audit?subject=" + d.id()).path("entries");
            Set<String> recorded = new HashSet<>();
            for (JsonNode entry : entries) {
                // a report that came after a newer one is recorded as late (device.status.late): it is not lost
                if (Set.of("device.status", "device.status.late").contains(entry.path("action").asText())) {
                    Matcher m = AUDIT_STATUS.matcher(entry.path("detail").asText());
                    if (m.matches()) {
                        recorded.add(m.group(1) + " " + m.group(2) + " " + m.group(3));
                    }
                }
            }
            if (entries.size() >= 500) {
                violations.add(d.id() + ": its audit trail is longer than the API's 500 entries; the check of lost reports is incomplete");
            }
            for (Map.Entry<String, Long> k : keys.entrySet()) {
                String key = k.getKey();
                if (recorded.contains(key)) {
                    continue;
                }
                lost++;
                if (lost <= 10) {
                    violations.add(d.id() + ": report '" + key + "' acknowledged by the broker is not in the audit trail");
                }
            }
        }
        if (lost > 10) {
            violations.add((lost - 10) + " more reports lost");
        }
        int offPolicy = (int) violations.stream().filter(v -> v.startsWith("rollout ")).count();
        return new Result(twoOrNone, wrong.size(), sent, lost, offPolicy, byState, faults, heapFirst, heapLast, seconds,
                violations);
    }

    private void report(Result r) {
        List<Double> sorted = new ArrayList<>(r.rolloutSeconds());
        Collections.sort(sorted);
        out.println();
        out.printf(Locale.ROOT, "== chaos soak: %d simulated devices + 2 daemons, %d rollouts, broker %s, seed %d ==%n", devices,
                rollouts, broker, seed);
        out.printf(Locale.ROOT, "devices on two versions or none           : %d (must be 0)%n", r.devicesOnTwoOrNone());
        out.printf(Locale.ROOT, "devices the orchestrator reports wrongly  : %d (must be 0)%n", r.devicesMisreported());
        out.printf(Locale.ROOT, "reports lost (acknowledged vs audited)    : %d of %d (must be 0)%n", r.reportsLost(), r.reportsSent());
        out.printf(Locale.ROOT, "rollouts per final state                  : %s; not as their policy says: %d (must be 0)%n",
                r.rolloutsByState(), r.rolloutsOffPolicy());
        out.printf(Locale.ROOT, "orchestrator live heap after a full GC    : %,d KiB after rollout 1, %,d KiB after rollout %d (ratio %.2f)%n",
                r.heapAfterFirst() >> 10, r.heapAfterLast() >> 10, rollouts, r.heapAfterLast() / (double) Math.max(1, r.heapAfterFirst()));
        out.printf(Locale.ROOT, "time per rollout (deploy -> final state)  : mean %.1f s, p50 %.1f s, max %.1f s%n",
                sorted.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN), sorted.get((sorted.size() - 1) / 2),
                sorted.get(sorted.size() - 1));
        out.printf(Locale.ROOT, "faults injected                           : %s (orchestrator processes: %d)%n", r.faults(), orchestratorStarts);
        out.printf(Locale.ROOT, "seed                                      : %d%n", seed);
        out.printf(Locale.ROOT, "whole soak                                : %.0f s (set-up %.0f s)%n", (System.nanoTime() - started) / 1e9,
                setupSeconds);
        out.printf(Locale.ROOT, "load average at the end                   : %s%n", loadAverage());
        if (r.violations().isEmpty()) {
            out.println("every invariant held");
        } else {
            out.println("INVARIANTS BROKEN:");
            r.violations().forEach(v -> out.println("  " + v));
        }
    }

    // ---- helpers ----

    private String base() {
        return "http://127.0.0.1:" + httpPort;
    }

    private JsonNode get(String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + token).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IllegalStateException("GET " + path + " answered " + r.statusCode() + ": " + r.body());
        }
        return json.readTree(r.body());
    }

    private JsonNode post(String path, Object body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() >= 300) {
            throw new IllegalStateException("POST " + path + " answered " + r.statusCode() + ": " + r.body());
        }
        return json.readTree(r.body());
    }

    /** The operator's CLI in this JVM, on the server's host (it reads the token from the data directory). */
    private void cli(String server, String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        if (server != null) {
            full.addAll(List.of("--server", server));
        }
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8),
                Map.of("TURNOUT_DATA", data.toString()), full.toArray(String[]::new));
        if (code != 0) {
            throw new IllegalStateException("turnout " + String.join(" ", args) + " exited " + code + ": " + e.toString(StandardCharsets.UTF_8));
        }
    }

    /** Live heap of the orchestrator: {@code jcmd PID GC.class_histogram} runs a full GC first and totals what is left. */
    private long liveHeap() throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(orchestrator.pid()), "GC.class_histogram").redirectErrorStream(true)
                .start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(60, TimeUnit.SECONDS);
        Matcher m = Pattern.compile("(?m)^Total\\s+(\\d+)\\s+(\\d+)\\s*$").matcher(text);
        if (!m.find()) {
            throw new IOException("jcmd GC.class_histogram gave no total: " + text.lines().limit(5).toList());
        }
        return Long.parseLong(m.group(2));
    }

    private static void stop(Process p) throws InterruptedException {
        if (p == null) {
            return;
        }
        p.destroy();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private void stopAll() throws Exception {
        for (SimulatedFleet f : fleets) {
            f.close();
        }
        for (Daemon d : daemons) {
            stop(d.process);
            containers.removeAll(d.id);
            d.mqtt.close();
            d.web.close();
        }
        groupLinks.forEach(FaultProxy::close);
        stop(orchestrator);
        if (mosquitto != null) {
            mosquitto.close();
        }
        for (String kind : List.of("a", "b", "bad")) {
            images.remove(run + "/web:" + kind);
        }
    }

    private static void shuffle(List<Fault> bag, SplittableRandom draw) {
        for (int i = bag.size() - 1; i > 0; i--) {
            Collections.swap(bag, i, draw.nextInt(i + 1));
        }
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "?";
        }
    }
}
