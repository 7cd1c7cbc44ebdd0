package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code turnout app remove} on real parts: an orchestrator with its embedded broker, an edge daemon on this machine's
 * Docker engine. The app's container and image go, the fleet view says REMOVED, and a restarted daemon (which gets the
 * retained desired state again) leaves it removed.
 */
class AppRemovalIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-remove-" + run;
    private final String imageRef = "turnout-e2e/remove-" + run + ":1.0.0";
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aRemovedAppLeavesNoContainerNorImageAndStaysRemovedAcrossADaemonRestart() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();

        Path archive = images.build(imageRef, "1.0.0", true, work);
        String imageId = images.id(imageRef);
        images.remove(imageRef); // the daemon loads it from the release's archive
        Path spec = Files.writeString(work.resolve("web.yaml"), TestImages.WEB_SPEC);
        assertThat(cli("release", "create", "web:1.0.0", "--image", images.enginePlatform() + "=" + archive,
                "--spec", spec.toString()).code()).isZero();

        Path data = work.resolve("edge");
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), data);
        java.util.concurrent.atomic.AtomicBoolean edgeClosed = new java.util.concurrent.atomic.AtomicBoolean();
        toClose.add(() -> {
            if (edgeClosed.compareAndSet(false, true)) {
                edge.close();
            }
        });
        Operator.Result deployed = cli("deploy", "web:1.0.0", "--target", "device:" + device, "--device-timeout", "1m", "--wait");
        assertThat(deployed.code()).as(deployed.toString()).isZero();
        assertThat(containers.running(device)).hasSize(1);
        assertThat(imagePresent(imageId)).isTrue();

        Operator.Result removed = cli("app", "remove", "web", "--target", "device:" + device, "--wait", "--timeout", "1m");
        assertThat(removed.code()).as(removed.toString()).isZero();
        assertThat(removed.out()).contains("removing web from 1 device(s): " + device).contains(device + " REMOVED");
        assertThat(containers.of(device)).as("no container of the app, running or not").isEmpty();
        assertThat(imagePresent(imageId)).as("the release's image is gone from the engine").isFalse();
        try (var cached = Files.list(data.resolve("cache"))) {
            assertThat(cached.map(f -> f.getFileName().toString())).as("no cached archive of the app").noneMatch(n -> n.startsWith("sha256-"));
        }
        JsonNode app = appOf(device);
        assertThat(app.path("state").asText()).isEqualTo("REMOVED");
        assertThat(app.path("runningVersion").isNull()).isTrue();
        assertThat(app.path("phase").asText()).isEqualTo("REMOVE");
        assertThat(cli("history", "--app", "web").out()).contains("app.remove");

        // the daemon restarts: the broker delivers the retained desired state again, the daemon recovers its records
        if (edgeClosed.compareAndSet(false, true)) {
            edge.close();
        }
        EdgeDaemon again = EdgeDaemon.start(EdgeConfig.load(config), data);
        toClose.add(again::close);
        await().atMost(Duration.ofSeconds(20)).until(() -> json.readTree(cli("device", "show", device, "--output", "json").out())
                .path("online").asBoolean());
        Thread.sleep(2000); // give a wrong daemon the time to bring the app back, then check it did not
        assertThat(containers.of(device)).isEmpty();
        assertThat(imagePresent(imageId)).isFalse();
        assertThat(appOf(device).path("state").asText()).isEqualTo("REMOVED");

        // a second removal changes nothing and says so
        Operator.Result twice = cli("app", "remove", "web", "--target", "device:" + device);
        assertThat(twice.code()).as(twice.toString()).isZero();
        assertThat(twice.out()).contains("removed from every device of device:" + device + " already");
    }

    private boolean imagePresent(String imageId) {
        return DockerCli.run(TestEngines.DEFAULT, "image", "inspect", imageId) == 0;
    }

    private JsonNode appOf(String deviceId) throws Exception {
        for (JsonNode a : json.readTree(cli("device", "show", deviceId, "--output", "json").out()).path("apps")) {
            if (a.path("app").asText().equals("web")) {
                return a;
            }
        }
        throw new AssertionError("device " + deviceId + " shows no app web");
    }

    private Operator.Result cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        images.remove(imageRef);
    }
}
