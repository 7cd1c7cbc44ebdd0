package dev.turnout.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TopicsTest {

    private final Topics topics = Topics.defaults();

    @Test
    void namesFollowTheContract() {
        assertThat(topics.desired("pi-1")).isEqualTo("turnout/v1/devices/pi-1/desired");
        assertThat(topics.status("pi-1")).isEqualTo("turnout/v1/devices/pi-1/status");
        assertThat(topics.rolloutEvents("r-1")).isEqualTo("turnout/v1/rollouts/r-1/events");
        assertThat(new Topics("site/a/").presence("x")).isEqualTo("site/a/devices/x/presence");
    }

    @Test
    void extractsDeviceAndKind() {
        assertThat(topics.deviceIdOf("turnout/v1/devices/pi-7/status")).contains("pi-7");
        assertThat(topics.kindOf("turnout/v1/devices/pi-7/status")).contains("status");
        assertThat(topics.deviceIdOf("other/devices/pi-7/status")).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "a+b", "a#", "a/b", "a b", "a\u0000b", "tab\t"})
    void refusesIdsThatBreakTopics(String id) {
        assertThat(Topics.isValidId(id)).isFalse();
        assertThatThrownBy(() -> topics.desired(id)).isInstanceOf(IllegalArgumentException.class);
    }
}
