package dev.turnout.orchestrator.cli;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulatedImageArchive;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/**
 * {@code turnout demo}: an orchestrator on 127.0.0.1 with its embedded broker, a simulated fleet and,
 * when a Docker engine answers, two real edge daemons; then a three-release story: v1 everywhere, v2
 * through a canary and 25 %, v3 failing its health check on the canary and rolled back by itself.
 */
@Command(name = "demo", description = {"See Turnout in one minute: an orchestrator on 127.0.0.1, N simulated devices (and two real "
        + "ones when a Docker engine answers), and a story: web 1.0.0 to all, 2.0.0 canary -> 25%% -> 100%%, 3.0.0 failing its "
        + "health check on the canary and rolled back automatically. Open the dashboard URL it prints first."})
final class DemoCommand implements Callable<Integer> {

    static final String APP = "web";
    private static final Logger LOG = LoggerFactory.getLogger(DemoCommand.class);
    private static final String SIM_PLATFORM = "linux/arm64";
    private static final String SPEC = """
            container:
              command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
              env: {MODE: production}
              network: none
              restart: unless-stopped
            health:
              exec: ["/bin/wget", "-q", "-O", "-", "http://127.0.0.1:8080/health"]
              interval: 1s
              timeout: 2s
              retries: 3
              soak: 5s
            """;

    private final Cli cli;

    @Option(names = "--devices", defaultValue = "20", paramLabel = "N", description = "Simulated devices (default: ${DEFAULT-VALUE}).")
    int devices;

    @Option(names = "--exit", description = "End after the story; exit 0 only if every step played out as expected.")
    boolean exitAfterStory;

    @Option(names = "--http-port", defaultValue = "8080", paramLabel = "PORT", description = "Dashboard and API port (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--mqtt-port", defaultValue = "1883", paramLabel = "PORT", description = "Embedded broker port (default: ${DEFAULT-VALUE}).")
    int mqttPort;

    @Option(names = "--data", paramLabel = "DIR", description = "Keep the demo's store, keys and logs here (default: a temporary directory, removed at the end).")
    Path data;

    @Option(names = "--no-real-devices", description = "Only simulated devices, even when a Docker engine answers.")
    boolean noRealDevices;

    @Option(names = "--apply-time", defaultValue = "2s", paramLabel = "DURATION",
            description = "How long a simulated device takes to activate a release (default: ${DEFAULT-VALUE}).")
    String applyTime;

    @Option(names = "--pause", paramLabel = "DURATION", description = "Pause between the story's steps (default: 5s, 0s with --exit).")
    String pause;

    private final AtomicBoolean closed = new AtomicBoolean();
    private TurnoutServer server;
    private SimulatedFleet fleet;
    private DemoEdgeDevices edge;
    private Path dataDir;
    private boolean temporaryData;

    DemoCommand(Cli cli) {
        this.cli = cli;
    }

    /** A step of the story that did not play out as expected. */
    private static final class StoryFailure extends Exception {
        StoryFailure(String message) {
            super(message);
        }
    }

    @Override
    public Integer call() throws Exception {
        if (devices < 1 || devices > 10_000) {
            throw new CliException(ExitCodes.USAGE, "--devices must be between 1 and 10000");
        }
        Duration apply = duration("--apply-time", applyTime);
        Duration between = pause == null ? (exitAfterStory ? Duration.ZERO : Duration.ofSeconds(5)) : duration("--pause", pause);
        Level before = quietLogs();
        Thread hook = new Thread(this::close, "turnout-demo-shutdown");
        CountDownLatch interrupted = new CountDownLatch(1);
        Thread waitingHook = new Thread(() -> {
            close();
            interrupted.countDown();
        }, "turnout-demo-shutdown");
        Runtime.getRuntime().addShutdownHook(exitAfterStory ? hook : waitingHook);
        try {
            start();
            int code;
            try {
                story(apply, between);
                cli.out.println();
                cli.out.println("Every step played out as expected.");
                code = ExitCodes.OK;
            } catch (StoryFailure e) {
                cli.err.println("turnout: the demo did not play out as expected: " + e.getMessage());
                if (temporaryData) {
                    temporaryData = false; // keep the store and the daemons' logs for a look
                    cli.err.println("turnout: the demo's store and logs stay in " + dataDir);
                }
                code = ExitCodes.ERROR;
            }
            if (exitAfterStory) {
                return code;
            }
            cli.out.printf("The demo keeps running: open %s/ , pause or roll back from the dashboard, or try%n", server.url());
            cli.out.printf("  turnout --server %s devices%n", server.url());
            cli.out.printf("  turnout --server %s watch%n", server.url());
            cli.out.println("Ctrl-C stops it.");
            cli.out.flush();
            interrupted.await();
            return code;
        } finally {
            close();
            try {
                Runtime.getRuntime().removeShutdownHook(exitAfterStory ? hook : waitingHook);
            } catch (IllegalStateException e) {
                // shutting down already
            }
            restoreLogs(before);
        }
    }

