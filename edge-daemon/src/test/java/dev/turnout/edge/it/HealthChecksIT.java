package dev.turnout.edge.it;

import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.docker.DockerContainerRuntime;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.health.HealthChecker;
import dev.turnout.edge.health.MonotonicClock;
import dev.turnout.edge.health.Probes;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Reason;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every kind of health check against real containers on the real Docker engine: HTTP (2xx), TCP connect,
 * exec inside the container, the image's own HEALTHCHECK, and a crash loop. One row per case.
 */
class HealthChecksIT {

    private static final String RUN = "it-health-" + UUID.randomUUID().toString().substring(0, 8);
    private static final String PLAIN = "turnout-edge-it/" + RUN + "-plain:1";
    private static final String WITH_HEALTHCHECK = "turnout-edge-it/" + RUN + "-hc:1";

    @TempDir
    static Path work;

    private static DockerContainerRuntime runtime;
    private static int port;

    /**
     * A row.
     *
     * @param reason null: the check must pass
     */
    record Row(String name, String image, List<String> command, String network, String restart, HealthCheck check, Reason reason) {
        @Override
        public String toString() {
            return name;
        }
    }

    @BeforeAll
    static void images() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        Path root = Files.createDirectories(work.resolve("root"));
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "httpd", "sleep", "true", "false", "test")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        for (String dir : List.of("tmp", "etc", "proc", "sys", "dev", "www")) {
            Files.createDirectories(root.resolve(dir));
        }
        Files.writeString(root.resolve("www/health"), "ok\n");
        Path tar = work.resolve("root.tar");
        DockerCli.output("tar", "-C", root.toString(), "-cf", tar.toString(), ".");
        DockerCli.output("docker", "import", tar.toString(), PLAIN);
        DockerCli.output("docker", "import", "--change",
                "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD [\"/bin/test\", \"-f\", \"/tmp/ready\"]", tar.toString(), WITH_HEALTHCHECK);
        runtime = new DockerContainerRuntime(EdgeConfig.DEFAULT_DOCKER_HOST);
        port = Ports.free();
    }

    @AfterAll
    static void cleanUp() {
        if (runtime == null) {
            return; // skipped or failed before anything was created
        }
        String ids = DockerCli.output("docker", "ps", "-aq", "--filter", "label=dev.turnout.device=" + RUN);
        for (String id : ids.split("\\s+")) {
            if (!id.isBlank()) {
                DockerCli.exitCode("docker", "rm", "-f", id);
            }
        }
        DockerCli.exitCode("docker", "rmi", "-f", PLAIN);
        DockerCli.exitCode("docker", "rmi", "-f", WITH_HEALTHCHECK);
        runtime.close();
    }

    static Stream<Row> rows() {
        List<String> httpd = List.of("/bin/httpd", "-f", "-p", "127.0.0.1:" + portPlaceholder(), "-h", "/www");
        List<String> sleep = List.of("/bin/sleep", "3600");
        return Stream.of(
                new Row("http 200 passes", PLAIN, httpd, "host", "no", quick().setHttp("http://127.0.0.1:" + portPlaceholder() + "/health").build(), null),
                new Row("http 404 fails", PLAIN, httpd, "host", "no", quick().setHttp("http://127.0.0.1:" + portPlaceholder() + "/missing").build(),
                        Reason.HEALTH_CHECK_FAILED),
                new Row("tcp connect passes", PLAIN, httpd, "host", "no", quick().setTcp("127.0.0.1:" + portPlaceholder()).build(), null),
                new Row("tcp refused fails", PLAIN, sleep, "host", "no", quick().setTcp("127.0.0.1:" + portPlaceholder()).build(),
                        Reason.HEALTH_CHECK_FAILED),
                new Row("exec exit 0 passes", PLAIN, sleep, "none", "no", quick().addExec("/bin/true").build(), null),
                new Row("exec exit 1 fails", PLAIN, sleep, "none", "no", quick().addExec("/bin/false").build(), Reason.HEALTH_CHECK_FAILED),
                new Row("docker HEALTHCHECK healthy passes", WITH_HEALTHCHECK,
                        List.of("/bin/sh", "-c", ": > /tmp/ready; exec /bin/sleep 3600"), "none", "no", quick().setDocker(true).build(), null),
                new Row("docker HEALTHCHECK unhealthy fails", WITH_HEALTHCHECK, sleep, "none", "no", quick().setDocker(true).build(),
                        Reason.HEALTH_CHECK_FAILED),
                new Row("docker check on an image without HEALTHCHECK fails", PLAIN, sleep, "none", "no", quick().setDocker(true).build(),
                        Reason.HEALTH_CHECK_FAILED),
                new Row("crash loop under restart=always fails", PLAIN, List.of("/bin/sh", "-c", "/bin/sleep 0.3; exit 3"), "none", "always",
                        HealthCheck.newBuilder().setIntervalMs(200).setTimeoutMs(1000).setRetries(3).setSoakMs(6000).build(), Reason.CRASH_LOOP),
                new Row("a container that exits fails", PLAIN, List.of("/bin/sh", "-c", "/bin/sleep 0.3; exit 3"), "none", "no",
                        quick().build(), Reason.HEALTH_CHECK_FAILED)
        );
    }

    private static HealthCheck.Builder quick() {
        return HealthCheck.newBuilder().setIntervalMs(250).setTimeoutMs(1000).setRetries(3).setSoakMs(1500);
    }

    /** Rows are built before the port is known; the placeholder is replaced when a row runs. */
    private static String portPlaceholder() {
        return "PORT";
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    @Timeout(value = 40, unit = TimeUnit.SECONDS)
    void healthCheck(Row row) throws Exception {
        List<String> command = row.command().stream().map(a -> a.replace("PORT", Integer.toString(port))).toList();
        HealthCheck check = HealthCheck.parseFrom(row.check().toByteArray()).toBuilder()
                .setHttp(row.check().getHttp().replace("PORT", Integer.toString(port)))
                .setTcp(row.check().getTcp().replace("PORT", Integer.toString(port))).build();
        String image = DockerCli.output("docker", "image", "inspect", "--format", "{{.Id}}", row.image());
        String id = runtime.create(RUN + "-" + UUID.randomUUID().toString().substring(0, 6), image,
                ContainerSpec.newBuilder().addAllCommand(command).setNetwork(row.network()).setRestart(row.restart()).build(),
                Map.of("dev.turnout.device", RUN));
        try {
            runtime.start(id);
            HealthChecker checker = new HealthChecker(runtime::status, new Probes(runtime), MonotonicClock.SYSTEM);
            long start = System.nanoTime();
            if (row.reason() == null) {
                checker.verify(id, check);
                assertThat(Duration.ofNanos(System.nanoTime() - start)).as("passes only after the soak")
                        .isGreaterThanOrEqualTo(Duration.ofMillis(check.getSoakMs()));
            } else {
                assertThatThrownBy(() -> checker.verify(id, check)).isInstanceOfSatisfying(UpdateFailure.class,
                        e -> assertThat(e.reason()).as(e.getMessage()).isEqualTo(row.reason()));
            }
        } finally {
            runtime.remove(id);
        }
    }
}
