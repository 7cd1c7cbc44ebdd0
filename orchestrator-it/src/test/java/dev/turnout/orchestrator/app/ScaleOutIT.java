package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.testsupport.Closer;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.orchestrator.store.PostgresProcess;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

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
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two real orchestrator processes on one real PostgreSQL and one real Mosquitto, with simulated
 * devices: reports are shared between the instances (MQTT 5 shared subscriptions), the instance
 * that drives a rollout gets the reports the other one received, and when it is killed with
 * {@code kill -9} mid-wave the other takes the rollout over and finishes it without activating any
 * device twice.
 */
class ScaleOutIT {

    private static final Path JAR = Path.of("..", "orchestrator", "target", "turnout.jar").toAbsolutePath();
    private static final Pattern SAMPLE = Pattern.compile("^(\\w+)(\\{[^}]*\\})? ([0-9.eE+-]+)$", Pattern.MULTILINE);

    @TempDir
    Path work;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Closer toClose = new Closer();
    private final Map<String, Integer> ports = new HashMap<>();
    private final Map<String, Process> processes = new HashMap<>();
    private final List<ScriptedDevice> devices = new ArrayList<>();
    private PostgresProcess postgres;
    private String storeUrl;
    private String brokerUrl;

    @BeforeEach
    void setUp() throws Exception {
        assertThat(JAR).as("the orchestrator jar is built in the package phase; run `mvn verify`").exists();
        postgres = PostgresProcess.shared();
        storeUrl = postgres.createDatabase();
        Mosquitto mosquitto = Mosquitto.anonymous(work.resolve("mosquitto"));
        toClose.add(mosquitto);
        brokerUrl = mosquitto.url();
    }

