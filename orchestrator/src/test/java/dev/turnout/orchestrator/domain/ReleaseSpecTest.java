package dev.turnout.orchestrator.domain;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ReleaseSpecTest {

    /** As the CLI reads a spec file: unknown keys refused. */
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    /** As the HTTP API reads a release body. */
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

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

    private static final String EVERY_FIELD = """
            container:
              command: ["/usr/local/bin/trains"]
              env: {MODE: production}
              network: none
              ports: ["8080:80", "127.0.0.1:9090:90/udp"]
              volumes: ["/srv/trains:/data:ro", "trains-cache:/cache"]
              devices: ["/dev/gpiomem", "/dev/ttyACM0:/dev/ttyACM0:rw"]
              privileged: false
              restart: on-failure
              user: "1000:20"
              cap_add: [SYS_RAWIO, cap_net_admin]
              cap_drop: [ALL]
              memory: 256m
              cpus: 1.5
              logging: {driver: json-file, max_size: 5m, max_file: 4}
            """;

    @Test
    void everyContainerFieldReadsFromYaml() throws Exception {
        ReleaseSpec spec = YAML.readValue(EVERY_FIELD, ReleaseSpec.class);
        spec.validate();
        ReleaseSpec.Container c = spec.container();
        assertThat(c.user()).isEqualTo("1000:20");
        assertThat(c.capAdd()).containsExactly("SYS_RAWIO", "cap_net_admin");
        assertThat(c.capDrop()).containsExactly("ALL");
        assertThat(c.memoryBytes()).isEqualTo(256L * 1024 * 1024);
        assertThat(c.nanoCpus()).isEqualTo(1_500_000_000L);
        assertThat(c.logging()).isEqualTo(new ReleaseSpec.Logging("json-file", "5m", 4));
        assertThat(c.logging().maxSizeBytes()).isEqualTo(5_000_000L);
    }

    @Test
    void theJsonFormKeepsTheSameKeysAndNothingElse() throws Exception {
        ReleaseSpec spec = YAML.readValue(EVERY_FIELD, ReleaseSpec.class);
        String json = JSON.writeValueAsString(spec);
        assertThat(JSON.readTree(json).path("container").fieldNames()).toIterable().containsExactly(
                "command", "env", "network", "ports", "volumes", "devices", "privileged", "restart",
                "user", "cap_add", "cap_drop", "memory", "cpus", "logging");
        assertThat(JSON.readTree(json).path("container").path("logging").fieldNames()).toIterable()
                .containsExactly("driver", "max_size", "max_file");
        assertThat(JSON.readValue(json, ReleaseSpec.class)).isEqualTo(spec);
    }

    @Test
    void numbersReadAsTheTextTheyStandFor() throws Exception {
        // the CLI sends the YAML file's tree as JSON: `cpus: 1.5` arrives as a JSON number
        ReleaseSpec spec = JSON.readValue(JSON.writeValueAsString(YAML.readTree("container: {cpus: 1.5, memory: 268435456, user: 1000}")),
                ReleaseSpec.class);
        spec.validate();
        assertThat(spec.container().nanoCpus()).isEqualTo(1_500_000_000L);
        assertThat(spec.container().memoryBytes()).isEqualTo(268_435_456L);
        assertThat(spec.container().user()).isEqualTo("1000");
    }

    @Test
    void aSpecStoredBeforeTheNewFieldsStillReads() throws Exception {
        ReleaseSpec old = JSON.readValue("""
                {"container":{"command":["/bin/sh"],"env":{"A":"b"},"network":"none","ports":null,"volumes":null,
                "devices":null,"privileged":true,"restart":"always"},"health":null}""", ReleaseSpec.class);
        assertThat(old.container()).isEqualTo(new ReleaseSpec.Container(List.of("/bin/sh"), Map.of("A", "b"), "none", null, null,
                null, true, "always"));
        assertThat(old.container().memoryBytes()).isZero();
        assertThat(old.container().nanoCpus()).isZero();
    }

    @Test
    void theExampleSpecOfTheDocsIsValid() throws Exception {
        ReleaseSpec spec = YAML.readValue(java.nio.file.Path.of("../config/app-spec.example.yaml").toFile(), ReleaseSpec.class);
        assertThatCode(spec::validate).doesNotThrowAnyException();
        assertThat(spec.container().volumes()).containsExactly("/srv/trains:/data", "trains-cache:/cache");
        assertThat(spec.container().logging()).isEqualTo(new ReleaseSpec.Logging("local", "10m", 3));
    }

    @Test
    void aMisspelledKeyIsRefused() {
        assertThatThrownBy(() -> YAML.readValue("container: {capAdd: [SYS_RAWIO]}", ReleaseSpec.class))
                .isInstanceOf(UnrecognizedPropertyException.class);
        assertThatThrownBy(() -> YAML.readValue("container: {logging: {max-size: 10m}}", ReleaseSpec.class))
                .isInstanceOf(UnrecognizedPropertyException.class);
    }

    /** A container snippet, and the start of the error it must give (null: valid). */
    record Row(String yaml, String error) {
        @Override
        public String toString() {
            return yaml + (error == null ? " is valid" : " -> " + error);
        }
    }

    static Stream<Row> containerRows() {
        return Stream.of(
                new Row("{user: trains}", null),
                new Row("{user: \"1000\"}", null),
                new Row("{user: 1000}", null),
                new Row("{user: \"trains:dialout\"}", null),
                new Row("{user: \"\"}", "spec.container.user '' must be USER or USER:GROUP"),
                new Row("{user: \"a:b:c\"}", "spec.container.user 'a:b:c' must be USER or USER:GROUP"),
                new Row("{user: \"root; rm\"}", "spec.container.user 'root; rm'"),
                new Row("{cap_add: [sys_rawio, CAP_NET_ADMIN, ALL]}", null),
                new Row("{cap_drop: [ALL], cap_add: [NET_BIND_SERVICE]}", null),
                new Row("{cap_add: [SYS_RAWI]}", "spec.container.cap_add[0] 'SYS_RAWI' is not a Linux capability"),
                new Row("{cap_drop: [NET_RAW, \"net admin\"]}", "spec.container.cap_drop[1] 'net admin' is not a Linux capability"),
                new Row("{cap_add: [\"\"]}", "spec.container.cap_add[0] '' is not a Linux capability"),
                new Row("{cap_add: [SYS_RAWIO], cap_drop: [cap_sys_rawio]}", "spec.container: SYS_RAWIO is both in cap_add and cap_drop"),
                new Row("{memory: 6m}", null),
                new Row("{memory: 1g}", null),
                new Row("{memory: 512MiB}", null),
                new Row("{memory: 268435456}", null),
                new Row("{memory: 5m}", "spec.container.memory '5m' is below Docker's minimum of 6m"),
                new Row("{memory: lots}", "spec.container.memory 'lots' is not a size"),
                new Row("{memory: -256m}", "spec.container.memory '-256m' is not a size"),
                new Row("{memory: 256q}", "spec.container.memory '256q' is not a size"),
                new Row("{cpus: 0.5}", null),
                new Row("{cpus: 2}", null),
                new Row("{cpus: \"1.25\"}", null),
                new Row("{cpus: 0}", "spec.container.cpus must be more than 0"),
                new Row("{cpus: -1}", "spec.container.cpus '-1' must be a number of CPUs"),
                new Row("{cpus: two}", "spec.container.cpus 'two' must be a number of CPUs"),
                new Row("{cpus: 0.0000000001}", "spec.container.cpus"),
                new Row("{logging: {driver: local}}", null),
                new Row("{logging: {driver: json-file, max_size: 10m, max_file: 3}}", null),
                new Row("{logging: {max_file: 1}}", null),
                new Row("{logging: {driver: syslog}}", "spec.container.logging.driver 'syslog' must be json-file or local"),
                new Row("{logging: {driver: none}}", "spec.container.logging.driver 'none' must be json-file or local"),
                new Row("{logging: {max_file: 0}}", "spec.container.logging.max_file must be at least 1; got 0"),
                new Row("{logging: {max_size: 0}}", "spec.container.logging.max_size must be more than 0"),
                new Row("{logging: {max_size: big}}", "spec.container.logging.max_size 'big' is not a size"),
                new Row("{volumes: [\"/srv/trains:/data\", \"trains-data:/data2:ro\", \"/srv/x:/x:rw,rslave\"]}", null),
                new Row("{volumes: [\"./data:/data\"]}", "spec.container.volumes[0] './data:/data': the source must be a host path"),
                new Row("{volumes: [\"/data\"]}", "spec.container.volumes[0] '/data' must be SOURCE:TARGET"),
                new Row("{volumes: [\"data:relative\"]}", "spec.container.volumes[0] 'data:relative': the target must be an absolute path"),
                new Row("{volumes: [\"data:/d:rx\"]}", "spec.container.volumes[0] 'data:/d:rx': unknown option 'rx'"),
                new Row("{volumes: [\"/srv/locks:/run/turnout/\"]}", "spec.container.volumes[0] '/srv/locks:/run/turnout/': /run/turnout is"
                        + " the app's update lock directory"),
                new Row("{volumes: [\"/srv/run:/run/turnout-data\"]}", null),
                new Row("{devices: [/dev/null, \"/dev/zero:/dev/z:rwm\"]}", null),
                new Row("{devices: [ttyACM0]}", "spec.container.devices[0] 'ttyACM0' must be HOST_PATH"),
                new Row("{devices: [\"/dev/a:/dev/b:rwx\"]}", "spec.container.devices[0] '/dev/a:/dev/b:rwx'"),
                new Row("{ports: [\"8080\", \"8080:80\", \"127.0.0.1:8080:80/tcp\", \"127.0.0.1::80\"]}", null),
                new Row("{ports: [\"80:http\"]}", "spec.container.ports[0] '80:http' must be [IP:][HOST_PORT:]CONTAINER_PORT"),
                new Row("{ports: [\"70000:80\"]}", "spec.container.ports[0] '70000:80'"),
                new Row("{env: {\"A=B\": c}}", "spec.container.env name 'A=B'"),
                new Row("{env: {A: null}}", "spec.container.env.A must have a value"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("containerRows")
    void containerFields(Row row) throws Exception {
        ReleaseSpec spec = YAML.readValue("container: " + row.yaml(), ReleaseSpec.class);
        if (row.error() == null) {
            assertThatCode(spec::validate).doesNotThrowAnyException();
        } else {
            assertThatThrownBy(spec::validate).isInstanceOf(InvalidInputException.class).hasMessageStartingWith(row.error());
        }
    }

    @ParameterizedTest(name = "{0} = {1} bytes")
    @CsvSource({"512,512", "64k,65536", "256m,268435456", "256MB,268435456", "256mib,268435456", "1g,1073741824",
            "1.5g,1610612736", "'100 m',104857600"})
    void memoryCountsInPowersOf1024LikeDockerRunMemory(String text, long bytes) {
        assertThat(ByteSizes.binary(text, "m")).isEqualTo(bytes);
    }

    @ParameterizedTest(name = "{0} = {1} bytes")
    @CsvSource({"512,512", "64k,64000", "10m,10000000", "10MB,10000000", "1.5m,1500000", "1g,1000000000"})
    void logSizesCountInPowersOf1000LikeDockerLogOptMaxSize(String text, long bytes) {
        assertThat(ByteSizes.decimal(text, "s")).isEqualTo(bytes);
    }

    @Test
    void aSizeTooLargeForALongIsRefused() {
        assertThatThrownBy(() -> ByteSizes.binary("99999999t", "spec.container.memory"))
                .hasMessage("spec.container.memory '99999999t' is too large");
    }
}
