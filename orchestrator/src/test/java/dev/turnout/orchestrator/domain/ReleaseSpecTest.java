package dev.turnout.orchestrator.domain;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ReleaseSpecTest {

    @Test
    void aCompleteSpecIsValid() {
        ReleaseSpec spec = new ReleaseSpec(
                new ReleaseSpec.Container(List.of("/bin/httpd", "-f"), null, "none", List.of(), List.of(), List.of(), false, "unless-stopped"),
                new ReleaseSpec.Health(List.of("/bin/true"), null, null, false, "1s", "2s", 3, "5s"));
        assertThatCode(spec::validate).doesNotThrowAnyException();
    }

    @Test
    void errorsNameTheField() {
        assertThatThrownBy(() -> new ReleaseSpec(new ReleaseSpec.Container(List.of("a", ""), null, null, null, null, null, null, null), null).validate())
                .hasMessageContaining("spec.container.command[1]");
        assertThatThrownBy(() -> new ReleaseSpec(new ReleaseSpec.Container(null, null, null, null, null, null, null, "sometimes"), null).validate())
                .hasMessageContaining("spec.container.restart");
        assertThatThrownBy(() -> new ReleaseSpec(null, new ReleaseSpec.Health(List.of("x"), "http://a", null, null, null, null, null, null)).validate())
                .hasMessageContaining("at most one probe");
        assertThatThrownBy(() -> new ReleaseSpec(null, new ReleaseSpec.Health(null, null, null, null, "fast", null, null, null)).validate())
                .hasMessageContaining("spec.health.interval");
    }
}