    @AfterEach
    void tearDown() {
        toClose.close();
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void statusReportsAreSharedBetweenTheInstancesAndReachTheInstanceThatDrivesTheRollout() throws Exception {
        startPair();
        fleet(8, Duration.ofMillis(300));
        releases("1.0.0");

        assertThat(cli("a", "deploy", "web:1.0.0", "--target", "all", "--waves", "1,50%,100%", "--wait")).isZero();

        JsonNode rollout = get("b", "/api/v1/rollouts").path("rollouts").get(0);
        assertThat(rollout.path("state").asText()).as("instance b reads the same store").isEqualTo("SUCCEEDED");
        Map<String, Double> a = metrics("a");
        Map<String, Double> b = metrics("b");
        double statusA = sum(a, "turnout_status_events_total");
        double statusB = sum(b, "turnout_status_events_total");
        System.out.printf("status events received: instance a %.0f, instance b %.0f (8 devices x stage + activate)%n", statusA, statusB);
        assertThat(statusA + statusB).as("each report is consumed once by the group").isEqualTo(16);
        assertThat(statusA).as("instance a's share").isPositive();
        assertThat(statusB).as("instance b's share").isPositive();
        double forwarded = a.getOrDefault("turnout_forwarded_report_delay_seconds_count", 0.0);
        assertThat(forwarded).as("reports b received and forwarded to a, the rollout's owner").isPositive();
        System.out.printf("forwarded to the rollout's owner through PostgreSQL (NOTIFY): %.0f reports, delay p50 %.1f ms,"
                        + " p99 %.1f ms%n", forwarded,
                1000 * a.getOrDefault("turnout_forwarded_report_delay_seconds{quantile=\"0.5\"}", Double.NaN),
                1000 * a.getOrDefault("turnout_forwarded_report_delay_seconds{quantile=\"0.99\"}", Double.NaN));
        for (ScriptedDevice d : devices) {
            assertThat(d.running()).isEqualTo("1.0.0");
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void whenTheInstanceDrivingARolloutIsKilledMidWaveTheOtherFinishesItWithoutActivatingAnyDeviceTwice() throws Exception {
        startPair();
        fleet(6, Duration.ofSeconds(2));
        releases("1.0.0", "2.0.0");
        assertThat(cli("a", "deploy", "web:1.0.0", "--target", "all", "--wait")).isZero();

        // created through a, so a drives it: a canary, then the rest; kill -9 a once the second wave is out
        ByteArrayOutputStream idOut = new ByteArrayOutputStream();
        assertThat(TurnoutCli.run(new PrintStream(idOut, true, StandardCharsets.UTF_8), System.err, Map.of("TURNOUT_TOKEN", token()),
                "deploy", "web:2.0.0", "--target", "all", "--waves", "1,100%", "--server", server("a"))).isZero();
        String id = idOut.toString(StandardCharsets.UTF_8).strip();
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                .until(() -> get("b", "/api/v1/rollouts/" + id).path("currentWave").asInt() == 2);
        Process a = processes.get("a");
        a.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        long killedAt = System.nanoTime();
        assertThat(a.exitValue()).as("killed by SIGKILL").isEqualTo(137);

        ByteArrayOutputStream watched = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(watched, true, StandardCharsets.UTF_8), System.err, Map.of("TURNOUT_TOKEN", token()),
                "rollout", "watch", id, "--server", server("b"));
        System.out.printf("kill -9 of the instance driving the rollout mid-wave: the other one finished it %d ms later"
                + " (lease 3 s)%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt));
        assertThat(code).as(watched.toString(StandardCharsets.UTF_8)).isZero();
        assertThat(get("b", "/api/v1/rollouts/" + id).path("state").asText()).isEqualTo("SUCCEEDED");
        assertThat(Files.readString(work.resolve("orchestrator-b.log"))).contains("drives rollout " + id);

        for (ScriptedDevice d : devices) {
            assertThat(d.running()).isEqualTo("2.0.0");
            List<DesiredState> activations = d.accepted().stream()
                    .filter(s -> s.getAppsList().stream().anyMatch(x -> isActivationOf(x, "2.0.0"))).toList();
            assertThat(activations).as("activations of 2.0.0 accepted by " + d).hasSize(1);
        }
        assertThat(devices.stream().mapToInt(d -> d.accepted().size()).sum()).as("desired states accepted in all")
                .isEqualTo(6 * 2 /* v1: stage + activate */ + 6 * 2 /* v2: stage + activate */);
    }

    private static boolean isActivationOf(AppDesired app, String version) {
        return app.getPhase() == Phase.ACTIVATE && app.getRelease().getVersion().equals(version);
    }

    /** Starts instance a, then b with a's signing key and broker secret (one orchestrator identity, two instances). */
    private void startPair() throws Exception {
        startOrchestrator("a");
        Path b = Files.createDirectories(work.resolve("data-b"));
        // one orchestrator identity: the same signing key, broker secret and operator token on every instance
        for (String file : List.of("signing.key", "broker.secret", "operator.token")) {
            Files.copy(work.resolve("data-a").resolve(file), b.resolve(file));
        }
        startOrchestrator("b");
    }

    private void fleet(int n, Duration activationTime) throws Exception {
        PublicKey key = PublicKey.fromBase64(get("a", "/api/v1/server").path("publicKey").asText());
        for (int i = 1; i <= n; i++) {
            String id = "scale-" + i;
            // enrolled through either instance: both write the one store
            assertThat(cli(i % 2 == 0 ? "a" : "b", "device", "enroll", id, "--out", work.resolve(id + ".yaml").toString())).isZero();
            String password = ScriptedDevice.passwordOf(Files.readString(work.resolve(id + ".yaml")));
            ScriptedDevice device = new ScriptedDevice(id, password, brokerUrl, Topics.defaults(), key, Set.of(), activationTime);
            toClose.add(device);
            devices.add(device);
        }
    }

    private void releases(String... versions) throws Exception {
        Path spec = Files.writeString(work.resolve("spec.yaml"), "health:\n  tcp: 127.0.0.1:8080\n");
        for (String version : versions) {
            Path archive = work.resolve("web-" + version + ".tar");
            Files.write(archive, DockerSaveArchives.of("demo/web:" + version, version).bytes());
            assertThat(cli("a", "release", "create", "web:" + version, "--image", "linux/arm64=" + archive, "--spec",
                    spec.toString())).isZero();
        }
    }

    private void startOrchestrator(String name) throws Exception {
        int port = Ports.free();
        ports.put(name, port);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = work.resolve("orchestrator-" + name + ".log");
        ProcessBuilder builder = new ProcessBuilder(java, "-Xmx256m", "-Djava.io.tmpdir=" + Files.createDirectories(work.resolve("tmp")),
                "-jar", JAR.toString(), "server", "--data", work.resolve("data-" + name).toString(), "--http-port", String.valueOf(port),
                "--broker-url", brokerUrl, "--bind", "127.0.0.1", "--advertise-host", "127.0.0.1",
                "--store", storeUrl, "--store-user", PostgresProcess.USER, "--instance-id", name, "--rollout-lease", "3s")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("TURNOUT_STORE_PASSWORD", postgres.password());
        Process process = builder.start();
        processes.put(name, process);
        toClose.add(() -> {
            process.destroy();
            process.waitFor(20, TimeUnit.SECONDS);
        });
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).until(() -> {
            if (!process.isAlive()) {
                throw new AssertionError("orchestrator " + name + " exited: " + Files.readString(log));
            }
            try {
                return get(name, "/api/v1/health").path("status").asText().equals("ok");
            } catch (IOException notYet) {
                return false;
            }
        });
        assertThat(Files.readString(log)).as("the store password is never logged").doesNotContain(postgres.password());
    }

    /** The operator token instance a made at its first start (b has a copy); empty before that. */
    private String token() {
        Path file = work.resolve("data-a").resolve("operator.token");
        try {
            return Files.exists(file) ? Files.readString(file).strip() : "";
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private String server(String name) {
        return "http://127.0.0.1:" + ports.get(name);
    }

    private JsonNode get(String name, String path) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(server(name) + path))
                        .header("Authorization", "Bearer " + token()).build(),
                HttpResponse.BodyHandlers.ofString());
        return json.readTree(response.body());
    }

    /** Every sample of the instance's Prometheus scrape, by name with labels. */
    private Map<String, Double> metrics(String name) throws IOException, InterruptedException {
        String text = http.send(HttpRequest.newBuilder(URI.create(server(name) + "/metrics"))
                        .header("Authorization", "Bearer " + token()).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        Map<String, Double> samples = new HashMap<>();
        Matcher m = SAMPLE.matcher(text);
        while (m.find()) {
            samples.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3)));
        }
        return samples;
    }

    private static double sum(Map<String, Double> samples, String family) {
        return samples.entrySet().stream().filter(e -> e.getKey().equals(family) || e.getKey().startsWith(family + "{"))
                .mapToDouble(Map.Entry::getValue).sum();
    }

    private int cli(String instance, String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        full.add("--server");
        full.add(server(instance));
        return TurnoutCli.run(System.out, System.err, Map.of("TURNOUT_TOKEN", token()), full.toArray(String[]::new));
    }
}
