package dev.turnout.orchestrator.engine;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.proto.ResourceLimits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The {@code limits:} part of a release spec: read as the CLI and the API read it, checked, and signed as numbers. */
class ReleaseLimitsTest {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private static final String SPEC = """
            container:
              command: ["/usr/local/bin/trains"]
              restart: on-failure
              memory: 64m
            health:
              http: http://127.0.0.1:8080/health
              soak: 1m
            limits:
              memory: 90%
              cpu: {percent: 95, for: 30s}
              disk: 95.5%
              restarts: 3
            """;

    @Test
    void everyLimitReadsFromYamlAndIsSignedAsNumbers() throws Exception {
        ReleaseSpec spec = YAML.readValue(SPEC, ReleaseSpec.class);
        spec.validate();
        assertThat(spec.limits().memoryPercent()).isEqualTo(90.0);
        assertThat(spec.limits().diskPercent()).isEqualTo(95.5);
        assertThat(spec.limits().cpu().percentValue()).isEqualTo(95.0);

        ResourceLimits wire = wire(spec).getLimits();
        assertThat(wire.getMemoryPercent()).isEqualTo(90.0);
        assertThat(wire.getCpuPercent()).isEqualTo(95.0);
        assertThat(wire.getCpuForMs()).isEqualTo(30_000);
        assertThat(wire.getDiskPercent()).isEqualTo(95.5);
        assertThat(wire.hasRestarts()).isTrue();
        assertThat(wire.getRestarts()).isEqualTo(3);
    }

    @Test
    void theSameKeysReadFromJsonAndLimitsLeftOutAreNotSigned() throws Exception {
        ReleaseSpec spec = JSON.readValue("{\"limits\": {\"memory\": \"80\"}}", ReleaseSpec.class);
        spec.validate();
        ResourceLimits wire = wire(spec).getLimits();
        assertThat(wire.getMemoryPercent()).isEqualTo(80.0);
        assertThat(wire.getCpuPercent()).isZero();
        assertThat(wire.getDiskPercent()).isZero();
        assertThat(wire.hasRestarts()).as("unset: the device's own crashLoopRestarts").isFalse();

        assertThat(wire(new ReleaseSpec(null, null)).hasLimits()).isFalse();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
            "memory: 120%                              | spec.limits.memory '120%' must be a percentage above 0 and at most 100",
            "memory: 0%                                | spec.limits.memory '0%' must be a percentage above 0",
            "memory: lots                              | spec.limits.memory 'lots' must be a percentage",
            "memory: 64m                               | spec.limits.memory '64m' must be a percentage",
            "disk: -5%                                 | spec.limits.disk '-5%' must be a percentage",
            "cpu: {percent: 95, for: soon}             | spec.limits.cpu.for 'soon' is not a duration",
            "cpu: {percent: 95, for: 0s}               | spec.limits.cpu.for must be longer than 0s",
            "cpu: {percent: 101%, for: 5s}             | spec.limits.cpu.percent '101%' must be a percentage",
            "cpu: {for: 5s}                            | spec.limits.cpu.percent is missing",
            "cpu: {percent: 95}                        | spec.limits.cpu.for is missing",
            "cpu: {percent: 95, for: 2m}               | spec.limits.cpu.for 2m is longer than spec.health.soak (1m)",
            "restarts: -1                              | spec.limits.restarts must not be negative"})
    void badLimitsAreRefusedNamingTheKey(String limit, String message) throws Exception {
        String yaml = """
                container: {restart: always}
                health: {soak: 1m}
                limits:
                  %s
                """.formatted(limit);
        ReleaseSpec spec = YAML.readValue(yaml, ReleaseSpec.class);
        assertThatThrownBy(spec::validate).isInstanceOf(InvalidInputException.class).hasMessageContaining(message);
    }

    @Test
    void aRestartLimitNeedsARestartPolicy() throws Exception {
        ReleaseSpec spec = YAML.readValue("limits: {restarts: 2}", ReleaseSpec.class);
        assertThatThrownBy(spec::validate).hasMessageContaining("spec.limits.restarts counts restarts by the container's restart policy")
                .hasMessageContaining("spec.container.restart is 'no'");
    }

    @Test
    void aCpuLimitWithoutASoakCouldNeverFire() throws Exception {
        ReleaseSpec spec = YAML.readValue("limits: {cpu: {percent: 50, for: 1s}}", ReleaseSpec.class);
        assertThatThrownBy(spec::validate).hasMessageContaining("longer than spec.health.soak (0s)");
    }

    @Test
    void anUnknownLimitKeyIsRefused() {
        assertThatThrownBy(() -> YAML.readValue("limits: {memroy: 90%}", ReleaseSpec.class))
                .isInstanceOf(UnrecognizedPropertyException.class).hasMessageContaining("memroy");
        assertThatThrownBy(() -> YAML.readValue("limits: {cpu: {percent: 9, during: 5s}}", ReleaseSpec.class))
                .isInstanceOf(UnrecognizedPropertyException.class).hasMessageContaining("during");
    }

    private static dev.turnout.proto.Release wire(ReleaseSpec spec) {
        Release release = new Release("web", "1.0.0", Instant.EPOCH, List.of(), spec);
        return DesiredStates.wire(release);
    }
}