    private void start() throws Exception {
        temporaryData = data == null;
        dataDir = temporaryData ? Files.createTempDirectory("turnout-demo") : Files.createDirectories(data);
        try {
            server = TurnoutServer.start(new ServerOptions(dataDir.resolve("orchestrator"), httpPort, mqttPort, "127.0.0.1", null,
                    "127.0.0.1", Topics.DEFAULT_PREFIX));
        } catch (Exception e) {
            if (ServerCommand.rootCause(e) instanceof java.net.BindException) {
                throw new CliException("cannot start the demo: " + ServerCommand.rootMessage(e)
                        + "; choose free ports with --http-port and --mqtt-port");
            }
            throw new CliException("cannot start the demo: " + ServerCommand.rootMessage(e));
        }
        cli.root.server = server.url();
        cli.useToken(server.operatorToken(), server.operatorTokenFile().toString());
        cli.out.printf("Turnout demo: open the dashboard at %s/%n", server.url());
        cli.out.printf("  (API %s, MQTT broker %s, listening on 127.0.0.1 only)%n", server.url(), server.brokerUrl());
        cli.out.printf("  sign in with the operator token: cat %s%n", server.operatorTokenFile());
        cli.out.flush();
    }

    private void story(Duration apply, Duration between) throws Exception {
        ApiClient api = cli.api();
        Path images = Files.createDirectories(dataDir.resolve("images"));
        Path spec = images.resolve("web.yaml");
        Files.writeString(spec, SPEC, StandardCharsets.UTF_8);

        // real devices first: their daemons take a while to start
        List<String> realIds = new ArrayList<>();
        String realPlatform = null;
        if (noRealDevices) {
            cli.out.println("Real devices: skipped (--no-real-devices).");
        } else {
            Optional<DemoEdgeDevices> checkout = DemoEdgeDevices.fromCheckout();
            if (checkout.isEmpty()) {
                cli.out.println("Real devices: skipped (bin/turnout-edge is not next to this turnout).");
            } else if (!DemoEdgeDevices.dockerAnswers()) {
                cli.out.println("Real devices: skipped (no Docker engine answers; `docker info` fails).");
            } else {
                edge = checkout.get();
                cli.out.println("Real devices: building the demo images (bin/demo-images) ...");
                cli.out.flush();
                realPlatform = edge.buildImages(images, dataDir.resolve("demo-images.log"));
                for (int i = 1; i <= 2; i++) {
                    String id = "demo-pi-" + i;
                    JsonNode enrolled = api.post("/api/v1/devices", Map.of("id", id, "labels", Map.of("site", "demo", "simulated", "false")));
                    Path config = dataDir.resolve("edge").resolve(id + ".yaml");
                    Files.createDirectories(config.getParent());
                    Files.writeString(config, enrolled.path("config").asText(), StandardCharsets.UTF_8);
                    Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-------"));
                    edge.start(id, config, dataDir.resolve("edge").resolve(id));
                    realIds.add(id);
                }
                cli.out.printf("Real devices: %s, edge daemons on this machine's Docker engine (%s; logs in %s)%n",
                        String.join(", ", realIds), realPlatform, dataDir.resolve("edge"));
            }
        }
        String simPlatform = realPlatform != null ? realPlatform : SIM_PLATFORM;
        cli.out.printf("Simulated devices: enrolling and connecting %d (sim-0001 ... ; in-memory containers, %s to activate, "
                + "3.0.0 fails its health check) ...%n", devices, Durations.format(apply));
        cli.out.flush();
        fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(devices).withLabels(Map.of("site", "demo"))
                .withPlatform(simPlatform).withApplyTime(apply).withFailingVersions(Set.of("3.0.0")), Duration.ofMinutes(2));

