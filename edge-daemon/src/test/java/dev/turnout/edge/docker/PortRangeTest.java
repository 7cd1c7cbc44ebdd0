package dev.turnout.edge.docker;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A Compose port range becomes one binding per port, as Docker binds them. */
class PortRangeTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "8080:80|8080:80",
            "80|80",
            "127.0.0.1:8080:80/udp|127.0.0.1:8080:80/udp",
            "9000-9001:8000-8001|9000:8000,9001:8001",
            "127.0.0.1:9000-9002:8000-8002/tcp|127.0.0.1:9000:8000/tcp,127.0.0.1:9001:8001/tcp,127.0.0.1:9002:8002/tcp",
            "8000-8001|8000,8001"
    })
    void rangesAreExpanded(String port, String bindings) {
        assertThat(DockerContainerRuntime.expandRange(port)).isEqualTo(List.of(bindings.split(",")));
    }
}
