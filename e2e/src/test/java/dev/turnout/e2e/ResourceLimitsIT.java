package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Closer;
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
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Resource limits as rollback triggers, on the real Docker engine with the real orchestrator, broker and edge daemon:
 * a release within its limits stays; one whose container the kernel OOM-kills under a small {@code memory}, one whose
 * memory grows past its share of its limit, and one that keeps exiting under a restart policy each roll back by
 * themselves to the release that ran, and the device says why (OOM_KILLED or MEMORY_LIMIT, MEMORY_LIMIT, CRASH_LOOP).
 * A spec with a bad limit is refused at {@code release create} and nothing is stored.
 */
class ResourceLimitsIT {

    /** httpd as in every e2e test, with every limit set and comfortably met. */
    private static final String WITHIN_LIMITS = """
            container:
              command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
              network: none
              memory: 32m
              restart: on-failure
            health:
              exec: ["/bin/wget", "-q", "-O", "-", "http://127.0.0.1:8080/health"]
              interval: 500ms
              retries: 3
              soak: 3s
            limits:
              memory: 90%
              cpu: {percent: 95, for: 2s}
              disk: 99.5%
              restarts: 1
            """;

    /** {@code tail} keeps every byte of an endless line: it grows until the kernel kills it at the 16 MiB limit. */
    private static final String LEAKS_FAST = """
            container:
              command: ["/bin/busybox", "tail", "/dev/zero"]
              network: none
              memory: 16m
            health:
              interval: 500ms
              soak: 10s
            limits:
              memory: 90%
            """;

    /** 8 MiB more in a tmpfs (memory the cgroup pays for) every second: above half its 64 MiB limit in about 4 s. */
    private static final String LEAKS_SLOWLY = """
            container:
              command: ["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); /bin/busybox dd if=/dev/zero of=/dev/shm/leak$i bs=1M count=8 2>/dev/null; /bin/busybox sleep 1; done"]
              network: none
              memory: 64m
            health:
              interval: 500ms
              soak: 20s
            limits:
              memory: 50%
            """;

    /** Exits after a second, again and again: Docker's restart policy brings it back each time. */
    private static final String CRASH_LOOPS = """
            container:
              command: ["/bin/sh", "-c", "/bin/busybox sleep 1; exit 3"]
              network: none
              restart: on-failure
            health:
              interval: 500ms
              soak: 20s
            limits:
              restarts: 2
            """;

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-limits-" + run;
    private final String imageRepo = "turnout-e2e/limits-" + run;
    private final List<String> versions = List.of("1.0.0", "2.0.0", "3.0.0", "4.0.0");
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aReleaseBreakingItsLimitsRollsBackByItselfAndSaysWhichAndOneWithinThemStays() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();

        // a bad limit: a clear error, nothing uploaded
        Path bad = Files.writeString(work.resolve("bad.yaml"), WITHIN_LIMITS.replace("memory: 90%", "memory: 120%"));
        Path archive1 = images.build(imageRepo + ":1.0.0", "1.0.0", true, work);
        Operator.Result refused = cli("release", "create", "web:1.0.0", "--image", images.enginePlatform() + "=" + archive1,
                "--spec", bad.toString());
        assertThat(refused.code()).as(refused.toString()).isEqualTo(1);
        assertThat(refused.err()).contains("spec.limits.memory '120%' must be a percentage above 0 and at most 100");
        assertThat(cli("release", "list", "--output", "json").out()).doesNotContain("1.0.0");

        release("1.0.0", archive1, WITHIN_LIMITS);
        release("2.0.0", images.build(imageRepo + ":2.0.0", "2.0.0", true, work), LEAKS_FAST);
        release("3.0.0", images.build(imageRepo + ":3.0.0", "3.0.0", true, work), LEAKS_SLOWLY);
        release("4.0.0", images.build(imageRepo + ":4.0.0", "4.0.0", true, work), CRASH_LOOPS);
        for (String version : versions) {
            images.remove(imageRepo + ":" + version);
        }
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), work.resolve("edge"));
        toClose.add(edge::close);

        // (c) within its limits: measured through the soak, and it stays
        Operator.Result first = deploy("web:1.0.0");
        assertThat(first.code()).as(first.toString()).isZero();
        assertThat(appOf().path("state").asText()).isEqualTo("ACTIVE");
        String v1 = runningOnly("1.0.0");

        // (a) the kernel kills the leaking container at its limit (or a sample sees it above 90 % first)
        Operator.Result oom = deploy("web:2.0.0");
        assertThat(oom.code()).as(oom.toString()).isEqualTo(4); // its one device failed: paused
        assertThat(appOf().path("state").asText()).isEqualTo("ROLLED_BACK");
        assertThat(appOf().path("reason").asText()).isIn("OOM_KILLED", "MEMORY_LIMIT");
        assertThat(runningOnly("1.0.0")).as("the previous version runs again").isEqualTo(v1);

        // (a) a slower leak is caught by the samples before the kernel steps in, and the report gives the figures
        Operator.Result leak = deploy("web:3.0.0", "--supersede");
        assertThat(leak.code()).as(leak.toString()).isEqualTo(4);
        assertThat(leak.out()).contains("MEMORY_LIMIT");
        JsonNode leaked = appOf();
        assertThat(leaked.path("state").asText()).isEqualTo("ROLLED_BACK");
        assertThat(leaked.path("reason").asText()).isEqualTo("MEMORY_LIMIT");
        assertThat(leaked.path("message").asText()).matches("memory [0-9.]+ MiB is [0-9.]+% of its 64 MiB limit \\(limit 50%\\)");
        assertThat(runningOnly("1.0.0")).isEqualTo(v1);

        // (b) a container that keeps exiting under its restart policy: one restart more than allowed is a crash loop
        Operator.Result crashes = deploy("web:4.0.0", "--supersede");
        assertThat(crashes.code()).as(crashes.toString()).isEqualTo(4);
        JsonNode crashed = appOf();
        assertThat(crashed.path("reason").asText()).isEqualTo("CRASH_LOOP");
        assertThat(crashed.path("message").asText()).contains("restarted 3 times during the soak (more than 2 allowed)");
        assertThat(runningOnly("1.0.0")).isEqualTo(v1);

        // the rollout shows the reason and the device's words
        String status = cli("rollout", "list", "--output", "json").out();
        assertThat(status).contains("CRASH_LOOP");
        assertThat(cli("devices").out()).contains("CRASH_LOOP");
    }

    private void release(String version, Path archive, String spec) throws Exception {
        Path file = Files.writeString(work.resolve("web-" + version + ".yaml"), spec);
        Operator.Result created = cli("release", "create", "web:" + version, "--image", images.enginePlatform() + "=" + archive,
                "--spec", file.toString());
        assertThat(created.code()).as(created.toString()).isZero();
    }

    private Operator.Result deploy(String release, String... options) {
        List<String> args = new ArrayList<>(List.of("deploy", release, "--target", "device:" + device, "--device-timeout", "1m", "--wait"));
        args.addAll(List.of(options));
        return cli(args.toArray(String[]::new));
    }

    /** The app's one running container, which must be {@code version}; its id. */
    private String runningOnly(String version) {
        List<Containers.Container> running = containers.running(device);
        assertThat(running).extracting(Containers.Container::version).containsExactly(version);
        return running.get(0).id();
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
        for (String version : versions) {
            images.remove(imageRepo + ":" + version);
        }
    }
}