        int total = devices + realIds.size();
        step(1, "waiting for all %d devices to come online", total);
        awaitOnline(api, total, realIds.isEmpty() ? Duration.ofSeconds(60) : Duration.ofMinutes(4));
        cli.out.printf("    %d devices online%n", total);

        for (String version : List.of("1.0.0", "2.0.0", "3.0.0")) {
            List<Map<String, String>> releaseImages = new ArrayList<>();
            if (realPlatform != null) {
                JsonNode artifact = api.upload("/api/v1/artifacts", images.resolve("web-" + version + ".tar"));
                edge.loadsImage(artifact.path("imageId").asText()); // its id on a classic image store
                edge.loadsImage(artifact.path("manifestDigest").asText()); // and on a containerd store
                releaseImages.add(Map.of("platform", realPlatform, "digest", artifact.path("digest").asText()));
            }
            if (!simPlatform.equals(realPlatform)) {
                Path tiny = images.resolve("web-" + version + "-simulated.tar");
                Files.write(tiny, SimulatedImageArchive.of("turnout-sim/web:" + version, simPlatform));
                JsonNode artifact = api.upload("/api/v1/artifacts", tiny);
                releaseImages.add(Map.of("platform", simPlatform, "digest", artifact.path("digest").asText()));
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("app", APP);
            body.put("version", version);
            body.put("images", releaseImages);
            body.put("spec", ReleaseCommand.readSpec(spec));
            api.post("/api/v1/releases", body);
        }
        cli.out.println("    releases web 1.0.0, 2.0.0 (healthy) and 3.0.0 (fails its health check) created");
        pause(between);

        step(2, "web 1.0.0 to every device, in one wave");
        JsonNode v1 = deploy(api, "1.0.0", "100%");
        expect("SUCCEEDED".equals(v1.path("state").asText()), "rollout of 1.0.0 ended " + v1.path("state").asText());
        awaitRunning(api, "1.0.0", total);
        cli.out.printf("    %d devices run web 1.0.0%n", total);
        pause(between);

        step(3, "web 2.0.0: a canary, then 25%%, then everyone");
        JsonNode v2 = deploy(api, "2.0.0", "1,25%,100%");
        expect("SUCCEEDED".equals(v2.path("state").asText()), "rollout of 2.0.0 ended " + v2.path("state").asText());
        expect(v2.path("waves").path(0).path("devices").size() == 1, "rollout of 2.0.0 did not start with a canary of one device");
        expect(total < 2 || v2.path("waves").size() >= 2, "rollout of 2.0.0 went in one wave");
        awaitRunning(api, "2.0.0", total);
        cli.out.printf("    %d devices run web 2.0.0%n", total);
        pause(between);

        step(4, "web 3.0.0 fails its health check on the canary: the canary rolls back by itself, the rollout rolls back");
        JsonNode v3 = deploy(api, "3.0.0", "1,25%,100%");
        expect("ROLLED_BACK".equals(v3.path("state").asText()), "rollout of 3.0.0 ended " + v3.path("state").asText()
                + " instead of ROLLED_BACK");
        List<String> failed = new ArrayList<>();
        for (JsonNode d : v3.path("devices")) {
            String s = d.path("state").asText();
            if (s.equals("ROLLED_BACK") || s.equals("FAILED") || s.equals("ROLLING_BACK")) {
                failed.add(d.path("id").asText());
            }
        }
        expect(failed.size() == 1, "expected the canary alone to fail 3.0.0, but these did: " + failed);
        awaitRunning(api, "2.0.0", total);
        cli.out.printf("    canary %s rolled back; %d devices still run web 2.0.0 (reason: %s)%n", failed.get(0), total,
                v3.path("reason").asText(""));
    }

