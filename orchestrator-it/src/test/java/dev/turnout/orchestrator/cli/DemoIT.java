package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code turnout demo --exit} plays its story against a real orchestrator, broker and simulated fleet. */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class DemoIT {

    @TempDir
    Path work;

    private final ObjectMapper json = new ObjectMapper();

    @Test
    void theStoryPlaysOutAndLeavesTheFleetOnTheLastGoodRelease() throws Exception {
        int httpPort = Ports.free();
        int mqttPort = Ports.free();
        Path data = work.resolve("demo");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of(), "demo", "--devices", "5", "--exit", "--no-real-devices", "--http-port", Integer.toString(httpPort),
                "--mqtt-port", Integer.toString(mqttPort), "--apply-time", "300ms", "--data", data.toString());
        String printed = out.toString(StandardCharsets.UTF_8);

        assertThat(code).as(printed + err).isZero();
        assertThat(printed.lines().findFirst().orElse(""))
                .isEqualTo("Turnout demo: open the dashboard at http://127.0.0.1:" + httpPort + "/");
        assertThat(printed).contains("[4/4]", "Every step played out as expected.");

        // what the story left behind, read through the API of an orchestrator on the demo's data
        try (TurnoutServer after = TurnoutServer.start(new ServerOptions(data.resolve("orchestrator"), 0, 0, "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX))) {
            JsonNode rollouts = get(after, "/api/v1/rollouts").path("rollouts"); // newest first
            List<String> outcome = new ArrayList<>();
            for (JsonNode r : rollouts) {
                outcome.add(0, r.path("version").asText() + " " + r.path("state").asText());
            }
            assertThat(outcome).containsExactly("1.0.0 SUCCEEDED", "2.0.0 SUCCEEDED", "3.0.0 ROLLED_BACK");
            assertThat(rollouts.get(1).path("waves")).hasSize(3); // 1, 25% and 100% of 5 devices
            assertThat(rollouts.get(1).path("waves").get(0).path("devices")).hasSize(1);
            JsonNode fleet = get(after, "/api/v1/devices").path("devices");
            assertThat(fleet).hasSize(5);
            for (JsonNode d : fleet) {
                assertThat(d.path("labels").path("simulated").asText()).isEqualTo("true");
                assertThat(d.path("apps").get(0).path("runningVersion").asText()).as(d.toString()).isEqualTo("2.0.0");
            }
        }
    }

    @Test
    void aPortInUseEndsTheDemoWithOneLineAndExitCode1() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.0.1"))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                    Map.of(), "demo", "--exit", "--no-real-devices", "--http-port", Integer.toString(taken.getLocalPort()),
                    "--mqtt-port", Integer.toString(Ports.free()), "--data", work.resolve("busy").toString());
            assertThat(code).isEqualTo(ExitCodes.ERROR);
            assertThat(err.toString(StandardCharsets.UTF_8)).startsWith("turnout: cannot start the demo").contains("--http-port");
        }
    }

    @Test
    void everyCommandExplainsItselfWithHelp() {
        for (String command : List.of("demo", "watch", "simulate", "server", "deploy")) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(new ByteArrayOutputStream()),
                    Map.of(), command, "--help");
            assertThat(code).as(command).isZero();
            assertThat(out.toString(StandardCharsets.UTF_8)).startsWith("Usage: turnout " + command);
        }
    }

    private JsonNode get(TurnoutServer server, String path) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }

}
