package dev.turnout.broker;

import dev.turnout.proto.Topics;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class TopicPolicyTest {

    private final TopicPolicy policy = new TopicPolicy(Topics.defaults());

    @Test
    void aDevicePublishesOnlyItsOwnReportsAndRetainsOnlyPresence() {
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/status", false)).isTrue();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/health", false)).isTrue();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/presence", true)).isTrue();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/status", true)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-b/status", false)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/desired", true)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/status/x", false)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/rollouts/r-1/events", false)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "trains/loco-1/speed", false)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "a/b", "turnout/v1/devices/a/b/status", false)).isFalse();
    }

    @Test
    void aDeviceSubscribesOnlyToItsOwnDesiredState() {
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/desired")).isTrue();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-b/desired")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/+/desired")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/#")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "#")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "$share/g/turnout/v1/devices/pi-b/desired")).isFalse();
    }

    @Test
    void aDeviceAnswersLogRequestsOnItsOwnTopicAndReadsOnlyItsOwnRequests() {
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/logs/response", false)).isTrue();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/logs/response", true)).as("never retained").isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-b/logs/response", false)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/logs/request", false)).as("no forged request").isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-b/logs/request", false)).isFalse();
        assertThat(policy.mayPublish(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/logs", false)).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/logs/request")).isTrue();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-b/logs/request")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-b/logs/response")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/logs/response")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/+/logs/response")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/logs/+")).isFalse();
        assertThat(policy.maySubscribe(Role.DEVICE, "pi-a", "turnout/v1/devices/pi-a/#")).isFalse();
    }

    @Test
    void onlyTheOrchestratorAsksForLogsAndReadsTheAnswers() {
        assertThat(policy.mayPublish(Role.ORCHESTRATOR, "orch", "turnout/v1/devices/pi-a/logs/request", false)).isTrue();
        assertThat(policy.maySubscribe(Role.ORCHESTRATOR, "orch", "turnout/v1/devices/+/logs/response")).isTrue();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/+/logs/response")).isFalse();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/pi-a/logs/response")).isFalse();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/pi-a/logs/request")).isFalse();
        assertThat(policy.mayPublish(Role.MONITOR, "mon", "turnout/v1/devices/pi-a/logs/request", false)).isFalse();
    }

    @Test
    void aMonitorReadsReportsAndRolloutEventsAndPublishesNothing() {
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/+/status")).isTrue();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/pi-a/health")).isTrue();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/+/presence")).isTrue();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/rollouts/+/events")).isTrue();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/+/+")).isFalse();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/+/desired")).isFalse();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/#")).isFalse();
        assertThat(policy.mayPublish(Role.MONITOR, "mon", "turnout/v1/devices/pi-a/status", false)).isFalse();
    }

    @Test
    void theOrchestratorOwnsThePrefixAndNothingElse() {
        assertThat(policy.mayPublish(Role.ORCHESTRATOR, "orch", "turnout/v1/devices/pi-a/desired", true)).isTrue();
        assertThat(policy.mayPublish(Role.ORCHESTRATOR, "orch", "turnout/v1/rollouts/r-1/events", false)).isTrue();
        assertThat(policy.maySubscribe(Role.ORCHESTRATOR, "orch", "turnout/v1/devices/+/status")).isTrue();
        assertThat(policy.maySubscribe(Role.ORCHESTRATOR, "orch", "$share/turnout/turnout/v1/devices/+/status")).isTrue();
        assertThat(policy.mayPublish(Role.ORCHESTRATOR, "orch", "trains/loco-1/speed", false)).isFalse();
        assertThat(policy.maySubscribe(Role.ORCHESTRATOR, "orch", "#")).isFalse();
        assertThat(policy.maySubscribe(Role.ORCHESTRATOR, "orch", "turnout/#")).isFalse();
    }

    @Test
    void malformedFiltersAreDenied() {
        assertThat(policy.maySubscribe(Role.ORCHESTRATOR, "orch", "turnout/v1/#/x")).isFalse();
        assertThat(policy.maySubscribe(Role.MONITOR, "mon", "turnout/v1/devices/a+/status")).isFalse();
    }
}
