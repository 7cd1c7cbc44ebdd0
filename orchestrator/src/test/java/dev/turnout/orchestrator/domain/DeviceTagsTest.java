package dev.turnout.orchestrator.domain;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

class DeviceTagsTest {

    private static final Map<String, String> NOW = Map.of("site", "attic", "tier", "1");

    /** current labels {site=attic, tier=1}; set, remove -> the labels after, or the refusal's message. */
    static Stream<Arguments> relabels() {
        return Stream.of(
                arguments(Map.of("site", "cellar"), List.of(), "{site=cellar, tier=1}"),
                arguments(Map.of("room", "2"), List.of(), "{room=2, site=attic, tier=1}"),
                arguments(Map.of(), List.of("tier"), "{site=attic}"),
                arguments(Map.of(), List.of("absent"), "{site=attic, tier=1}"),
                arguments(Map.of("note", ""), List.of("tier"), "{note=, site=attic}"),
                arguments(Map.of("k8s.io/zone", "eu-1"), List.of(), "{k8s.io/zone=eu-1, site=attic, tier=1}"),
                arguments(Map.of(), List.of(), "refused: no label to set or remove"),
                arguments(Map.of("tier", "2"), List.of("tier"), "refused: label tier is both set and removed"),
                arguments(Map.of("a=b", "c"), List.of(), "refused: label key 'a=b' is invalid: use 1-64 letters"),
                arguments(Map.of("", "c"), List.of(), "refused: label key '' is invalid"),
                arguments(Map.of("k".repeat(65), "c"), List.of(), "refused: is invalid"),
                arguments(Map.of("site", "attic "), List.of(), "refused: label site has whitespace around its value"),
                arguments(Map.of("site", "at\ntic"), List.of(), "refused: label site has a control character in its value"),
                arguments(Map.of("site", "x".repeat(129)), List.of(), "refused: label site has a value of 129 characters: at most 128"),
                arguments(Map.of(), List.of("a b"), "refused: label key 'a b' is invalid"));
    }

    @ParameterizedTest(name = "set {0} remove {1}: {2}")
    @MethodSource("relabels")
    void relabel(Map<String, String> set, List<String> remove, String expected) {
        if (expected.startsWith("refused: ")) {
            assertThatThrownBy(() -> DeviceTags.relabel(NOW, set, remove)).isInstanceOf(InvalidInputException.class)
                    .hasMessageContaining(expected.substring("refused: ".length()));
        } else {
            assertThat(DeviceTags.relabel(NOW, set, remove).toString()).isEqualTo(expected);
        }
    }

    /** current groups [yard, north]; add, remove -> the groups after, or the refusal's message. */
    static Stream<Arguments> regroups() {
        return Stream.of(
                arguments("canary", "", "[yard, north, canary]"),
                arguments("north", "", "[yard, north]"),
                arguments("", "yard", "[north]"),
                arguments("south", "yard,north", "[south]"),
                arguments("", "absent", "[yard, north]"),
                arguments("", "", "refused: no group to add or remove"),
                arguments("yard", "yard", "refused: group yard is both added and removed"),
                arguments("a,b", "", "[yard, north, a, b]"),
                arguments("a:b", "", "refused: group 'a:b' is invalid"),
                arguments("a=b", "", "refused: group 'a=b' is invalid"));
    }

    @ParameterizedTest(name = "add {0} remove {1}: {2}")
    @MethodSource("regroups")
    void regroup(String add, String remove, String expected) {
        List<String> adding = add.isEmpty() ? List.of() : Arrays.asList(add.split(","));
        List<String> removing = remove.isEmpty() ? List.of() : Arrays.asList(remove.split(","));
        if (expected.startsWith("refused: ")) {
            assertThatThrownBy(() -> DeviceTags.regroup(List.of("yard", "north"), adding, removing))
                    .isInstanceOf(InvalidInputException.class).hasMessageContaining(expected.substring("refused: ".length()));
        } else {
            assertThat(DeviceTags.regroup(List.of("yard", "north"), adding, removing).toString()).isEqualTo(expected);
        }
    }

    @Test
    void enrollmentTakesNoneAndDropsRepeatedGroups() {
        assertThat(DeviceTags.checkLabels(null)).isEmpty();
        assertThat(DeviceTags.checkGroups(null)).isEmpty();
        assertThat(DeviceTags.checkGroups(List.of("yard", "yard", "north"))).containsExactly("yard", "north");
        java.util.Map<String, String> noValue = new java.util.HashMap<>();
        noValue.put("site", null);
        assertThatThrownBy(() -> DeviceTags.checkLabels(noValue)).hasMessageContaining("label site has no value");
    }

    @Test
    void whatTheRulesLetThroughATargetCanName() {
        Map<String, String> labels = DeviceTags.relabel(Map.of(), Map.of("k8s.io/zone", "eu 1"), List.of());
        Device d = new Device("pi-1", labels, DeviceTags.regroup(List.of(), List.of("yard.north_1"), List.of()), null, false, null, null);
        assertThat(Target.parse("label:k8s.io/zone=eu 1").matches(d)).isTrue();
        assertThat(Target.parse("group:yard.north_1").matches(d)).isTrue();
    }
}
