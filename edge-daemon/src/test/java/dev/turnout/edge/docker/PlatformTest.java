package dev.turnout.edge.docker;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Which archive a device asks for: a wrong platform means a Pi that cannot run its image. */
class PlatformTest {

    /** A Pi Zero W (ARM1176): its kernel claims architecture 7, the model name says ARMv6. */
    private static final String PI_ZERO = """
            processor\t: 0
            model name\t: ARMv6-compatible processor rev 7 (v6l)
            BogoMIPS\t: 997.08
            Features\t: half thumb fastmult vfp edsp java tls
            CPU implementer\t: 0x41
            CPU architecture: 7
            CPU variant\t: 0x0
            CPU part\t: 0xb76

            Hardware\t: BCM2835
            Model\t\t: Raspberry Pi Zero W Rev 1.1
            """;

    /** A Pi 3 on 32-bit Raspberry Pi OS (Cortex-A53 in AArch32). */
    private static final String PI_3_32_BIT = """
            processor\t: 0
            model name\t: ARMv7 Processor rev 4 (v7l)
            BogoMIPS\t: 38.40
            CPU implementer\t: 0x41
            CPU architecture: 7
            CPU part\t: 0xd03
            """;

    /** A Pi 4 with a 64-bit kernel under a 32-bit Docker: the kernel shows no model name and architecture 8. */
    private static final String PI_4_64_BIT_KERNEL = """
            processor\t: 0
            BogoMIPS\t: 108.00
            Features\t: fp asimd evtstrm crc32 cpuid
            CPU implementer\t: 0x41
            CPU architecture: 8
            CPU part\t: 0xd08
            """;

    @Test
    void aPiZeroOrPi1RunsArmV6ImagesThoughItsKernelSaysArchitecture7() {
        assertThat(DockerContainerRuntime.armPlatform(PI_ZERO)).isEqualTo("linux/arm/v6");
    }

    @Test
    void aPi2Or3OnA32BitOsAndAnArmV8CpuUnderA32BitEngineRunArmV7Images() {
        assertThat(DockerContainerRuntime.armPlatform(PI_3_32_BIT)).isEqualTo("linux/arm/v7");
        assertThat(DockerContainerRuntime.armPlatform(PI_4_64_BIT_KERNEL)).isEqualTo("linux/arm/v7");
        assertThat(DockerContainerRuntime.armPlatform("")).as("cpuinfo unreadable").isEqualTo("linux/arm/v7");
    }

    @Test
    void enginesThatNameTheirArchitectureMapDirectly() {
        assertThat(DockerContainerRuntime.platformOf("amd64")).isEqualTo("linux/amd64");
        assertThat(DockerContainerRuntime.platformOf("x86_64")).isEqualTo("linux/amd64");
        assertThat(DockerContainerRuntime.platformOf("arm64")).isEqualTo("linux/arm64");
        assertThat(DockerContainerRuntime.platformOf("aarch64")).isEqualTo("linux/arm64");
        assertThat(DockerContainerRuntime.platformOf("armv6l")).isEqualTo("linux/arm/v6");
        assertThat(DockerContainerRuntime.platformOf("armv7l")).isEqualTo("linux/arm/v7");
    }
}
