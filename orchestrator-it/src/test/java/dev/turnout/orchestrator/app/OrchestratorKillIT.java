package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.testsupport.Closer;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterEach;
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
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code kill -9} of a real orchestrator process in the middle of a wave, on the site's Mosquitto:
 * after a restart the rollout resumes where it stopped, takes in the reports devices sent while it
 * was down, and activates no device twice.
 */
class OrchestratorKillIT {


    @TempDir
    Path work;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Closer toClose = new Closer();
    private int httpPort;
    private String brokerUrl;

    @AfterEach
    void tearDown() {
        toClose.close();
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aRolloutKilledMidWaveResumesAfterARestartWithoutActivatingAnyDeviceTwice() throws Exception {
        assertThat(OrchestratorProcess.JAR).as("the orchestrator jar is built in the package phase; run `mvn verify`").exists();
        brokerUrl = startMosquitto(work.resolve("mosquitto"));
        httpPort = Ports.free();
        Process first = startOrchestrator("first");

        List<ScriptedDevice> devices = new ArrayList<>();
        for (String id : List.of("kill-1", "kill-2", "kill-3")) {
            assertThat(cli("device", "enroll", id, "--out", work.resolve(id + ".yaml").toString())).isZero();
        }
        PublicKey key = PublicKey.fromBase64(get("/api/v1/server").path("publicKey").asText());
        for (String id : List.of("kill-1", "kill-2", "kill-3")) {
            String password = ScriptedDevice.passwordOf(Files.readString(work.resolve(id + ".yaml")));
            ScriptedDevice device = new ScriptedDevice(id, password, brokerUrl, Topics.defaults(), key, Set.of(), Duration.ofSeconds(2));
            toClose.add(device);
            devices.add(device);
        }
        Path spec = Files.writeString(work.resolve("spec.yaml"), "health:\n  tcp: 127.0.0.1:8080\n");
        for (String version : List.of("1.0.0", "2.0.0")) {
            Path archive = work.resolve("web-" + version + ".tar");
            Files.write(archive, DockerSaveArchives.of("demo/web:" + version, version).bytes());
            assertThat(cli("release", "create", "web:" + version, "--image", "linux/arm64=" + archive, "--spec", spec.toString())).isZero();
        }
        assertThat(cli("deploy", "web:1.0.0", "--target", "all", "--wait")).isZero();

        // a canary, then the rest; kill -9 the moment the second wave has been sent out
        ByteArrayOutputStream idOut = new ByteArrayOutputStream();
        assertThat(TurnoutCli.run(new PrintStream(idOut, true, StandardCharsets.UTF_8), System.err, cliEnv(),
                "deploy", "web:2.0.0", "--target", "all", "--waves", "1,100%", "--server", server())).isZero();
        String id = idOut.toString(StandardCharsets.UTF_8).strip();
        // sent out = every device holds its activation (published after the commit that moved the wave;
        // a kill between the two is the restart's job, tested by ScaleOutIT's takeover); each device
        // then takes 2 s to switch, so its reports arrive while the orchestrator is down
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                .until(() -> get("/api/v1/rollouts/" + id).path("currentWave").asInt() == 2
                        && devices.stream().allMatch(d -> d.accepted().stream()
                        .anyMatch(s -> s.getAppsList().stream().anyMatch(a -> isActivationOf(a, "2.0.0")))));
        first.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        long killedAt = System.nanoTime();
        assertThat(first.exitValue()).as("killed by SIGKILL").isEqualTo(137);

        // while it is down, the second wave finishes and reports into the orchestrator's broker session
        await().atMost(Duration.ofSeconds(20)).until(() -> devices.stream().allMatch(d -> d.running().equals("2.0.0")));

        startOrchestrator("second");
        ByteArrayOutputStream watched = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(watched, true, StandardCharsets.UTF_8), System.err, cliEnv(),
                "rollout", "watch", id, "--server", server());
        System.out.printf("kill -9 mid-wave: rollout ended %d ms after the kill (restart included)%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt));
        assertThat(code).as(watched.toString(StandardCharsets.UTF_8)).isZero();
        JsonNode rollout = get("/api/v1/rollouts/" + id);
        assertThat(rollout.path("state").asText()).isEqualTo("SUCCEEDED");

        for (ScriptedDevice d : devices) {
            List<DesiredState> activations = d.accepted().stream()
                    .filter(s -> s.getAppsList().stream().anyMatch(a -> isActivationOf(a, "2.0.0"))).toList();
            assertThat(activations).as("activations of 2.0.0 accepted by a device").hasSize(1);
        }
        // the restart re-published the retained desired states with their sequences: nothing new to accept
        assertThat(devices.stream().mapToInt(d -> d.accepted().size()).sum()).as("desired states accepted in all")
                .isEqualTo(3 * 2 /* v1: stage + activate */ + 3 * 2 /* v2: stage + activate */);

        // the record of each device and the audit trail took in what the devices reported while it was down
        for (String deviceId : List.of("kill-1", "kill-2", "kill-3")) {
            JsonNode app = get("/api/v1/devices/" + deviceId).path("apps").get(0);
            assertThat(app.path("runningVersion").asText()).as("%s runs", deviceId).isEqualTo("2.0.0");
            assertThat(app.path("state").asText()).as("%s reported", deviceId).isEqualTo("ACTIVE");
            assertThat(get("/api/v1/audit?subject=" + deviceId).path("entries")).as("audit entries of " + deviceId)
                    .anyMatch(e -> e.path("action").asText().equals("device.status")
                            && e.path("detail").asText().startsWith("web:2.0.0 ACTIVE"));
        }
        assertThat(get("/api/v1/audit?subject=" + id).path("entries")).as("audit entries of the rollout")
                .filteredOn(e -> e.path("action").asText().equals("rollout.state") && e.path("detail").asText().startsWith("SUCCEEDED"))
                .hasSize(1);
    }

    private static boolean isActivationOf(AppDesired app, String version) {
        return app.getPhase() == Phase.ACTIVATE && app.getRelease().getVersion().equals(version);
    }

    private Process startOrchestrator(String name) throws Exception {
        return OrchestratorProcess.start(work, name, httpPort, List.of("--broker-url", brokerUrl), Duration.ofSeconds(60), toClose,
                () -> get("/api/v1/health").path("status").asText().equals("ok"));
    }

    private String server() {
        return "http://127.0.0.1:" + httpPort;
    }

    private JsonNode get(String path) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(server() + path))
                        .header("Authorization", "Bearer " + dev.turnout.orchestrator.security.OperatorToken.read(
                                work.resolve("data").resolve(dev.turnout.orchestrator.security.OperatorToken.FILE))).build(),
                HttpResponse.BodyHandlers.ofString());
        return json.readTree(response.body());
    }

    private int cli(String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        full.add("--server");
        full.add(server());
        return TurnoutCli.run(System.out, System.err, cliEnv(), full.toArray(String[]::new));
    }

    /** The CLI on the server's host: it reads the operator token from the server's data directory. */
    private Map<String, String> cliEnv() {
        return Map.of("TURNOUT_DATA", work.resolve("data").toString());
    }



    private String startMosquitto(Path dir) throws Exception {
        Mosquitto mosquitto = Mosquitto.anonymous(dir);
        toClose.add(mosquitto);
        return mosquitto.url();
    }
}
