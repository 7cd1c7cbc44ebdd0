package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.sim.SimulatedDevice;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.Tmpfs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Fault-matrix row 11 beyond one API write: the orchestrator's disk fills up in the middle of a rollout, while its
 * canaries switch, and frees up again. The data directory is a real tmpfs the test mounts (root: failed, not skipped,
 * when {@code CI=true}) and fills with a file; the orchestrator is its own process, the broker the site's Mosquitto,
 * the fleet simulated devices. While the disk is full the engine can record nothing: the canaries' reports must not be
 * lost, and no device of the next wave may be told to switch (a desired state is saved before it is published). Once
 * the file is deleted the rollout goes on by itself and ends as if nothing had happened: every device on the new
 * version, each activated once, the orchestrator right about each, every ACTIVE report audited.
 */
class DiskFullMidRolloutIT {

    private static final int DEVICES = 8;
    private static final int CANARIES = 2;

    @TempDir
    Path work;

    private final Closer toClose = new Closer();
    private Tmpfs disk;

    @AfterEach
    void tearDown() throws Exception {
        toClose.close();
        if (disk != null) {
            disk.close();
        }
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aRolloutWhoseReportsCannotBeRecordedWaitsLosesNothingAndFinishesOnceSpaceReturns() throws Exception {
        assertThat(OrchestratorProcess.JAR).as("the orchestrator jar is built in the package phase; run `mvn verify`").exists();
        Path data = work.resolve("data");
        disk = Tmpfs.mount(data, "32m");
        Requirements.require(disk != null, "root, to mount a 32 MiB tmpfs (mount -t tmpfs -o size=32m tmpfs DIR)");
        Mosquitto mosquitto = Mosquitto.start(work.resolve("mosquitto"), port -> Mosquitto.listener(port)
                + "allow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n");
        toClose.add(mosquitto);
        int httpPort = Ports.free();
        OrchestratorApi api = new OrchestratorApi(data, httpPort);
        OrchestratorProcess.start(work, "disk", httpPort, List.of("--broker-url", mosquitto.url()), Duration.ofSeconds(90),
                toClose, () -> api.get("/api/v1/health").path("status").asText().equals("ok"));
        api.release("1.0.0");
        SimulatedFleet fleet = SimulatedFleet.start(api.server(), api.token(), SimulationOptions.defaults(DEVICES).withIdPrefix("full")
                .withApplyTime(Duration.ofSeconds(2)).withHealthInterval(Duration.ofDays(1)), Duration.ofSeconds(60));
        toClose.add(fleet);

        String id = api.post("/api/v1/rollouts", Map.of("app", "web", "version", "1.0.0", "target", "all",
                "waves", CANARIES + ",100%", "onFailure", "pause", "deviceTimeout", "5m")).path("id").asText();
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                .until(() -> activated(fleet) == CANARIES);
        Path filler = data.resolve("filler");
        Tmpfs.fill(filler);
        long filledAt = System.nanoTime();
        // the canaries finish switching and report ACTIVE into an orchestrator that cannot write them down
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
                .until(() -> fleet.runningCount("web", "1.0.0") == CANARIES);
        Thread.sleep(5_000);
        assertThat(activated(fleet)).as("devices told to switch while nothing could be saved").isEqualTo(CANARIES);
        assertThat(api.get("/api/v1/rollouts/" + id).path("state").asText()).isEqualTo("RUNNING");
        JsonNode health = api.get("/api/v1/health");
        System.out.println("health while the disk is full: " + health);
        assertThat(health.path("status").asText()).as("health says the store refuses writes: %s", health).isEqualTo("degraded");
        assertThat(health.path("error").asText()).contains("the store refuses writes, so no rollout moves on: its disk is full")
                .as("a public endpoint: no path").doesNotContain(data.toString());
        // a release uploaded now is refused with the cause, and leaves no part of it behind
        HttpResponse<String> upload = api.upload("1.1.0");
        assertThat(upload.statusCode()).as(upload.body()).isEqualTo(500);
        assertThat(upload.body()).contains("the orchestrator's disk is full: nothing was saved");
        try (Stream<Path> incoming = Files.list(data.resolve("artifacts").resolve("incoming"))) {
            assertThat(incoming).as("upload files left behind").isEmpty();
        }

        Files.delete(filler);
        long freedAt = System.nanoTime();
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(100))
                .until(() -> api.get("/api/v1/rollouts/" + id).path("state").asText(), state -> !state.equals("RUNNING"));
        System.out.printf("disk full for %d ms; the rollout ended %d ms after space returned%n",
                TimeUnit.NANOSECONDS.toMillis(freedAt - filledAt), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - freedAt));

        JsonNode rollout = api.get("/api/v1/rollouts/" + id);
        assertThat(rollout.path("state").asText()).as(rollout.toString()).isEqualTo("SUCCEEDED");
        assertThat(api.get("/api/v1/health").path("status").asText()).as("health once the store writes again").isEqualTo("ok");
        assertThat(api.upload("1.1.0").statusCode()).as("the same upload once there is room").isEqualTo(201);
        assertThat(fleet.runningCount("web", "1.0.0")).isEqualTo(DEVICES);
        for (SimulatedDevice d : fleet.devices()) {
            assertThat(d.acceptedCount()).as("desired states %s accepted (a stage and an activation)", d.id()).isEqualTo(2);
            JsonNode device = api.get("/api/v1/devices/" + d.id());
            JsonNode app = device.path("apps").get(0);
            JsonNode audit = api.get("/api/v1/audit?subject=" + d.id()).path("entries");
            assertThat(app.path("runningVersion").asText()).as("%s runs, as the orchestrator knows: %s; audit %s", d.id(), device, audit)
                    .isEqualTo("1.0.0");
            assertThat(app.path("state").asText()).as("%s reported", d.id()).isEqualTo("ACTIVE");
            assertThat(audit).as("%s's ACTIVE report is audited", d.id())
                    .anySatisfy(e -> assertThat(e.path("detail").asText()).contains("1.0.0").contains("ACTIVE"));
        }
        assertThat(api.get("/api/v1/audit?subject=" + id).path("entries")).as("audit entries of the rollout")
                .filteredOn(e -> e.path("action").asText().equals("rollout.state") && e.path("detail").asText().startsWith("SUCCEEDED"))
                .hasSize(1);
    }

    private static long activated(SimulatedFleet fleet) {
        return fleet.devices().stream().filter(d -> d.activateSeenAt("web", "1.0.0") > 0).count();
    }
}
