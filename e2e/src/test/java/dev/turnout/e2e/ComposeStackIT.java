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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A Compose app on real parts: the orchestrator with its embedded broker, an edge daemon on this machine's Docker
 * engine, busybox images. Two services, {@code db} (writes into a named volume) and {@code web}, which waits for db
 * to be healthy and whose healthcheck reaches db by its service name over the app's network.
 */
class ComposeStackIT {

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-stack-" + run;
    private final String app = "trains" + run;
    private final List<String> imageRefs = new ArrayList<>();
    private final Map<String, Path> archives = new LinkedHashMap<>();
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;
    private Path config;

    private static final String COMPOSE = """
            services:
              web:
                image: %s
                command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
                depends_on:
                  db:
                    condition: service_healthy
                healthcheck:
                  test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/health && wget -q -O /dev/null http://db:8080/version"]
                  interval: %s
                  timeout: 2s
                  retries: 2
              db:
                image: %s
                command: ["/bin/sh", "-c", "cat /www/version >> /data/versions; exec /bin/httpd -f -p 8080 -h /www"]
                volumes: ["db-data:/data"]
                healthcheck:
                  test: ["CMD", "/bin/cat", "/www/health"]
                  interval: 500ms
                  retries: 2
            volumes:
              db-data:
            """;

