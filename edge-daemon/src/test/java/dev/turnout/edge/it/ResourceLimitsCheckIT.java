package dev.turnout.edge.it;

import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EngineDisk;
import dev.turnout.edge.docker.DockerContainerRuntime;
import dev.turnout.edge.domain.ContainerUsage;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.health.HealthChecker;
import dev.turnout.edge.health.MonotonicClock;
import dev.turnout.edge.health.Probes;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.ResourceLimits;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The measurements behind a release's resource limits, on real containers of the real engine: one stats sample reads
 * the container's memory limit and CPU counters; a container that spins its CPU limit fails CPU_LIMIT; the engine's
 * disk is measured on Docker's data root (DISK_LIMIT); a quiet container passes every limit.
 */
class ResourceLimitsCheckIT {

    private static final long MIB = 1024 * 1024;
    private static final String RUN = "it-limits-" + UUID.randomUUID().toString().substring(0, 8);
    private static final String IMAGE = "turnout-edge-it/" + RUN + ":1";

    @TempDir
    static Path work;

    private static DockerContainerRuntime runtime;
    private static String imageId;

    @BeforeAll
    static void image() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        Path root = Files.createDirectories(work.resolve("root"));
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "sleep", "true")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Files.createDirectories(root.resolve("tmp"));
        Path tar = work.resolve("root.tar");
        DockerCli.output("tar", "-C", root.toString(), "-cf", tar.toString(), ".");
        DockerCli.output("docker", "import", tar.toString(), IMAGE);
        imageId = DockerCli.output("docker", "image", "inspect", "--format", "{{.Id}}", IMAGE).strip();
        runtime = new DockerContainerRuntime(EdgeConfig.DEFAULT_DOCKER_HOST);
    }

    @AfterAll
    static void cleanUp() {
        if (runtime == null) {
            return;
        }
        String ids = DockerCli.output("docker", "ps", "-aq", "--filter", "label=dev.turnout.device=" + RUN);
        for (String id : ids.split("\\s+")) {
            if (!id.isBlank()) {
                DockerCli.exitCode("docker", "rm", "-f", id);
            }
        }
        DockerCli.exitCode("docker", "rmi", "-f", IMAGE);
        runtime.close();
    }

    private final HealthChecker checker = new HealthChecker(id -> runtime.status(id), new Probes(runtime), MonotonicClock.SYSTEM, 0,
            id -> runtime.usage(id), new EngineDisk(() -> runtime.dataRoot(), work));

    private static Release release(ContainerSpec container, ResourceLimits limits, long soakMs) {
        return Release.newBuilder().setApp("web").setVersion("1.0.0").setContainer(container)
                .setHealth(HealthCheck.newBuilder().setIntervalMs(250).setTimeoutMs(1000).setRetries(3).setSoakMs(soakMs))
                .setLimits(limits).build();
    }

    private static String start(ContainerSpec spec) throws UpdateFailure {
        String id = runtime.create(RUN + "-" + UUID.randomUUID().toString().substring(0, 6), imageId, spec, Map.of("dev.turnout.device", RUN));
        runtime.start(id);
        return id;
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void oneStatsSampleGivesTheContainersMemoryLimitAndCpuCounters() throws Exception {
        String id = start(ContainerSpec.newBuilder().addAllCommand(List.of("/bin/sleep", "3600")).setNetwork("none")
                .setMemoryBytes(32 * MIB).build());
        try {
            ContainerUsage usage = runtime.usage(id);
            assertThat(usage.memoryLimitBytes()).isEqualTo(32 * MIB);
            assertThat(usage.memoryBytes()).isPositive().isLessThan(32 * MIB);
            assertThat(usage.cpuNanos()).isPositive();
            assertThat(usage.systemCpuNanos()).isGreaterThan(usage.cpuNanos());
            assertThat(usage.onlineCpus()).isPositive();
        } finally {
            runtime.remove(id);
        }
    }

    @Test
    @Timeout(value = 40, unit = TimeUnit.SECONDS)
    void aContainerSpinningItsCpuLimitFailsCpuLimitAndAQuietOnePassesEveryLimit() throws Exception {
        ContainerSpec spinning = ContainerSpec.newBuilder().addAllCommand(List.of("/bin/sh", "-c", "while :; do :; done"))
                .setNetwork("none").setNanoCpus(500_000_000L).build();
        // a low bar: on a loaded 2-core machine the loop gets far less than its half CPU, but never nothing for 2 s
        ResourceLimits cpu = ResourceLimits.newBuilder().setCpuPercent(10).setCpuForMs(2000).build();
        String busy = start(spinning);
        try {
            assertThatThrownBy(() -> checker.verify(busy, release(spinning, cpu, 15_000)))
                    .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).as(e.getMessage()).isEqualTo(Reason.CPU_LIMIT))
                    .hasMessageContaining("of its 0.5 CPUs limit").hasMessageContaining("(limit 10% for 2 s)");
        } finally {
            runtime.remove(busy);
        }

        ContainerSpec quietSpec = ContainerSpec.newBuilder().addAllCommand(List.of("/bin/sleep", "3600")).setNetwork("none")
                .setMemoryBytes(32 * MIB).setNanoCpus(500_000_000L).build();
        String quiet = start(quietSpec);
        try {
            long begin = System.nanoTime();
            checker.verify(quiet, release(quietSpec, cpu.toBuilder().setMemoryPercent(90).setDiskPercent(100).build(), 3000));
            assertThat(Duration.ofNanos(System.nanoTime() - begin)).isGreaterThanOrEqualTo(Duration.ofSeconds(3));
        } finally {
            runtime.remove(quiet);
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void theDiskMeasuredIsTheFilesystemOfDockersDataRoot() throws Exception {
        String root = runtime.dataRoot();
        assertThat(root).isNotEmpty();
        ContainerSpec spec = ContainerSpec.newBuilder().addAllCommand(List.of("/bin/sleep", "3600")).setNetwork("none").build();
        String id = start(spec);
        try {
            // a limit below what any real disk holds: the first sample exceeds it
            assertThatThrownBy(() -> checker.verify(id, release(spec, ResourceLimits.newBuilder().setDiskPercent(0.01).build(), 5000)))
                    .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DISK_LIMIT))
                    .hasMessageStartingWith("disk " + root + " is ").hasMessageEndingWith("(limit 0.01%)");
        } finally {
            runtime.remove(id);
        }
    }
}
