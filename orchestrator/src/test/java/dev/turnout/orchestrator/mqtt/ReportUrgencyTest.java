package dev.turnout.orchestrator.mqtt;

import dev.turnout.proto.UpdateState;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Which status reports go ahead of other devices' queued reports: everything a device says once activated. */
class ReportUrgencyTest {

    private static final Set<UpdateState> AFTER_ACTIVATION = Set.of(UpdateState.APPLYING, UpdateState.VERIFYING, UpdateState.ACTIVE,
            UpdateState.ROLLING_BACK, UpdateState.ROLLED_BACK, UpdateState.FAILED, UpdateState.REJECTED,
            UpdateState.WAITING_FOR_WINDOW);

    @ParameterizedTest
    @EnumSource(value = UpdateState.class, names = "UNRECOGNIZED", mode = EnumSource.Mode.EXCLUDE)
    void onlyWhatADeviceSaysOnceActivatedIsUrgent(UpdateState state) {
        assertThat(MqttFleetTransport.decidesAWave(state)).isEqualTo(AFTER_ACTIVATION.contains(state));
    }
}