    @BeforeEach
    void startServer() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aStackDeploysUpdatesOneServiceAloneAndRollsBackAsOne() throws Exception {
        release("1.0.0", "web-1", true, "db-1", true);
        release("1.1.0", "web-2", true, "db-1", true);
        release("1.2.0", "web-3", false, "db-1", true); // web's new image fails its healthcheck
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config).withCheckInterval(Duration.ofSeconds(2)), work.resolve("edge"));
        toClose.add(edge::close);

        Operator.Result first = cli("deploy", app + ":1.0.0", "--target", "device:" + device, "--device-timeout", "2m", "--wait");
        assertThat(first.code()).as(first.toString()).isZero();
        Map<String, String> v1 = services();
        assertThat(v1).containsOnlyKeys("db", "web");
        assertThat(containers.running(device)).hasSize(2);
        for (String id : v1.values()) {
            assertThat(DockerCli.docker(TestEngines.DEFAULT, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", id))
                    .isEqualTo(app + "_default");
        }
        assertThat(DockerCli.docker(TestEngines.DEFAULT, "inspect", "--format",
                "{{index .Config.Labels \"com.docker.compose.project\"}}", v1.get("web"))).isEqualTo(app);
        assertThat(volumeFile()).isEqualTo("db-1");

        // only web changes: db keeps its container, running all along
        Operator.Result second = cli("deploy", app + ":1.1.0", "--target", "device:" + device, "--device-timeout", "2m", "--wait");
        assertThat(second.code()).as(second.toString()).isZero();
        Map<String, String> v2 = services();
        assertThat(v2.get("db")).isEqualTo(v1.get("db"));
        assertThat(v2.get("web")).isNotEqualTo(v1.get("web"));
        assertThat(containers.running(device)).hasSize(2);
        assertThat(containers.of(device)).as("the old web container is removed once 1.1.0 is healthy").hasSize(2);
        assertThat(volumeFile()).as("db was not restarted").isEqualTo("db-1");

        // web's new image is unhealthy: the whole app is back on 1.1.0 and the report names the service
        Operator.Result third = cli("deploy", app + ":1.2.0", "--target", "device:" + device, "--device-timeout", "2m", "--wait");
        assertThat(third.code()).as(third.toString()).isNotZero();
        JsonNode status = appOf();
        assertThat(status.path("state").asText()).isEqualTo("ROLLED_BACK");
        assertThat(status.path("runningVersion").asText()).isEqualTo("1.1.0");
        assertThat(status.path("message").asText()).startsWith("service web: ");
        assertThat(services()).isEqualTo(v2);
        assertThat(containers.running(device)).extracting(Containers.Container::version).containsOnly("1.1.0", "1.0.0");
        assertThat(containers.of(device)).as("1.2.0's container is gone").hasSize(2);
        assertThat(volumeFile()).isEqualTo("db-1");

        // drift: db's container removed by hand is recreated from the running release, on its volume
        DockerCli.docker(TestEngines.DEFAULT, "rm", "-f", v2.get("db"));
        await().atMost(Duration.ofSeconds(30)).until(() -> services().containsKey("db") && !services().get("db").equals(v2.get("db")));
        await().atMost(Duration.ofSeconds(15)).until(() -> "db-1\ndb-1".equals(volumeFile()));
        assertThat(services().get("web")).as("web untouched").isEqualTo(v2.get("web"));

        // removed (once the paused rollout is aborted): containers and network go, the named volume stays (as
        // `docker compose down` without -v)
        String paused = json.readTree(cli("rollout", "list", "--output", "json").out()).path("rollouts").path(0).path("id").asText();
        assertThat(cli("rollout", "abort", paused).code()).isZero();
        Operator.Result removed = cli("app", "remove", app, "--target", "device:" + device, "--wait", "--timeout", "1m");
        assertThat(removed.code()).as(removed.toString()).isZero();
        assertThat(containers.of(device)).isEmpty();
        assertThat(DockerCli.run(TestEngines.DEFAULT, "network", "inspect", app + "_default")).as("network removed").isNotZero();
        assertThat(DockerCli.run(TestEngines.DEFAULT, "volume", "inspect", app + "_db-data")).as("volume kept").isZero();
    }

    /**
     * The daemon dies while a stack's new release is being judged: at its restart it goes back to the whole previous
     * release (both services, ROLLED_BACK INTERRUPTED). The release was never judged, so the orchestrator asks again
     * with a new sequence (no failure counted) and the device ends on the whole new release.
     */
    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aDaemonRestartedMidUpdateGoesBackToTheWholePreviousVersionThenIsAskedAgain() throws Exception {
        release("1.0.0", "web-1", true, "db-1", true);
        release("2.0.0", "web-2", true, "db-2", true, "30s"); // web 2.0.0 stays "starting" for 30 s: the update is caught mid-way
        Path data = work.resolve("edge");
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), data);
        AtomicBoolean edgeClosed = new AtomicBoolean();
        toClose.add(() -> {
            if (edgeClosed.compareAndSet(false, true)) {
                edge.close();
            }
        });
        assertThat(cli("deploy", app + ":1.0.0", "--target", "device:" + device, "--device-timeout", "2m", "--wait").code()).isZero();

        assertThat(cli("deploy", app + ":2.0.0", "--target", "device:" + device, "--device-timeout", "3m").code()).isZero();
        await().atMost(Duration.ofSeconds(60)).until(() -> appOf().path("state").asText().equals("VERIFYING"));
        assertThat(containers.running(device)).extracting(Containers.Container::version).as("both services of 2.0.0 started")
                .containsOnly("2.0.0");
        if (edgeClosed.compareAndSet(false, true)) {
            edge.close(); // the daemon dies while 2.0.0 is being judged
        }

        EdgeDaemon again = EdgeDaemon.start(EdgeConfig.load(config), data);
        toClose.add(again::close);
        // at its restart the daemon went back to the whole of 1.0.0 and said why
        await().atMost(Duration.ofSeconds(60)).until(() -> cli("history", "--device", device).out().lines()
                .anyMatch(l -> l.contains("2.0.0 ROLLED_BACK INTERRUPTED")));
        // never judged, so asked again: the whole of 2.0.0 runs, nothing of 1.0.0 is left, the rollout succeeded
        await().atMost(Duration.ofSeconds(120)).until(() -> appOf().path("state").asText().equals("ACTIVE")
                && appOf().path("runningVersion").asText().equals("2.0.0"));
        assertThat(containers.running(device)).extracting(Containers.Container::version).as("both services of 2.0.0")
                .containsOnly("2.0.0").hasSize(2);
        assertThat(containers.of(device)).as("nothing of 1.0.0 is left").hasSize(2);
        String rolloutId = json.readTree(cli("rollout", "list", "--output", "json").out()).path("rollouts").path(0).path("id").asText();
        JsonNode rollout = json.readTree(cli("rollout", "status", rolloutId, "--output", "json").out());
        assertThat(rollout.path("version").asText()).isEqualTo("2.0.0");
        assertThat(rollout.path("state").asText()).as(rollout.toString()).isEqualTo("SUCCEEDED");
        assertThat(volumeFile()).as("the named volume kept what each db wrote: 1.0.0, 2.0.0, 1.0.0 again, 2.0.0 again")
                .startsWith("db-1\ndb-2\ndb-1").endsWith("db-2");
    }

    /** The release's services and their containers, as {@code docker ps} shows them (running or not). */
    private Map<String, String> services() {
        Map<String, String> byService = new LinkedHashMap<>();
        for (Containers.Container c : containers.running(device)) {
            byService.put(DockerCli.docker(TestEngines.DEFAULT, "inspect", "--format",
                    "{{index .Config.Labels \"com.docker.compose.service\"}}", c.id()), c.id());
        }
        return byService;
    }

    /** What db wrote into its named volume: one line per start of its container. */
    private String volumeFile() {
        String db = services().get("db");
        return DockerCli.docker(TestEngines.DEFAULT, "exec", db, "/bin/cat", "/data/versions").strip();
    }

    private void release(String version, String web, boolean webHealthy, String db, boolean dbHealthy) throws Exception {
        release(version, web, webHealthy, db, dbHealthy, "500ms");
    }

    private void release(String version, String web, boolean webHealthy, String db, boolean dbHealthy, String webCheckInterval)
            throws Exception {
        String webRef = "turnout-e2e/stack-web-" + run + ":" + web;
        String dbRef = "turnout-e2e/stack-db-" + run + ":" + db;
        Path dir = Files.createDirectories(work.resolve("release-" + version));
        Path webArchive = image(webRef, web, webHealthy);
        Path dbArchive = image(dbRef, db, dbHealthy);
        Path compose = Files.writeString(dir.resolve("docker-compose.yml"), COMPOSE.formatted(webRef, webCheckInterval, dbRef));
        String platform = images.enginePlatform();
        Operator.Result created = cli("release", "create", app + ":" + version, "--compose", compose.toString(),
                "--image", platform + "=" + webArchive, "--image", platform + "=" + dbArchive);
        assertThat(created.code()).as(created.toString()).isZero();
    }

    /** Each image is built once: the same tag in two releases is the same image (same id). */
    private Path image(String ref, String content, boolean healthy) throws Exception {
        if (!archives.containsKey(ref)) {
            archives.put(ref, images.build(ref, content, healthy, Files.createDirectories(work.resolve("images"))));
            imageRefs.add(ref);
        }
        return archives.get(ref);
    }

    private JsonNode appOf() throws Exception {
        for (JsonNode a : json.readTree(cli("device", "show", device, "--output", "json").out()).path("apps")) {
            if (a.path("app").asText().equals(app)) {
                return a;
            }
        }
        throw new AssertionError("device " + device + " shows no app " + app);
    }

    private Operator.Result cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        DockerCli.run(TestEngines.DEFAULT, "network", "rm", app + "_default");
        DockerCli.run(TestEngines.DEFAULT, "volume", "rm", app + "_db-data");
        imageRefs.forEach(images::remove);
    }
}
