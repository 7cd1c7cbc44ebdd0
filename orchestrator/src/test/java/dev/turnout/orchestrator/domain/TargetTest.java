package dev.turnout.orchestrator.domain;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TargetTest {

    private final List<Device> inventory = List.of(
            device("pi-3", Map.of("site", "attic"), List.of("yard")),
            device("pi-1", Map.of("site", "attic"), List.of()),
            device("pi-2", Map.of("site", "cellar"), List.of("yard")));

    @Test
    void allSelectsEveryDeviceSorted() {
        assertThat(Target.parse("all").select(inventory)).containsExactly("pi-1", "pi-2", "pi-3");
        assertThat(Target.parse(null).select(inventory)).containsExactly("pi-1", "pi-2", "pi-3");
    }

    @Test
    void devicesGroupsAndLabels() {
        assertThat(Target.parse("device:pi-3,pi-1").select(inventory)).containsExactly("pi-1", "pi-3");
        assertThat(Target.parse("group:yard").select(inventory)).containsExactly("pi-2", "pi-3");
        assertThat(Target.parse("label:site=attic").select(inventory)).containsExactly("pi-1", "pi-3");
        assertThat(Target.parse("label:site=moon").select(inventory)).isEmpty();
    }

    @Test
    void printsTheWayItParses() {
        for (String text : new String[] {"all", "device:a,b", "group:yard", "label:site=attic"}) {
            assertThat(Target.parse(text).toString()).isEqualTo(text);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"everything", "device:", "group:", "label:site", "label:=x", "host:pi-1"})
    void invalidTargetsAreRefused(String text) {
        assertThatThrownBy(() -> Target.parse(text)).isInstanceOf(InvalidInputException.class).hasMessageContaining("target");
    }

    private static Device device(String id, Map<String, String> labels, List<String> groups) {
        return new Device(id, labels, groups, Instant.EPOCH, true, null, null);
    }
}
