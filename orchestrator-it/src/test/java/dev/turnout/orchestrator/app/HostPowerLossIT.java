package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.sim.SimulatedDevice;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Mosquitto;
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
 * Fault-matrix row 4 on the site's Mosquitto: the central host loses power in the middle of a wave. The
 * orchestrator and Mosquitto are both killed with SIGKILL at the same moment, while the last wave's devices are
 * switching; Mosquitto keeps what its persistence file held (it saves on a clean stop and every 30 minutes,
 * so nothing of this rollout: sessions and retained desired states are gone), then both start again. The
 * rollout still ends with every device on the new version, none activated twice, the orchestrator right about
 * each device and its success audited once: the orchestrator republishes every retained desired state, and
 * each device (the simulated ones do what the edge daemon does) reconnects, subscribes again when its session
 * is gone and reports where it stands.
 */
class HostPowerLossIT {

    private static final int DEVICES = 12;

    @TempDir
    Path work;

    private final Closer toClose = new Closer();
    private int httpPort;
    private OrchestratorApi api;
    private Mosquitto mosquitto;

    @AfterEach
    void tearDown() {
        toClose.close();
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void theOrchestratorAndMosquittoKilledAtOnceMidWaveTheRolloutFinishesWithNothingAppliedTwice() throws Exception {
        assertThat(OrchestratorProcess.JAR).as("the orchestrator jar is built in the package phase; run `mvn verify`").exists();
        Path brokerData = work.resolve("mosquitto-data");
        java.nio.file.Files.createDirectories(brokerData);
        // as a site runs it: persistence on (Debian's default and Turnout's snippet), anyone may connect in this test
        mosquitto = Mosquitto.start(work.resolve("mosquitto"), port -> Mosquitto.listener(port)
                + "allow_anonymous true\npersistence true\npersistence_location " + brokerData + "/\n"
                + "max_queued_messages 1000000\nmax_inflight_messages 1000\n");
        toClose.add(mosquitto);
        httpPort = Ports.free();
        api = new OrchestratorApi(work.resolve("data"), httpPort);
        Process first = startOrchestrator("first");
        api.release("1.0.0");
        // each activation takes 3 s: the wave that is switching when the host dies reports into a broker that is gone
        SimulatedFleet fleet = SimulatedFleet.start(api.server(), api.token(), SimulationOptions.defaults(DEVICES).withIdPrefix("power")
                .withApplyTime(Duration.ofSeconds(3)).withHealthInterval(Duration.ofDays(1)), Duration.ofSeconds(60));
        toClose.add(fleet);

        String id = api.post("/api/v1/rollouts", Map.of("app", "web", "version", "1.0.0", "target", "all", "waves", "1,100%",
                "onFailure", "pause", "deviceTimeout", "2m")).path("id").asText();
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                .until(() -> fleet.devices().stream().filter(d -> d.activateSeenAt("web", "1.0.0") > 0).count() == DEVICES);
        ProcessHandle broker = ProcessHandle.of(mosquitto.pid()).orElseThrow();
        broker.destroyForcibly(); // SIGKILL, both at once: no clean shutdown saves anything
        first.destroyForcibly();
        first.waitFor(10, TimeUnit.SECONDS);
        broker.onExit().get(10, TimeUnit.SECONDS);
        long killedAt = System.nanoTime();
        assertThat(first.exitValue()).as("killed by SIGKILL").isEqualTo(137);
        assertThat(fleet.runningCount("web", "1.0.0")).as("devices done switching when the host died").isLessThan(DEVICES);

        mosquitto.restart();
        startOrchestrator("second");
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(100))
                .until(() -> api.get("/api/v1/rollouts/" + id).path("state").asText(), state -> !state.equals("RUNNING"));
        System.out.printf("orchestrator and Mosquitto killed at once mid-wave: rollout ended %d ms after the kill (restarts"
                + " included)%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt));

        JsonNode rollout = api.get("/api/v1/rollouts/" + id);
        assertThat(rollout.path("state").asText()).as(rollout.toString()).isEqualTo("SUCCEEDED");
        assertThat(fleet.runningCount("web", "1.0.0")).isEqualTo(DEVICES);
        for (SimulatedDevice d : fleet.devices()) {
            // a stage and an activation each; the republished states carry sequences it had accepted already
            assertThat(d.acceptedCount()).as("desired states %s accepted", d.id()).isEqualTo(2);
            JsonNode device = api.get("/api/v1/devices/" + d.id());
            JsonNode app = device.path("apps").get(0);
            assertThat(app.path("runningVersion").asText()).as("%s runs, as the orchestrator knows: %s; audit %s", d.id(), device,
                    api.get("/api/v1/audit?subject=" + d.id()).path("entries")).isEqualTo("1.0.0");
            assertThat(app.path("state").asText()).as("%s reported", d.id()).isEqualTo("ACTIVE");
        }
        assertThat(api.get("/api/v1/audit?subject=" + id).path("entries")).as("audit entries of the rollout")
                .filteredOn(e -> e.path("action").asText().equals("rollout.state") && e.path("detail").asText().startsWith("SUCCEEDED"))
                .hasSize(1);
    }

    private Process startOrchestrator(String name) throws Exception {
        return OrchestratorProcess.start(work, name, httpPort, List.of("--broker-url", mosquitto.url()), Duration.ofSeconds(90),
                toClose, () -> api.get("/api/v1/health").path("status").asText().equals("ok"));
    }
}
