package dev.turnout.edge.health;

import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.ContainerUsage;
import dev.turnout.edge.domain.DiskUse;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.ResourceLimits;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A release's resource limits, sampled at the pace of its health check through the soak. */
class HealthCheckerLimitsTest {

    private static final long MIB = 1024 * 1024;
    private static final ContainerStatus RUNNING = new ContainerStatus("running", true, false, 0, "");

    private static final class FakeClock implements MonotonicClock {
        long now;

        @Override
        public long nanoTime() {
            return now;
        }

        @Override
        public void sleep(Duration duration) {
            now += duration.toNanos();
        }
    }

    private final FakeClock clock = new FakeClock();
    private final Deque<ContainerStatus> statuses = new ArrayDeque<>(List.of(RUNNING));
    private final Deque<Long> memory = new ArrayDeque<>(List.of(10 * MIB));
    private final Deque<DiskUse> disks = new ArrayDeque<>(List.of(new DiskUse("/var/lib/docker", 50, 50)));
    private int samples;
    private int diskSamples;
    private boolean usageFails;

    private final HealthChecker checker = new HealthChecker(id -> statuses.size() > 1 ? statuses.poll() : statuses.peek(),
            check -> (id, timeout) -> true, clock, 0,
            id -> {
                samples++;
                if (usageFails) {
                    throw new UpdateFailure(Reason.ENGINE_ERROR, "engine busy", true, null);
                }
                long used = memory.size() > 1 ? memory.poll() : memory.peek();
                return new ContainerUsage(used, 64 * MIB, 0, 0, 4);
            },
            () -> {
                diskSamples++;
                return Optional.of(disks.size() > 1 ? disks.poll() : disks.peek());
            });

    private static Release release(ResourceLimits limits, String restart) {
        return Release.newBuilder().setApp("web").setVersion("2.0.0")
                .setContainer(ContainerSpec.newBuilder().setMemoryBytes(64 * MIB).setRestart(restart))
                .setHealth(HealthCheck.newBuilder().addExec("true").setIntervalMs(1000).setRetries(3).setSoakMs(10_000))
                .setLimits(limits).build();
    }

    @Test
    void aReleaseWithoutLimitsIsNeverMeasured() throws UpdateFailure {
        checker.verify("c", release(ResourceLimits.getDefaultInstance(), "no"));
        assertThat(samples).isZero();
        assertThat(diskSamples).isZero();
    }

    @Test
    void memoryIsSampledEveryIntervalAndFailsTheCheckOnceAboveTheLimit() {
        memory.clear();
        memory.addAll(List.of(10 * MIB, 20 * MIB, 30 * MIB, 40 * MIB, 50 * MIB));
        assertThatThrownBy(() -> checker.verify("c", release(ResourceLimits.newBuilder().setMemoryPercent(70).build(), "no")))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.MEMORY_LIMIT))
                .hasMessage("memory 50 MiB is 78.1% of its 64 MiB limit (limit 70%)");
        assertThat(samples).isEqualTo(5);
        assertThat(clock.now).as("one sample a second, as the probe").isEqualTo(Duration.ofSeconds(4).toNanos());
    }

    @Test
    void withinItsLimitsTheReleasePassesAfterSamplingThroughTheWholeSoak() throws UpdateFailure {
        checker.verify("c", release(ResourceLimits.newBuilder().setMemoryPercent(90).setDiskPercent(95).build(), "no"));
        assertThat(samples).isEqualTo(11);
        assertThat(diskSamples).isEqualTo(11);
    }

    @Test
    void aSampleTheEngineCannotGiveIsSkippedNotAFailure() throws UpdateFailure {
        usageFails = true;
        checker.verify("c", release(ResourceLimits.newBuilder().setMemoryPercent(10).build(), "no"));
        assertThat(samples).isEqualTo(11);
    }

    @Test
    void aFullDiskFailsTheCheck() {
        disks.clear();
        disks.addAll(List.of(new DiskUse("/var/lib/docker", 90, 10), new DiskUse("/var/lib/docker", 97, 3)));
        assertThatThrownBy(() -> checker.verify("c", release(ResourceLimits.newBuilder().setDiskPercent(95).build(), "no")))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DISK_LIMIT));
    }

    @Test
    void aContainerTheKernelOomKilledIsOomKilledEvenWithoutLimits() {
        statuses.clear();
        statuses.addAll(List.of(RUNNING, new ContainerStatus("exited", false, false, 0, "", true)));
        assertThatThrownBy(() -> checker.verify("c", release(ResourceLimits.getDefaultInstance(), "no")))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.OOM_KILLED))
                .hasMessage("the kernel killed the container for lack of memory (OOM): it reached its 64 MiB limit");
    }

    @Test
    void theReleasesRestartLimitReplacesTheDevicesCrashLoopRule() throws UpdateFailure {
        // the device tolerates no restart; the release tolerates 2
        ContainerStatus restarting = new ContainerStatus("restarting", false, true, 1, "");
        statuses.clear();
        statuses.addAll(List.of(RUNNING, restarting, new ContainerStatus("running", true, false, 2, "")));
        checker.verify("c", release(ResourceLimits.newBuilder().setRestarts(2).build(), "always"));

        clock.now = 0;
        statuses.clear();
        statuses.addAll(List.of(RUNNING, restarting, new ContainerStatus("restarting", false, true, 3, "")));
        assertThatThrownBy(() -> checker.verify("c", release(ResourceLimits.newBuilder().setRestarts(2).build(), "always")))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.CRASH_LOOP))
                .hasMessageContaining("restarted 3 times during the soak (more than 2 allowed)");
    }
}
