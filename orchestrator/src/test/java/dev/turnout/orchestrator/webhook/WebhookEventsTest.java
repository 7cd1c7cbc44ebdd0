package dev.turnout.orchestrator.webhook;

import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.RolloutEventType;
import dev.turnout.proto.RolloutState;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;

class WebhookEventsTest {

    @ParameterizedTest(name = "{0} in {1} -> {2}")
    @CsvSource({
        "CREATED,          ROLLOUT_RUNNING,      rollout.started",
        "WAVE_STARTED,     ROLLOUT_RUNNING,      rollout.wave_started",
        "WAVE_COMPLETED,   ROLLOUT_RUNNING,      rollout.wave_completed",
        "DEVICE_SUCCEEDED, ROLLOUT_RUNNING,      device.updated",
        "DEVICE_FAILED,    ROLLOUT_RUNNING,      device.failed",
        "DEVICE_JOINED,    ROLLOUT_RUNNING,      device.joined",
        "DEVICE_SKIPPED,   ROLLOUT_SUCCEEDED,    device.skipped",
        "STATE_CHANGED,    ROLLOUT_PAUSED,       rollout.paused",
        "STATE_CHANGED,    ROLLOUT_RUNNING,      rollout.resumed",
        "STATE_CHANGED,    ROLLOUT_SUCCEEDED,    rollout.completed",
        "STATE_CHANGED,    ROLLOUT_FAILED,       rollout.failed",
        "STATE_CHANGED,    ROLLOUT_ROLLING_BACK, rollout.rolling_back",
        "STATE_CHANGED,    ROLLOUT_ROLLED_BACK,  rollout.rolled_back",
        "STATE_CHANGED,    ROLLOUT_ABORTED,      rollout.aborted",
    })
    void everyRolloutEventHasItsName(RolloutEventType type, RolloutState state, String name) {
        RolloutEvent e = RolloutEvent.newBuilder().setRolloutId("r-1").setApp("web").setVersion("2.0.0").setType(type)
                .setState(state).setWave(2).setDeviceId(type.name().startsWith("DEVICE") ? "pi-a" : "").setMessage("m")
                .setTimestampMs(1_700_000_000_123L).build();
        WebhookEvents.Event event = WebhookEvents.of(e).orElseThrow();
        assertThat(event.name()).isEqualTo(name);
        assertThat(WebhookEvents.NAMES).contains(name);
        assertThat(event.time()).isEqualTo(Instant.ofEpochMilli(1_700_000_000_123L));
        assertThat(event.data()).containsEntry("rolloutId", "r-1").containsEntry("app", "web").containsEntry("version", "2.0.0")
                .containsEntry("wave", 2).containsEntry("state", state.name().substring("ROLLOUT_".length()));
        if (type.name().startsWith("DEVICE")) {
            assertThat(event.data()).containsEntry("deviceId", "pi-a");
        } else {
            assertThat(event.data()).doesNotContainKey("deviceId");
        }
    }

    @Test
    void anUnspecifiedTypeIsNoEvent() {
        assertThat(WebhookEvents.of(RolloutEvent.newBuilder().setRolloutId("r").build())).isEmpty();
    }

    @Test
    void presenceIsOnlineOrOffline() {
        Instant at = Instant.parse("2026-01-01T00:00:00Z");
        WebhookEvents.Event on = WebhookEvents.of("pi-a", Presence.newBuilder().setOnline(true).setPlatform("linux/arm64").build(), at);
        assertThat(on.name()).isEqualTo("device.online");
        assertThat(on.data()).containsEntry("deviceId", "pi-a").containsEntry("platform", "linux/arm64");
        assertThat(WebhookEvents.of("pi-a", Presence.newBuilder().setOnline(false).build(), at).name()).isEqualTo("device.offline");
    }
}
