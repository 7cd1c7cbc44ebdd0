package dev.turnout.edge.health;

import dev.turnout.edge.domain.ContainerUsage;
import dev.turnout.edge.domain.DiskUse;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.Reason;
import dev.turnout.proto.ResourceLimits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The decision alone: given the samples a check takes, which limit (if any) the release exceeded, and the words for it. */
class ResourceWatchTest {

    private static final long MIB = 1024 * 1024;
    private static final long HOST = 8L * 1024 * MIB;
    private static final long S = 1_000_000_000L;

    private static ContainerSpec memory(long bytes) {
        return ContainerSpec.newBuilder().setMemoryBytes(bytes).build();
    }

    private static ContainerUsage mem(long bytes, long cgroupLimit) {
        return new ContainerUsage(bytes, cgroupLimit, 0, 0, 4);
    }

    @ParameterizedTest(name = "{0} MiB used of a {1} MiB limit, limit {2}%: {3}")
    @CsvSource({
            "57,  64, 90, ",                    // 89 %: within
            "58,  64, 90, MEMORY_LIMIT",        // 90.6 %
            "64,  64, 90, MEMORY_LIMIT",
            "32,  64, 50, ",                    // exactly 50 %: not above
            "33,  64, 50, MEMORY_LIMIT"})
    void memoryAboveItsShareOfTheContainersLimit(long usedMib, long limitMib, double percent, Reason expected) {
        ResourceWatch watch = new ResourceWatch(ResourceLimits.newBuilder().setMemoryPercent(percent).build(), memory(limitMib * MIB));
        if (expected == null) {
            assertThatCode(() -> watch.judge(mem(usedMib * MIB, limitMib * MIB), 0)).doesNotThrowAnyException();
        } else {
            assertThatThrownBy(() -> watch.judge(mem(usedMib * MIB, limitMib * MIB), 0))
                    .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(expected));
        }
    }

    @Test
    void theMessageSaysTheFigureMeasuredAndTheLimit() {
        ResourceWatch watch = new ResourceWatch(ResourceLimits.newBuilder().setMemoryPercent(90).build(), memory(64 * MIB));
        assertThatThrownBy(() -> watch.judge(mem((long) (61.2 * MIB), 64 * MIB), 0))
                .hasMessage("memory 61.2 MiB is 95.6% of its 64 MiB limit (limit 90%)");
    }

    @Test
    void withoutAMemoryLimitTheShareIsOfTheHostsMemory() {
        ResourceWatch watch = new ResourceWatch(ResourceLimits.newBuilder().setMemoryPercent(50).build(), ContainerSpec.getDefaultInstance());
        assertThatCode(() -> watch.judge(mem(4000 * MIB, HOST), 0)).doesNotThrowAnyException();
        assertThatThrownBy(() -> watch.judge(mem(4200 * MIB, HOST), 0))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.MEMORY_LIMIT))
                .hasMessage("memory 4.1 GiB is 51.3% of the host's 8 GiB (limit 50%)");
    }

    /** Samples of a container's CPU counter against the host's (4 CPUs: the host's counter grows 4 s each second). */
    private static ContainerUsage cpu(double cpusSoFarSeconds, long atSecond) {
        return new ContainerUsage(0, HOST, (long) (cpusSoFarSeconds * S), atSecond * 4 * S, 4);
    }

    @Test
    void cpuFailsOnlyWhenAboveTheLimitForTheWholeDuration() throws UpdateFailure {
        // one CPU limit; 95 % for 3 s
        ResourceWatch watch = new ResourceWatch(ResourceLimits.newBuilder().setCpuPercent(95).setCpuForMs(3000).build(),
                ContainerSpec.newBuilder().setNanoCpus(1_000_000_000L).build());
        watch.judge(cpu(0, 0), 0);
        watch.judge(cpu(0.99, 1), S);       // 99 % for 1 s
        watch.judge(cpu(1.5, 2), 2 * S);    // 51 %: the run is broken
        watch.judge(cpu(2.5, 3), 3 * S);    // 100 % for 1 s
        watch.judge(cpu(3.5, 4), 4 * S);    // 2 s
        assertThatThrownBy(() -> watch.judge(cpu(4.48, 5), 5 * S)) // 3 s above
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.CPU_LIMIT))
                .hasMessage("CPU 98% of its 1 CPU limit (0.98 CPUs), above the limit for 3 s (limit 95% for 3 s)");
    }

    @Test
    void withoutACpuLimitTheShareIsOfAllTheHostsCpus() throws UpdateFailure {
        ResourceWatch watch = new ResourceWatch(ResourceLimits.newBuilder().setCpuPercent(50).setCpuForMs(1000).build(),
                ContainerSpec.getDefaultInstance());
        watch.judge(cpu(0, 0), 0);
        watch.judge(cpu(1.9, 1), S); // 1.9 of 4 CPUs: 47.5 %
        assertThatThrownBy(() -> watch.judge(cpu(4.1, 2), 2 * S)) // 2.2 of 4: 55 %
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.CPU_LIMIT))
                .hasMessageContaining("CPU 55% of the host's 4 CPUs");
    }

    @Test
    void aCounterThatBeginsAgainAfterARestartStartsTheDurationAfresh() throws UpdateFailure {
        ResourceWatch watch = new ResourceWatch(ResourceLimits.newBuilder().setCpuPercent(50).setCpuForMs(2000).build(),
                ContainerSpec.newBuilder().setNanoCpus(1_000_000_000L).build());
        watch.judge(cpu(0, 0), 0);
        watch.judge(cpu(1, 1), S);        // 100 % for 1 s
        watch.judge(cpu(0.1, 2), 2 * S);  // the container restarted: its counter went back
        watch.judge(cpu(1.1, 3), 3 * S);  // 100 % for 1 s again
        assertThatThrownBy(() -> watch.judge(cpu(2.1, 4), 4 * S)).hasMessageContaining("for 2 s");
    }

    @Test
    void diskAboveItsLimitAsDfCountsIt() throws UpdateFailure {
        ResourceWatch watch = new ResourceWatch(ResourceLimits.newBuilder().setDiskPercent(95).build(), ContainerSpec.getDefaultInstance());
        watch.judge(new DiskUse("/var/lib/docker", 94 * MIB, 6 * MIB));
        assertThatThrownBy(() -> watch.judge(new DiskUse("/var/lib/docker", 96 * MIB, 4 * MIB)))
                .isInstanceOfSatisfying(UpdateFailure.class, e -> assertThat(e.reason()).isEqualTo(Reason.DISK_LIMIT))
                .hasMessage("disk /var/lib/docker is 96% full (96 MiB used, 4 MiB available) (limit 95%)");
    }

    @Test
    void limitsLeftOutWatchNothingAndTheRestartLimitOverridesTheDevicesOnlyWhenSet() throws UpdateFailure {
        ResourceWatch none = ResourceWatch.none();
        assertThat(none.watchesUsage()).isFalse();
        assertThat(none.watchesDisk()).isFalse();
        none.judge(mem(HOST, HOST), 0);
        none.judge(new DiskUse("/", 100, 0));
        assertThat(none.maxRestarts(2)).isEqualTo(2);
        assertThat(new ResourceWatch(ResourceLimits.newBuilder().setRestarts(0).build(), ContainerSpec.getDefaultInstance()).maxRestarts(2))
                .isZero();
        assertThat(new ResourceWatch(ResourceLimits.newBuilder().setRestarts(5).build(), ContainerSpec.getDefaultInstance()).maxRestarts(0))
                .isEqualTo(5);
    }
}
