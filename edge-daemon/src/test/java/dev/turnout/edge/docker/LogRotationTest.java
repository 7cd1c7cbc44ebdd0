package dev.turnout.edge.docker;

import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.LogConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every container gets a bounded log, whatever the release says or leaves out. */
class LogRotationTest {

    record Row(String name, ContainerSpec spec, String driver, Map<String, String> options) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Row> rows() {
        return Stream.of(
                new Row("no logging: the default", ContainerSpec.getDefaultInstance(), "local", Map.of("max-size", "10m", "max-file", "3")),
                new Row("json-file with both limits", spec(LogConfig.newBuilder().setDriver("json-file").setMaxSizeBytes(1_000_000).setMaxFile(2)),
                        "json-file", Map.of("max-size", "1m", "max-file", "2")),
                new Row("json-file without limits is still bounded", spec(LogConfig.newBuilder().setDriver("json-file")),
                        "json-file", Map.of("max-size", "10m", "max-file", "3")),
                new Row("only a file count: the default driver and size", spec(LogConfig.newBuilder().setMaxFile(5)),
                        "local", Map.of("max-size", "10m", "max-file", "5")),
                new Row("local with an odd size", spec(LogConfig.newBuilder().setDriver("local").setMaxSizeBytes(1_500_000)),
                        "local", Map.of("max-size", "1500k", "max-file", "3")));
    }

    private static ContainerSpec spec(LogConfig.Builder log) {
        return ContainerSpec.newBuilder().setLog(log).build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void rotation(Row row) {
        LogRotation rotation = LogRotation.of(row.spec());
        assertThat(rotation.driver()).isEqualTo(row.driver());
        assertThat(rotation.options()).isEqualTo(row.options());
    }

    @Test
    void aDriverTheDeviceCannotRotateIsRefused() {
        for (String driver : new String[] {"syslog", "none", "journald", "fluentd"}) {
            assertThatThrownBy(() -> LogRotation.of(spec(LogConfig.newBuilder().setDriver(driver))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'" + driver + "' is not json-file or local");
        }
    }

    @ParameterizedTest(name = "{0} bytes = {1}")
    @CsvSource({"10000000,10m", "1000,1k", "2000000000,2g", "1500000,1500k", "1234,1234", "10485760,10485760"})
    void sizesInDockersPowersOf1000(long bytes, String text) {
        assertThat(LogRotation.size(bytes)).isEqualTo(text);
    }
}
