package dev.turnout.orchestrator.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The Docker image's entry point and health probe: what they make of TURNOUT_SERVER_ARGS (ServerImageIT runs them in the image). */
class ImageEntrypointTest {

    @Test
    void serverIsTheDefaultCommandAndTakesServerEnvFlagsFirst() {
        Map<String, String> env = Map.of("TURNOUT_SERVER_ARGS", "  --broker-url tcp://mosquitto:1883\t--advertise-host central.example ");
        assertThat(ImageEntrypoint.commandLine(env)).containsExactly("server", "--broker-url", "tcp://mosquitto:1883",
                "--advertise-host", "central.example");
        assertThat(ImageEntrypoint.commandLine(env, "server", "--http-port", "9090")).containsExactly("server", "--broker-url",
                "tcp://mosquitto:1883", "--advertise-host", "central.example", "--http-port", "9090");
        assertThat(ImageEntrypoint.commandLine(Map.of("TURNOUT_SERVER_ARGS", ""))).containsExactly("server");
        assertThat(ImageEntrypoint.commandLine(Map.of())).containsExactly("server");
        // other commands run as given, without the server's flags
        assertThat(ImageEntrypoint.commandLine(env, "devices", "-o", "json")).containsExactly("devices", "-o", "json");
    }

    @Test
    void healthProbeFindsPortSchemeAndAddressInTheServerFlags() {
        assertThat(HealthProbe.target(List.of())).hasToString("http://127.0.0.1:8080/api/v1/health");
        assertThat(HealthProbe.target(List.of("--http-port", "9090", "--broker-url", "tcp://m:1883")))
                .hasToString("http://127.0.0.1:9090/api/v1/health");
        assertThat(HealthProbe.target(List.of("--http-port=9443", "--tls"))).hasToString("https://127.0.0.1:9443/api/v1/health");
        assertThat(HealthProbe.target(List.of("--tls-cert", "/x.pem", "--bind", "10.0.0.5"))).hasToString("https://10.0.0.5:8080/api/v1/health");
        assertThat(HealthProbe.target(List.of("--bind", "0.0.0.0"))).hasToString("http://127.0.0.1:8080/api/v1/health");
        assertThat(HealthProbe.target(List.of("--bind", "::1"))).hasToString("http://[::1]:8080/api/v1/health");
    }

    @Test
    void healthProbeSaysUnhealthyWhenNothingAnswers() throws IOException {
        int port;
        try (var socket = new java.net.ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        var out = new java.io.ByteArrayOutputStream();
        int code = HealthProbe.probe(Map.of("TURNOUT_SERVER_ARGS", "--http-port " + port), new java.io.PrintStream(out, true));
        assertThat(code).isEqualTo(1);
        assertThat(out.toString()).startsWith("unhealthy: http://127.0.0.1:" + port + "/api/v1/health").contains("Connection refused");
    }

    @Test
    void aDataDirectoryThatIsAFileIsRefusedByName(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("data"), "x");
        assertThat(DataDirectory.problem(file)).isEqualTo("the data directory " + file + " is not a directory");
        assertThat(DataDirectory.problem(file.resolve("sub"))).contains("its parent " + file, "is not a directory");
        assertThat(DataDirectory.problem(dir.resolve("new/data"))).isNull();
        assertThat(DataDirectory.problem(dir)).isNull();
    }
}
