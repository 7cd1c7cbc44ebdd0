package dev.turnout.orchestrator.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Prints how many simulated devices connect to an orchestrator with its embedded broker in this one
 * JVM, how long a staged rollout ({@code 1%,10%,100%}) takes to reach all of them, and the heap and
 * threads the fleet costs. A benchmark, not a test:
 *
 * <pre>
 * java -Xmx2g -cp orchestrator/target/turnout.jar dev.turnout.orchestrator.sim.FleetBenchmark [DEVICES] [APPLY_MS] [connect-only] [tls|tls-compare]
 * </pre>
 *
 * {@code connect-only} stops after connecting (the rollout of a large fleet is bound by the orchestrator).
 * {@code tls} runs the server with {@code --tls} (HTTPS, MQTT over TLS; devices pin the CA from their
 * enrollment); {@code tls-compare} connects the fleet once in plain text and once over TLS, in this
 * run, and prints the ratio.
 */
public final class FleetBenchmark {

    private FleetBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        try {
            run(args);
        } finally {
            System.exit(0); // the broker's and the MQTT client's threads would keep the JVM alive
        }
    }

    private static void run(String[] args) throws Exception {
        int devices = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        long applyMs = args.length > 1 ? Long.parseLong(args[1]) : 200;
        List<String> flags = List.of(args).subList(Math.min(2, args.length), args.length);
        boolean runRollout = !flags.contains("connect-only");
        boolean tls = flags.contains("tls");
        silenceLogs();
        if (flags.contains("tls-compare")) {
            compareTls(devices, applyMs);
            return;
        }
        Path data = Files.createTempDirectory("turnout-bench");
        ObjectMapper json = new ObjectMapper();
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        System.out.printf("machine: %d cores, max heap %d MiB, Java %s%n", Runtime.getRuntime().availableProcessors(),
                Runtime.getRuntime().maxMemory() >> 20, System.getProperty("java.version"));
        try (TurnoutServer server = TurnoutServer.start(options(data, tls))) {
            String token = server.operatorToken();
            javax.net.ssl.SSLContext ssl = tls ? dev.turnout.proto.tls.PinnedTrust.fromFile(server.caFile()).sslContext("orchestrator") : null;
            HttpClient http = ssl != null ? HttpClient.newBuilder().sslContext(ssl).build() : HttpClient.newHttpClient();
            System.out.printf("transport: %s%n", tls ? "TLS (MQTT over TLS, HTTPS)" : "plain text");
            long heapBefore = usedHeapAfterGc(memory);
            int threadsBefore = Thread.activeCount();
            long t0 = System.nanoTime();
            try (SimulatedFleet fleet = SimulatedFleet.start(server.url(), token, SimulationOptions.defaults(devices)
                    .withApplyTime(Duration.ofMillis(applyMs)).withHealthInterval(Duration.ofSeconds(60)), Duration.ofMinutes(10), ssl)) {
                double connectSeconds = (System.nanoTime() - t0) / 1e9;
                long heapAfter = usedHeapAfterGc(memory);
                int threadsAfter = Thread.activeCount();
                System.out.printf("devices enrolled and connected: %d of %d in %.1f s (%.0f devices/s)%n", fleet.connectedCount(), devices,
                        connectSeconds, devices / connectSeconds);
                System.out.printf("heap: %d MiB before, %d MiB with the fleet: %.1f KiB per device "
                                + "(simulated device + its broker session + orchestrator records, one JVM)%n",
                        heapBefore >> 20, heapAfter >> 20, (heapAfter - heapBefore) / 1024.0 / devices);
                System.out.printf("threads: %d before, %d with the fleet%n", threadsBefore, threadsAfter);
                if (!runRollout) {
                    return;
                }

                byte[] archive = SimulatedImageArchive.of("bench/web:1.0.0");
                HttpResponse<String> up = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/artifacts")).header("Authorization", "Bearer " + token)
                        .POST(HttpRequest.BodyPublishers.ofByteArray(archive)).build(), HttpResponse.BodyHandlers.ofString());
                String digest = json.readTree(up.body()).path("digest").asText();
                post(http, json, token, server.url() + "/api/v1/releases", Map.of("app", "web", "version", "1.0.0",
                        "images", List.of(Map.of("platform", "linux/arm64", "digest", digest)),
                        "spec", Map.of("container", Map.of("command", List.of("/bin/true")))));
                long r0 = System.nanoTime();
                JsonNode rollout = post(http, json, token, server.url() + "/api/v1/rollouts", Map.of("app", "web", "version", "1.0.0",
                        "target", "all", "waves", "1%,10%,100%", "deviceTimeout", "10m"));
                String id = rollout.path("id").asText();
                String state = "";
                String lastLine = "";
                long lastChange = System.nanoTime();
                while (!state.equals("SUCCEEDED") && !rollout.path("terminal").asBoolean()) {
                    Thread.sleep(500);
                    rollout = json.readTree(http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/rollouts/" + id)).header("Authorization", "Bearer " + token).build(),
                            HttpResponse.BodyHandlers.ofString()).body());
                    state = rollout.path("state").asText();
                    StringBuilder line = new StringBuilder(state);
                    for (JsonNode w : rollout.path("waves")) {
                        line.append(" | w").append(w.path("number").asInt()).append(' ').append(w.path("state").asText())
                                .append(" active ").append(w.path("counts").path("active").asInt()).append('/')
                                .append(w.path("devices").size());
                    }
                    if (!line.toString().equals(lastLine)) {
                        System.out.printf("  %6.1f s  %s%n", (System.nanoTime() - r0) / 1e9, line);
                        lastLine = line.toString();
                        lastChange = System.nanoTime();
                    } else if (System.nanoTime() - lastChange > 30_000_000_000L) {
                        Map<String, Integer> simulated = new java.util.TreeMap<>();
                        for (SimulatedDevice d : fleet.devices()) {
                            simulated.merge(d.state("web") + " running " + d.running("web") + (d.isConnected() ? "" : " offline"), 1,
                                    Integer::sum);
                        }
                        Map<String, Integer> orchestrator = new java.util.TreeMap<>();
                        for (JsonNode d : rollout.path("devices")) {
                            orchestrator.merge(d.path("state").asText(), 1, Integer::sum);
                        }
                        System.out.printf("no progress for 30 s: simulated devices %s; the rollout sees %s%n", simulated, orchestrator);
                        System.out.printf("  simulated devices published %d message(s), %d failed%n",
                                fleet.devices().stream().mapToLong(SimulatedDevice::publishedCount).sum(),
                                fleet.devices().stream().mapToLong(SimulatedDevice::publishFailureCount).sum());
                        String metrics = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/metrics")).header("Authorization", "Bearer " + token).build(),
                                HttpResponse.BodyHandlers.ofString()).body();
                        metrics.lines().filter(l -> l.startsWith("turnout_status_events") && l.contains("ACTIVE"))
                                .forEach(l -> System.out.println("  orchestrator received: " + l));
                        break;
                    }
                }
                System.out.printf("rollout 1%%,10%%,100%% to %d devices (%d ms to activate each): %s in %.1f s; %d devices run 1.0.0%n",
                        devices, applyMs, state, (System.nanoTime() - r0) / 1e9, fleet.runningCount("web", "1.0.0"));
            }
        } finally {
            try (Stream<Path> files = Files.walk(data)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static ServerOptions options(Path data, boolean tls) {
        ServerOptions plain = new ServerOptions(data, 0, 0, "127.0.0.1", null, "127.0.0.1", Topics.DEFAULT_PREFIX);
        return tls ? plain.withTls(dev.turnout.orchestrator.app.TlsOptions.generated()) : plain;
    }

    /** Connects the fleet in plain text, then over TLS, each to a fresh orchestrator; prints both and the ratio. */
    private static void compareTls(int devices, long applyMs) throws Exception {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        double[][] figures = new double[2][];
        for (int i = 0; i < 2; i++) {
            boolean tls = i == 1;
            Path data = Files.createTempDirectory("turnout-bench");
            try (TurnoutServer server = TurnoutServer.start(options(data, tls))) {
                javax.net.ssl.SSLContext ssl = tls ? dev.turnout.proto.tls.PinnedTrust.fromFile(server.caFile()).sslContext("orchestrator") : null;
                long heapBefore = usedHeapAfterGc(memory);
                long t0 = System.nanoTime();
                try (SimulatedFleet fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(devices)
                        .withApplyTime(Duration.ofMillis(applyMs)).withHealthInterval(Duration.ofSeconds(60)), Duration.ofMinutes(10), ssl)) {
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    double kib = (usedHeapAfterGc(memory) - heapBefore) / 1024.0 / devices;
                    figures[i] = new double[] {devices / seconds, kib};
                    System.out.printf("%-10s %d of %d devices enrolled and connected in %.1f s (%.0f devices/s); heap %.1f KiB per device%n",
                            tls ? "TLS:" : "plain:", fleet.connectedCount(), devices, seconds, devices / seconds, kib);
                }
            } finally {
                try (Stream<Path> files = Files.walk(data)) {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
        System.out.printf("TLS / plain: connect rate x%.2f, heap per device x%.2f%n", figures[1][0] / figures[0][0], figures[1][1] / figures[0][1]);
    }

    private static JsonNode post(HttpClient http, ObjectMapper json, String token, String url, Object body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() >= 300) {
            throw new IllegalStateException(url + " answered " + r.statusCode() + ": " + r.body());
        }
        return json.readTree(r.body());
    }

    private static long usedHeapAfterGc(MemoryMXBean memory) throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        return memory.getHeapMemoryUsage().getUsed();
    }

    private static void silenceLogs() {
        if (org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME) instanceof ch.qos.logback.classic.Logger root) {
            root.setLevel(ch.qos.logback.classic.Level.WARN);
        }
    }
}