    private JsonNode deploy(ApiClient api, String version, String waves) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("app", APP);
        body.put("version", version);
        body.put("target", "all");
        body.put("waves", waves);
        body.put("onFailure", "rollback");
        body.put("deviceTimeout", "3m");
        JsonNode rollout = api.post("/api/v1/rollouts", body);
        String id = rollout.path("id").asText();
        cli.out.printf("    rollout %s (waves %s; follow it: turnout --server %s rollout watch %s)%n", id, waves, server.url(), id);
        RolloutWatcher watcher = new RolloutWatcher(cli, RolloutWatcher.Mode.SUMMARY);
        watcher.follow(id);
        return watcher.last();
    }

    private void awaitOnline(ApiClient api, int total, Duration timeout) throws StoryFailure, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long online = 0;
        while (System.nanoTime() < deadline) {
            online = 0;
            for (JsonNode d : api.get("/api/v1/devices").path("devices")) {
                online += d.path("online").asBoolean() ? 1 : 0;
            }
            if (online >= total) {
                return;
            }
            Thread.sleep(250);
        }
        throw new StoryFailure("only " + online + " of " + total + " devices came online within " + timeout.toSeconds() + " s"
                + (edge != null ? " (edge daemon logs: " + dataDir.resolve("edge") + ")" : ""));
    }

    /** Waits until the fleet view shows {@code version} running on every device. */
    private void awaitRunning(ApiClient api, String version, int total) throws StoryFailure, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        Map<String, String> running = new TreeMap<>();
        while (System.nanoTime() < deadline) {
            running.clear();
            for (JsonNode d : api.get("/api/v1/devices").path("devices")) {
                String v = "";
                for (JsonNode a : d.path("apps")) {
                    if (APP.equals(a.path("app").asText())) {
                        v = a.path("runningVersion").asText("");
                    }
                }
                running.put(d.path("id").asText(), v);
            }
            if (running.size() == total && running.values().stream().allMatch(version::equals)) {
                return;
            }
            Thread.sleep(250);
        }
        Map<String, String> others = new TreeMap<>(running);
        others.values().removeIf(version::equals);
        throw new StoryFailure("not every device runs " + version + ": " + others);
    }

    private void step(int n, String what, Object... args) {
        cli.out.println();
        cli.out.printf("[%d/4] " + what + "%n", prepend(n, args));
        cli.out.flush();
    }

    private static Object[] prepend(int n, Object[] args) {
        Object[] all = new Object[args.length + 1];
        all[0] = n;
        System.arraycopy(args, 0, all, 1, args.length);
        return all;
    }

    private static void expect(boolean condition, String otherwise) throws StoryFailure {
        if (!condition) {
            throw new StoryFailure(otherwise);
        }
    }

    private static void pause(Duration d) throws InterruptedException {
        if (!d.isZero()) {
            Thread.sleep(d.toMillis());
        }
    }

    private static Duration duration(String option, String text) {
        try {
            return Durations.parse(text, option);
        } catch (RuntimeException e) {
            throw new CliException(ExitCodes.USAGE, option + ": " + e.getMessage());
        }
    }

    /** The demo prints the story; the orchestrator's INFO lines would bury it. */
    static Level quietLogs() {
        org.slf4j.Logger root = LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        if (root instanceof ch.qos.logback.classic.Logger logback) {
            Level before = logback.getLevel();
            logback.setLevel(Level.WARN);
            return before;
        }
        return null;
    }

    static void restoreLogs(Level before) {
        if (before != null && LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME) instanceof ch.qos.logback.classic.Logger logback) {
            logback.setLevel(before);
        }
    }

    private void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (fleet != null) {
            fleet.close();
        }
        if (edge != null) {
            edge.close();
        }
        if (server != null) {
            server.close();
        }
        if (temporaryData && dataDir != null) {
            try (Stream<Path> files = Files.walk(dataDir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                LOG.warn("cannot remove {}: {}", dataDir, e.toString());
            }
        }
    }
}
