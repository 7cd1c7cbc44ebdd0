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
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The app's update lock on real parts: the app itself creates {@code /run/turnout/updates.lock} inside its container
 * (a train is running); an update stages and waits (WAITING_FOR_LOCK) with the old container running, proceeds once the
 * app deletes the file, fails with LOCK_TIMEOUT (the old version still running) when the lock outlasts the deploy's
 * {@code --lock-timeout}, and a {@code deploy --force} switches regardless.
 */
class UpdateLockIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-lock-" + run;
    private final String imageRepo = "turnout-e2e/lock-" + run;
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void anUpdateWaitsForTheAppsLockProceedsWhenReleasedTimesOutChangingNothingAndForceIgnoresIt() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();
        Path spec = Files.writeString(work.resolve("web.yaml"), TestImages.WEB_SPEC);
        for (String version : List.of("1.0.0", "2.0.0", "3.0.0")) {
            Path archive = images.build(imageRepo + ":" + version, version, true, work);
            images.remove(imageRepo + ":" + version);
            assertThat(cli("release", "create", "web:" + version, "--image", images.enginePlatform() + "=" + archive,
                    "--spec", spec.toString()).code()).isZero();
        }
        // the daemon looks at the lock on every check; a short interval keeps the test short
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config).withCheckInterval(Duration.ofMillis(500)), work.resolve("edge"));
        toClose.add(edge::close);
        assertThat(deploy("web:1.0.0", "--wait").code()).isZero();

        // a train is running: the app takes its lock, from inside its container
        String v1 = runningOnly("1.0.0");
        holdLock(v1);
        Operator.Result started = deploy("web:2.0.0");
        assertThat(started.code()).as(started.toString()).isZero();
        String rollout = started.out().strip();
        await().atMost(Duration.ofSeconds(30)).until(() -> "WAITING_FOR_LOCK".equals(appOf().path("state").asText()));
        assertThat(appOf().path("message").asText()).contains("holds its update lock (/run/turnout/updates.lock)");
        assertThat(runningOnly("1.0.0")).as("the old container keeps running").isEqualTo(v1);
        JsonNode waiting = json.readTree(cli("rollout", "status", rollout, "--output", "json").out());
        assertThat(waiting.path("state").asText()).isEqualTo("RUNNING");
        assertThat(waiting.toString()).contains("waiting for the app's update lock");

        // the train has arrived: the app deletes the file, the update goes on by itself
        DockerCli.docker(TestEngines.DEFAULT, "exec", v1, "/bin/busybox", "rm", "/run/turnout/updates.lock");
        Operator.Result done = cli("rollout", "watch", rollout);
        assertThat(done.code()).as(done.toString()).isZero();
        String v2 = runningOnly("2.0.0");

        // a lock held longer than the deploy allows: the update fails there, nothing changes
        holdLock(v2);
        Operator.Result timedOut = deploy("web:3.0.0", "--lock-timeout", "2s", "--wait");
        assertThat(timedOut.code()).as(timedOut.toString()).isEqualTo(4); // paused: its one device failed
        assertThat(timedOut.out()).contains("LOCK_TIMEOUT");
        assertThat(appOf().path("reason").asText()).isEqualTo("LOCK_TIMEOUT");
        assertThat(runningOnly("2.0.0")).as("2.0.0 was never stopped").isEqualTo(v2);

        // --force: the operator decides the train can be stopped
        Operator.Result forced = deploy("web:3.0.0", "--force", "--supersede", "--wait");
        assertThat(forced.code()).as(forced.toString()).isZero();
        runningOnly("3.0.0");
    }

    private Operator.Result deploy(String release, String... options) {
        List<String> args = new java.util.ArrayList<>(List.of("deploy", release, "--target", "device:" + device, "--device-timeout", "1m"));
        args.addAll(List.of(options));
        return cli(args.toArray(String[]::new));
    }

    /** The app's one running container, which must be {@code version}; its id. */
    private String runningOnly(String version) {
        List<Containers.Container> running = containers.running(device);
        assertThat(running).extracting(Containers.Container::version).containsExactly(version);
        return running.get(0).id();
    }

    /** What an app writer does while a train runs: create the lock file in the directory the daemon mounted. */
    private static void holdLock(String container) {
        DockerCli.docker(TestEngines.DEFAULT, "exec", container, "/bin/sh", "-c", "echo train 42 > /run/turnout/updates.lock");
    }

    private JsonNode appOf() throws Exception {
        for (JsonNode a : json.readTree(cli("device", "show", device, "--output", "json").out()).path("apps")) {
            if (a.path("app").asText().equals("web")) {
                return a;
            }
        }
        return json.createObjectNode();
    }

    private Operator.Result cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        for (String version : List.of("1.0.0", "2.0.0", "3.0.0")) {
            images.remove(imageRepo + ":" + version);
        }
    }
}
