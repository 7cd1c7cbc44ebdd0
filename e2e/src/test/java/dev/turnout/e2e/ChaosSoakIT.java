package dev.turnout.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The chaos soak of {@code bin/bench soak} in short, in CI: 50 simulated devices, the two real daemons, five
 * rollouts (one of a release that fails its health check) and one fault of each kind, with a fixed seed. Asserts
 * the invariants, not the timing.
 */
class ChaosSoakIT {

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void fiveRolloutsThroughEveryKindOfFaultLeaveEveryDeviceOnOneVersionAndLoseNoReport() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream tee = new PrintStream(new java.io.OutputStream() {
            @Override
            public void write(int b) {
                bytes.write(b);
                System.out.write(b);
            }
        }, true, StandardCharsets.UTF_8);
        ChaosSoak soak = new ChaosSoak(tee);
        soak.parse(new String[] {"--devices", "50", "--rollouts", "5", "--seed", "20", "--groups", "3",
            "--work", Path.of("target", "soak-it").toString()});
        ChaosSoak.Result r = soak.run();
        String printed = bytes.toString(StandardCharsets.UTF_8);

        assertThat(r.violations()).isEmpty();
        assertThat(r.devicesOnTwoOrNone()).isZero();
        assertThat(r.devicesMisreported()).isZero();
        assertThat(r.reportsLost()).isZero();
        assertThat(r.reportsSent()).as("reports the simulated devices sent").isGreaterThan(50L * 5 * 3);
        assertThat(r.rolloutsByState()).containsEntry("SUCCEEDED", 4).containsEntry("ROLLED_BACK", 1);
        assertThat(r.faults()).containsOnlyKeys(ChaosSoak.Fault.values()).allSatisfy((kind, n) -> assertThat(n).isEqualTo(1));
        assertThat(r.heapAfterFirst()).isPositive();
        assertThat(r.heapAfterLast()).isPositive();
        assertThat(printed).contains("devices on two versions or none           : 0", "reports lost (acknowledged vs audited)    : 0 of",
                "orchestrator live heap after a full GC", "time per rollout", "faults injected", "seed                                      : 20",
                "every invariant held");
    }

    @Test
    void badOptionsAreRefusedBeforeAnythingStarts() {
        assertThatThrownBy(() -> fresh().parse(new String[] {"--broker", "rabbitmq"})).hasMessageContaining("embedded or mosquitto");
        assertThatThrownBy(() -> fresh().parse(new String[] {"--devices", "many"})).hasMessageContaining("whole number");
        assertThatThrownBy(() -> fresh().parse(new String[] {"--rollouts"})).hasMessageContaining("needs a value");
        assertThatThrownBy(() -> fresh().parse(new String[] {"--devices", "3"})).hasMessageContaining("at least 10");
    }

    private static ChaosSoak fresh() {
        return new ChaosSoak(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }
}
