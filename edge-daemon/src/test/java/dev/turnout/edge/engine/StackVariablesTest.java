package dev.turnout.edge.engine;

import com.google.protobuf.ByteString;
import dev.turnout.proto.ComposeApp;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.compose.ComposeFile;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A Compose release's {@code ${VAR}}s on the device: the device's own values (its config) win over the release's. */
class StackVariablesTest {

    private static final String FILE = """
            services:
              bridge:
                image: bridge:1
                environment:
                  BROKER_PASSWORD: ${BROKER_PASSWORD?the club broker password comes from the device config}
                  LAYOUT: ${LAYOUT:-attic}
                  LINE: ${LINE}
            """;

    private static Release release(Map<String, String> variables) {
        return Release.newBuilder().setApp("trains").setVersion("1.0.0").setCompose(ComposeApp.newBuilder()
                .setFileName("docker-compose.yml").setContent(ByteString.copyFromUtf8(FILE)).putAllVariables(variables)).build();
    }

    private static Map<String, String> environment(ComposeFile file) {
        return file.services().get("bridge").environment();
    }

    @Test
    void theDevicesOwnValuesFillWhatTheReleaseLeavesOpenAndWinOverItsValues() throws Exception {
        ComposeFile file = StackSwitch.read(release(Map.of("LINE", "north", "LAYOUT", "club")),
                Map.of("BROKER_PASSWORD", "s3cret-on-the-pi-only", "LINE", "south"));
        assertThat(environment(file)).containsEntry("BROKER_PASSWORD", "s3cret-on-the-pi-only")
                .containsEntry("LINE", "south").containsEntry("LAYOUT", "club");
    }

    @Test
    void aRequiredVariableNeitherSetsIsRefusedNamingIt() {
        assertThatThrownBy(() -> StackSwitch.read(release(Map.of("LINE", "north")), Map.of()))
                .isInstanceOfSatisfying(UpdateFailure.class, f -> assertThat(f.reason()).isEqualTo(Reason.MALFORMED))
                .hasMessageContaining("BROKER_PASSWORD").hasMessageContaining("comes from the device config");
    }
}
