package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.LogConfig;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The release spec as the device receives it, signed: every container field, in the wire's units. */
class ContainerSpecWireTest {

    private static ContainerSpec wired(ReleaseSpec.Container container) {
        Release release = new Release("trains", "1.0.0", Instant.parse("2026-11-22T10:00:00Z"),
                List.of(new ReleaseImage("linux/arm64", "sha256:" + "a".repeat(64), 1, "sha256:" + "b".repeat(64), "trains:1")),
                new ReleaseSpec(container, null));
        return DesiredStates.wire(release).getContainer();
    }

    @Test
    void everyFieldReachesTheWireInItsUnits() {
        ContainerSpec spec = wired(new ReleaseSpec.Container(List.of("/bin/trains"), Map.of("MODE", "production"), "none",
                List.of("8080:80"), List.of("/srv/trains:/data", "trains-cache:/cache"), List.of("/dev/gpiomem"), true, "on-failure",
                "1000:20", List.of("sys_rawio", "CAP_NET_ADMIN"), List.of("ALL"), "256m", "1.5",
                new ReleaseSpec.Logging("json-file", "5m", 4)));
        assertThat(spec).isEqualTo(ContainerSpec.newBuilder()
                .addCommand("/bin/trains").putEnv("MODE", "production").setNetwork("none").addPorts("8080:80")
                .addVolumes("/srv/trains:/data").addVolumes("trains-cache:/cache").addDevices("/dev/gpiomem")
                .setPrivileged(true).setRestart("on-failure").setUser("1000:20")
                .addCapAdd("SYS_RAWIO").addCapAdd("NET_ADMIN").addCapDrop("ALL")
                .setMemoryBytes(256L * 1024 * 1024).setNanoCpus(1_500_000_000L)
                .setLog(LogConfig.newBuilder().setDriver("json-file").setMaxSizeBytes(5_000_000).setMaxFile(4))
                .build());
    }

    @Test
    void whatTheSpecLeavesOutStaysUnsetForTheDeviceToDefault() {
        ContainerSpec spec = wired(new ReleaseSpec.Container(null, null, null, null, null, null, null, null));
        assertThat(spec.getUser()).isEmpty();
        assertThat(spec.getCapAddList()).isEmpty();
        assertThat(spec.getMemoryBytes()).isZero();
        assertThat(spec.getNanoCpus()).isZero();
        assertThat(spec.hasLog()).as("no logging: the device's default rotation").isFalse();

        ContainerSpec partly = wired(new ReleaseSpec.Container(null, null, null, null, null, null, null, null, null, null, null, null, null,
                new ReleaseSpec.Logging(null, null, 5)));
        assertThat(partly.getLog()).isEqualTo(LogConfig.newBuilder().setMaxFile(5).build());
    }
}
