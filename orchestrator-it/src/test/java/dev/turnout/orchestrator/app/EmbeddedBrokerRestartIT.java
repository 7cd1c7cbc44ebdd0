package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.sim.SimulatedDevice;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code kill -9} of a real orchestrator process in the middle of a rollout on its embedded broker, which keeps
 * nothing on disk (the default): the broker dies with it and comes back empty, and the rollout still finishes
 * with every device on the new version, none activated twice. What the broker held is given again: the
 * orchestrator subscribes to the reports before devices are let in and republishes every retained desired state,
 * and each device subscribes again and reports where it stands when it reconnects (the simulated devices do what
 * the edge daemon does).
 */
class EmbeddedBrokerRestartIT {

    private static final int DEVICES = 12;

    @TempDir
    Path work;

    private final Closer toClose = new Closer();
    private int httpPort;
    private OrchestratorApi api;
    private int mqttPort;

    @AfterEach
    void tearDown() {
        toClose.close();
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aRolloutKilledMidWaveWithTheBrokerInsideFinishesAfterARestartWithNothingLost() throws Exception {
        assertThat(OrchestratorProcess.JAR).as("the orchestrator jar is built in the package phase; run `mvn verify`").exists();
        httpPort = Ports.free();
        api = new OrchestratorApi(work.resolve("data"), httpPort);
        mqttPort = Ports.free();
        Process first = startOrchestrator("first");
        api.release("1.0.0");
        // each activation takes 3 s: the wave that is switching when the process dies reports into a broker that is gone
        SimulatedFleet fleet = SimulatedFleet.start(api.server(), api.token(), SimulationOptions.defaults(DEVICES).withIdPrefix("restart")
                .withApplyTime(Duration.ofSeconds(3)).withHealthInterval(Duration.ofDays(1)), Duration.ofSeconds(60));
        toClose.add(fleet);

        String id = api.post("/api/v1/rollouts", Map.of("app", "web", "version", "1.0.0", "target", "all", "waves", "1,100%",
                "onFailure", "pause", "deviceTimeout", "2m")).path("id").asText();
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                .until(() -> fleet.devices().stream().filter(d -> d.activateSeenAt("web", "1.0.0") > 0).count() == DEVICES);
        first.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        long killedAt = System.nanoTime();
        assertThat(first.exitValue()).as("killed by SIGKILL").isEqualTo(137);
        assertThat(fleet.runningCount("web", "1.0.0")).as("devices done switching when the orchestrator died").isLessThan(DEVICES);

        startOrchestrator("second");
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(100))
                .until(() -> api.get("/api/v1/rollouts/" + id).path("state").asText(), state -> !state.equals("RUNNING"));
        System.out.printf("kill -9 mid-wave on the embedded broker: rollout ended %d ms after the kill (restart included)%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt));

        JsonNode rollout = api.get("/api/v1/rollouts/" + id);
        assertThat(rollout.path("state").asText()).as(rollout.toString()).isEqualTo("SUCCEEDED");
        assertThat(fleet.runningCount("web", "1.0.0")).isEqualTo(DEVICES);
        for (SimulatedDevice d : fleet.devices()) {
            // a stage and an activation each; the republished states carry sequences it had accepted already
            assertThat(d.acceptedCount()).as("desired states %s accepted", d.id()).isEqualTo(2);
            JsonNode app = api.get("/api/v1/devices/" + d.id()).path("apps").get(0);
            assertThat(app.path("runningVersion").asText()).as("%s runs, as the orchestrator knows", d.id()).isEqualTo("1.0.0");
            assertThat(app.path("state").asText()).as("%s reported", d.id()).isEqualTo("ACTIVE");
        }
        assertThat(api.get("/api/v1/audit?subject=" + id).path("entries")).as("audit entries of the rollout")
                .filteredOn(e -> e.path("action").asText().equals("rollout.state") && e.path("detail").asText().startsWith("SUCCEEDED"))
                .hasSize(1);
        assertThat(work.resolve("data/broker/data/persistence")).as("the embedded broker kept nothing on disk").doesNotExist();
    }

    private Process startOrchestrator(String name) throws Exception {
        return OrchestratorProcess.start(work, name, httpPort, List.of("--mqtt-port", String.valueOf(mqttPort)), Duration.ofSeconds(90),
                toClose, () -> api.get("/api/v1/health").path("status").asText().equals("ok"));
    }
}
