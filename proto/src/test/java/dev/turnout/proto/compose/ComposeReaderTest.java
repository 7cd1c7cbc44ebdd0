package dev.turnout.proto.compose;

import dev.turnout.proto.compose.ComposeFile.Condition;
import dev.turnout.proto.compose.ComposeFile.Mount;
import dev.turnout.proto.compose.ComposeFile.Service;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ComposeReaderTest {

    private static final String FILE = "docker-compose.yml";

    /** One service {@code web} with image web:1 and {@code extra} (YAML lines, indented as service keys). */
    private static String web(String... extra) {
        StringBuilder b = new StringBuilder("services:\n  web:\n    image: web:1\n");
        for (String line : extra) {
            b.append("    ").append(line).append('\n');
        }
        return b.toString();
    }

    private static ComposeFile read(String yaml) throws InvalidComposeException {
        return ComposeReader.read(FILE, yaml, Map.of(), Map.of());
    }

    private static Service webOf(String yaml) throws InvalidComposeException {
        return read(yaml).services().get("web");
    }

    static Stream<Arguments> accepted() {
        return Stream.of(
                Arguments.of(web(), (Consumer<Service>) s -> {
                    assertThat(s.image()).isEqualTo("web:1");
                    assertThat(s.command()).isNull();
                    assertThat(s.restart()).isNull();
                }),
                Arguments.of(web("command: trains --serial \"/dev/tty ACM0\" 'a b'"),
                        (Consumer<Service>) s -> assertThat(s.command()).containsExactly("trains", "--serial", "/dev/tty ACM0", "a b")),
                Arguments.of(web("entrypoint: [\"/bin/sh\", \"-c\"]"),
                        (Consumer<Service>) s -> assertThat(s.entrypoint()).containsExactly("/bin/sh", "-c")),
                Arguments.of(web("environment: [A=1, B=x=y, C]"),
                        (Consumer<Service>) s -> assertThat(s.environment()).containsExactly(Map.entry("A", "1"), Map.entry("B", "x=y"))),
                Arguments.of(web("environment: {A: 1, B: true, C: null, D: ''}"),
                        (Consumer<Service>) s -> assertThat(s.environment()).containsExactly(Map.entry("A", "1"), Map.entry("B", "true"),
                                Map.entry("D", ""))),
                Arguments.of(web("ports: [\"8080:80\", \"127.0.0.1:9090:90/udp\", \"80\", \"9000-9001:8000-8001\"]"),
                        (Consumer<Service>) s -> assertThat(s.ports()).containsExactly("8080:80", "127.0.0.1:9090:90/udp", "80", "9000-9001:8000-8001")),
                Arguments.of(web("ports:", "  - target: 80", "    published: 8080", "    host_ip: 127.0.0.1", "    protocol: tcp"),
                        (Consumer<Service>) s -> assertThat(s.ports()).containsExactly("127.0.0.1:8080:80/tcp")),
                // unquoted, YAML 1.1 could read 22:22 as a base-60 number; the reader keeps it as written
                Arguments.of(web("ports:", "  - 22:22", "  - 8080:80"), (Consumer<Service>) s -> assertThat(s.ports()).containsExactly("22:22", "8080:80")),
                Arguments.of(web("ports: [{target: 80}]"), (Consumer<Service>) s -> assertThat(s.ports()).containsExactly("80")),
                Arguments.of(web("volumes: [\"/srv/trains:/data:ro\"]"),
                        (Consumer<Service>) s -> assertThat(s.volumes()).containsExactly(new Mount("bind", "/srv/trains", "/data", true))),
                Arguments.of(web("network_mode: host"), (Consumer<Service>) s -> assertThat(s.networkMode()).isEqualTo("host")),
                Arguments.of(web("devices: [/dev/gpiomem, \"/dev/ttyACM0:/dev/ttyACM0:rw\"]", "privileged: true"),
                        (Consumer<Service>) s -> {
                            assertThat(s.devices()).containsExactly("/dev/gpiomem", "/dev/ttyACM0:/dev/ttyACM0:rw");
                            assertThat(s.privileged()).isTrue();
                        }),
                Arguments.of(web("cap_add: [sys_rawio, CAP_NET_ADMIN]", "cap_drop: [ALL]"), (Consumer<Service>) s -> {
                    assertThat(s.capAdd()).containsExactly("SYS_RAWIO", "NET_ADMIN");
                    assertThat(s.capDrop()).containsExactly("ALL");
                }),
                Arguments.of(web("user: \"1000:1000\"", "working_dir: /srv"), (Consumer<Service>) s -> {
                    assertThat(s.user()).isEqualTo("1000:1000");
                    assertThat(s.workingDir()).isEqualTo("/srv");
                }),
                Arguments.of(web("restart: no"), (Consumer<Service>) s -> assertThat(s.restart()).isEqualTo("no")),
                Arguments.of(web("restart: \"on-failure:5\""), (Consumer<Service>) s -> assertThat(s.restart()).isEqualTo("on-failure:5")),
                Arguments.of(web("healthcheck:", "  test: wget -q -O- localhost", "  interval: 1m30s", "  timeout: 1.5s",
                        "  retries: 3", "  start_period: 500ms"), (Consumer<Service>) s -> {
                    assertThat(s.healthcheck().test()).containsExactly("CMD-SHELL", "wget -q -O- localhost");
                    assertThat(s.healthcheck().interval()).isEqualTo(Duration.ofSeconds(90));
                    assertThat(s.healthcheck().timeout()).isEqualTo(Duration.ofMillis(1500));
                    assertThat(s.healthcheck().startPeriod()).isEqualTo(Duration.ofMillis(500));
                    assertThat(s.healthcheck().retries()).isEqualTo(3);
                }),
                Arguments.of(web("healthcheck: {disable: true}"), (Consumer<Service>) s -> assertThat(s.healthcheck().disabled()).isTrue()),
                Arguments.of(web("healthcheck: {test: [NONE]}"), (Consumer<Service>) s -> assertThat(s.healthcheck().disabled()).isTrue()),
                Arguments.of(web("mem_limit: 256m", "cpus: 1.5"), (Consumer<Service>) s -> {
                    assertThat(s.memoryBytes()).isEqualTo(256L * 1024 * 1024);
                    assertThat(s.nanoCpus()).isEqualTo(1_500_000_000L);
                }),
                Arguments.of(web("mem_limit: 1gb"), (Consumer<Service>) s -> assertThat(s.memoryBytes()).isEqualTo(1L << 30)),
                Arguments.of(web("mem_limit: 268435456"), (Consumer<Service>) s -> assertThat(s.memoryBytes()).isEqualTo(268435456L)),
                Arguments.of(web("deploy: {resources: {limits: {memory: 64m, cpus: '0.25'}}}"), (Consumer<Service>) s -> {
                    assertThat(s.memoryBytes()).isEqualTo(64L * 1024 * 1024);
                    assertThat(s.nanoCpus()).isEqualTo(250_000_000L);
                }),
                Arguments.of(web("mem_limit: 64m", "deploy: {resources: {limits: {memory: 64m}}}"),
                        (Consumer<Service>) s -> assertThat(s.memoryBytes()).isEqualTo(64L * 1024 * 1024)),
                Arguments.of(web("logging: {driver: json-file, options: {max-size: 10m, max-file: \"3\"}}"), (Consumer<Service>) s -> {
                    assertThat(s.logging().driver()).isEqualTo("json-file");
                    assertThat(s.logging().maxSizeBytes()).isEqualTo(10_000_000L);
                    assertThat(s.logging().maxFile()).isEqualTo(3);
                }),
                Arguments.of(web("labels: [a=b, c]"), (Consumer<Service>) s -> assertThat(s.labels()).containsExactly(Map.entry("a", "b"), Map.entry("c", ""))),
                Arguments.of(web("labels: {layout.role: web}"), (Consumer<Service>) s -> assertThat(s.labels()).containsEntry("layout.role", "web")),
                Arguments.of(web("x-notes: anything goes here"), (Consumer<Service>) s -> assertThat(s.image()).isEqualTo("web:1")),
                Arguments.of("services:\n  web:\n    image: registry.local:5000/trains/web@sha256:" + "a".repeat(64) + "\n",
                        (Consumer<Service>) s -> assertThat(s.image()).startsWith("registry.local:5000/trains/web@sha256:")));
    }

    @ParameterizedTest
    @MethodSource
    void accepted(String yaml, Consumer<Service> check) throws InvalidComposeException {
        check.accept(webOf(yaml));
    }

    static Stream<Arguments> refused() {
        String two = "services:\n  web:\n    image: web:1\n    depends_on: [db]\n  db:\n    image: db:1\n";
        return Stream.of(
                Arguments.of(web("build: ."), "docker-compose.yml: services.web.build: not supported by Turnout (supported keys: docs/compose.md)"),
                Arguments.of(web("container_name: web"), "services.web.container_name: not supported by Turnout"),
                Arguments.of(web("extra_hosts: [\"a:1.2.3.4\"]"), "services.web.extra_hosts: not supported"),
                Arguments.of(web("healthcheck: {test: [CMD, x], interva: 5s}"), "services.web.healthcheck.interva: not supported"),
                Arguments.of(web("deploy: {replicas: 2}"), "services.web.deploy.replicas: not supported"),
                Arguments.of(web("deploy: {resources: {reservations: {memory: 1m}}}"), "services.web.deploy.resources.reservations: not supported"),
                Arguments.of(web("ports: [{target: 80, name: web}]"), "services.web.ports[0].name: not supported"),
                Arguments.of("services:\n  web:\n    image: web:1\nconfigs: {}\n", "docker-compose.yml: configs: not supported by Turnout"),
                Arguments.of("services:\n  web:\n    image: web:1\nsecrets: {}\n", "docker-compose.yml: secrets: not supported"),
                Arguments.of("services:\n  web:\n    build: .\n", "services.web.build: not supported"),
                Arguments.of("services:\n  web:\n    command: x\n", "services.web: has no `image`"),
                Arguments.of("services: {}\n", "services: a Compose file needs at least one service"),
                Arguments.of("volumes: {}\n", "services: a Compose file needs at least one service"),
                Arguments.of("", "docker-compose.yml: empty"),
                Arguments.of("- a\n- b\n", "expected a mapping"),
                Arguments.of("services:\n  web: [\n", "docker-compose.yml: not valid YAML"),
                Arguments.of("services:\n  web:\n    image: Web:1\n", "services.web.image: 'Web:1' is not an image reference"),
                Arguments.of(web("depends_on: [db]"), "services.web.depends_on: depends on undefined service db"),
                Arguments.of(web("depends_on: [web]"), "services.web.depends_on: a service cannot depend on itself"),
                Arguments.of(two.replace("    image: db:1\n", "    image: db:1\n    depends_on: [web]\n"),
                        "docker-compose.yml: dependency cycle detected: web -> db -> web"),
                Arguments.of(web("depends_on: {db: {condition: service_ready}}").replace("services:\n", "services:\n  db:\n    image: db:1\n"),
                        "services.web.depends_on.db.condition: 'service_ready' must be service_started, service_healthy or service_completed_successfully"),
                Arguments.of(web("depends_on: {db: {required: false}}").replace("services:\n", "services:\n  db:\n    image: db:1\n"),
                        "services.web.depends_on.db.required: false (an optional dependency) is not supported"),
                Arguments.of(web("healthcheck: {test: [CMD, x], interval: 10 s}"), "services.web.healthcheck.interval: '10 s' is not a duration"),
                Arguments.of(web("healthcheck: {test: [CMD, x], timeout: 5}"), "services.web.healthcheck.timeout: '5' is not a duration"),
                Arguments.of(web("healthcheck: {test: [RUN, x]}"), "services.web.healthcheck.test: a list must start with CMD, CMD-SHELL or NONE"),
                Arguments.of(web("healthcheck: {test: [CMD]}"), "services.web.healthcheck.test: CMD needs a command after it"),
                Arguments.of(web("healthcheck: {test: [CMD, x], retries: -1}"), "services.web.healthcheck.retries: '-1' must be a whole number"),
                Arguments.of(web("mem_limit: 256q"), "services.web.mem_limit: '256q' is not a size"),
                Arguments.of(web("mem_limit: 4m"), "services.web.mem_limit: '4m' is below Docker's minimum of 6m"),
                Arguments.of(web("cpus: lots"), "services.web.cpus: 'lots' must be a number of CPUs"),
                Arguments.of(web("cpus: 0"), "services.web.cpus: must be more than 0"),
                Arguments.of(web("mem_limit: 64m", "deploy: {resources: {limits: {memory: 128m}}}"),
                        "services.web: mem_limit and deploy.resources.limits.memory must be equal if both are set"),
                Arguments.of(web("ports: [\"80:0\"]"), "services.web.ports[0]: '80:0' must be [HOST_IP:][HOST_PORT:]CONTAINER_PORT"),
                Arguments.of(web("ports: [\"70000:80\"]"), "services.web.ports[0]: '70000:80'"),
                Arguments.of(web("ports: [\"8080:80/icmp\"]"), "services.web.ports[0]: '8080:80/icmp'"),
                Arguments.of(web("ports: [\"9000-9002:8000-8001\"]"), "services.web.ports[0]: '9000-9002:8000-8001'"),
                Arguments.of(web("ports: [web]"), "services.web.ports[0]: 'web'"),
                Arguments.of(web("ports: [{published: 8080}]"), "services.web.ports[0]: needs `target`"),
                Arguments.of(web("ports: [{target: 80, mode: ingress}]"), "services.web.ports[0].mode: 'ingress': only `host`"),
                Arguments.of(web("ports: \"8080:80\""), "services.web.ports: must be a list"),
                Arguments.of(web("volumes: [\"./data:/data\"]"), "services.web.volumes[0]: bind source './data' must be an absolute path on the device"),
                Arguments.of(web("volumes: [\"cache:/cache\"]"), "services.web.volumes[0]: refers to undefined volume cache"),
                Arguments.of(web("volumes: [\"/data\"]"), "services.web.volumes[0]: '/data' must be SOURCE:TARGET[:OPTIONS]; an anonymous volume"),
                Arguments.of(web("volumes: [\"/srv:/data:rx\"]"), "services.web.volumes[0]: '/srv:/data:rx': unknown option 'rx'"),
                Arguments.of(web("volumes: [\"/srv:data\"]"), "services.web.volumes[0]: target 'data' must be an absolute path"),
                Arguments.of(web("volumes: [{type: tmpfs, target: /tmp}]"), "services.web.volumes[0].type: 'tmpfs': only bind and volume"),
                Arguments.of(web("volumes: [{type: bind, target: /tmp}]"), "services.web.volumes[0]: needs `source` and `target`"),
                Arguments.of(web("networks: [backend]"), "services.web.networks: refers to undefined network backend"),
                Arguments.of(web("network_mode: host", "networks: [default]"), "services.web: declares both `network_mode` and `networks`"),
                Arguments.of(web("network_mode: container:abc"), "services.web.network_mode: 'container:abc' must be host, none, bridge or service:NAME"),
                Arguments.of(web("network_mode: service:db"), "services.web.network_mode: refers to undefined service db"),
                Arguments.of(web("devices: [ttyACM0]"), "services.web.devices[0]: 'ttyACM0' must be HOST_PATH"),
                Arguments.of(web("devices: [\"/dev/a:/dev/a:rwx\"]"), "services.web.devices[0]: '/dev/a:/dev/a:rwx'"),
                Arguments.of(web("privileged: maybe"), "services.web.privileged: 'maybe' must be true or false"),
                Arguments.of(web("cap_add: [GPIO]"), "services.web.cap_add[0]: 'GPIO' is not a Linux capability"),
                Arguments.of(web("cap_add: [NET_ADMIN]", "cap_drop: [net_admin]"), "services.web: NET_ADMIN is both in cap_add and cap_drop"),
                Arguments.of(web("user: \"a:b:c\""), "services.web.user: 'a:b:c' must be USER or USER:GROUP"),
                Arguments.of(web("working_dir: srv"), "services.web.working_dir: 'srv' must be an absolute path"),
                Arguments.of(web("restart: sometimes"), "services.web.restart: 'sometimes' must be no, always, unless-stopped or on-failure"),
                Arguments.of(web("logging: {driver: syslog}"), "services.web.logging.driver: 'syslog' must be local or json-file"),
                Arguments.of(web("logging: {options: {max-size: 0}}"), "services.web.logging.options.max-size: must be more than 0"),
                Arguments.of(web("logging: {options: {max-file: \"0\"}}"), "services.web.logging.options.max-file: '0' must be a whole number, at least 1"),
                Arguments.of(web("logging: {options: {compress: \"true\"}}"), "services.web.logging.options.compress: not supported"),
                Arguments.of(web("labels: [\"=x\"]"), "services.web.labels[0]: '=x' must be KEY=VALUE"),
                Arguments.of(web("environment: [\"=x\"]"), "services.web.environment[0]: '=x' must be KEY=VALUE"),
                Arguments.of(web("environment: {A: [1, 2]}"), "services.web.environment.A: must be a single value, not a list"),
                Arguments.of(web("command: \"run 'unterminated\""), "services.web.command: unterminated ' quote"),
                Arguments.of(web("command: [run, '']"), "services.web.command[1]: must not be empty"),
                Arguments.of(web("env_file: web.env"), "services.web.env_file: env file 'web.env' was not found"),
                Arguments.of(web("image: web:2"), "docker-compose.yml: not valid YAML: Duplicate field 'image'"),
                Arguments.of("services:\n  -web:\n    image: web:1\n", "services.-web: a service name must be"),
                Arguments.of("services:\n  web:\n    image: web:1\nvolumes:\n  data:\n    driver: nfs\n", "volumes.data.driver: 'nfs': only the engine's `local` driver"),
                Arguments.of("services:\n  web:\n    image: web:1\nvolumes:\n  data:\n    external: true\n", "volumes.data.external: not supported"),
                Arguments.of("services:\n  web:\n    image: web:1\nnetworks:\n  back:\n    driver: overlay\n", "networks.back.driver: 'overlay': only the `bridge` driver"),
                Arguments.of("name: Trains\nservices:\n  web:\n    image: web:1\n", "docker-compose.yml: name: 'Trains' must be lower-case"),
                Arguments.of(web("environment: [\"PASSWORD=${PASSWORD?set it in the device config}\"]"),
                        "docker-compose.yml: services.web.environment[0]: required variable PASSWORD is not set: set it in the device config"),
                Arguments.of(web("environment: [\"A=${EMPTY:?must not be empty}\"]"),
                        "services.web.environment[0]: required variable EMPTY is not set: must not be empty"),
                Arguments.of(web("environment: [\"A=${}\"]"), "services.web.environment[0]: 'A=${}': '${}' does not start with a variable name"),
                Arguments.of(web("environment: [\"A=${B\"]"), "services.web.environment[0]: 'A=${B' has a ${ without its closing }"),
                Arguments.of(web("environment: [\"A=$\"]"), "ends with a lone '$'; write $$ for a literal $"),
                Arguments.of(web("environment: [\"A=${B:=x}\"]"), "'${B:=x}' is not ${VAR}, ${VAR:-default}"));
    }

    @ParameterizedTest
    @MethodSource
    void refused(String yaml, String message) {
        assertThatThrownBy(() -> read(yaml))
                .isInstanceOf(InvalidComposeException.class)
                .hasMessageContaining(message)
                .hasMessageStartingWith(FILE + ": ");
    }

    static Stream<Arguments> interpolated() {
        Map<String, String> env = Map.of("TAG", "2.0", "EMPTY", "", "PORT", "8081");
        return Stream.of(
                Arguments.of("$TAG", env, "2.0"),
                Arguments.of("${TAG}", env, "2.0"),
                Arguments.of("v${TAG}-x", env, "v2.0-x"),
                Arguments.of("${UNSET}", env, ""),
                Arguments.of("${UNSET:-dflt}", env, "dflt"),
                Arguments.of("${UNSET-dflt}", env, "dflt"),
                Arguments.of("${EMPTY:-dflt}", env, "dflt"),
                Arguments.of("${EMPTY-dflt}", env, ""),
                Arguments.of("${TAG:-dflt}", env, "2.0"),
                Arguments.of("${UNSET:-${PORT}}", env, "8081"),
                Arguments.of("${UNSET:-${ALSO_UNSET:-deep}}", env, "deep"),
                Arguments.of("${TAG:+set}", env, "set"),
                Arguments.of("${UNSET:+set}", env, ""),
                Arguments.of("${EMPTY+set}", env, "set"),
                Arguments.of("${TAG?err}", env, "2.0"),
                Arguments.of("$$TAG", env, "$TAG"),
                Arguments.of("a$$b$${TAG}", env, "a$b${TAG}"),
                Arguments.of("no variables", env, "no variables"));
    }

    @ParameterizedTest
    @MethodSource
    void interpolated(String value, Map<String, String> env, String expected) throws InvalidComposeException {
        String yaml = web("environment:", "  V: '" + value + "'");
        assertThat(ComposeReader.read(FILE, yaml, env, Map.of()).services().get("web").environment()).containsEntry("V", expected);
    }

    @Test
    void interpolationReachesEveryValue() throws InvalidComposeException {
        String yaml = "services:\n  web:\n    image: trains/web:${TAG}\n    ports: [\"${PORT:-8080}:80\"]\n    mem_limit: ${MEM}\n";
        Service web = ComposeReader.read(FILE, yaml, Map.of("TAG", "2.0.1", "MEM", "128m"), Map.of()).services().get("web");
        assertThat(web.image()).isEqualTo("trains/web:2.0.1");
        assertThat(web.ports()).containsExactly("8080:80");
        assertThat(web.memoryBytes()).isEqualTo(128L * 1024 * 1024);
    }

    @Test
    void theTrainLayout() throws Exception {
        String yaml = resource("train-layout.yml");
        ComposeFile app = ComposeReader.read("train-layout.yml", yaml, Map.of("BROKER_PASSWORD", "s3cret"), Map.of());

        assertThat(app.services()).containsOnlyKeys("controller", "web", "bridge", "db");
        assertThat(app.images()).containsExactly("trains/controller:1.4.2", "trains/web:2.0.1", "trains/mqtt-bridge:0.9.0", "postgres:16-alpine");
        assertThat(app.startOrder()).containsExactly("db", "controller", "web", "bridge");
        Service controller = app.services().get("controller");
        assertThat(controller.privileged()).isTrue();
        assertThat(controller.devices()).containsExactly("/dev/gpiomem", "/dev/ttyACM0:/dev/ttyACM0:rw");
        assertThat(controller.dependsOn()).containsExactly(Map.entry("db", Condition.SERVICE_HEALTHY));
        assertThat(controller.environment()).containsEntry("LAYOUT", "attic");
        assertThat(controller.memoryBytes()).isEqualTo(256L << 20);
        assertThat(controller.healthcheck().startPeriod()).isEqualTo(Duration.ofSeconds(30));
        Service bridge = app.services().get("bridge");
        assertThat(bridge.environment()).containsEntry("BROKER_PASSWORD", "s3cret");
        assertThat(bridge.capDrop()).containsExactly("ALL");
        assertThat(bridge.nanoCpus()).isEqualTo(250_000_000L);
        assertThat(app.services().get("db").volumes()).containsExactly(new Mount("volume", "trains-db", "/var/lib/postgresql/data", false));
        assertThat(app.volumes()).containsOnlyKeys("trains-db");
        assertThat(app.services().get("web").ports()).containsExactly("8080:80");
    }

    @Test
    void theTrainLayoutWithoutTheDevicesPasswordIsRefusedOnTheDeviceButPassesAtReleaseTime() throws Exception {
        String yaml = resource("train-layout.yml");
        assertThatThrownBy(() -> ComposeReader.read("train-layout.yml", yaml, Map.of(), Map.of()))
                .hasMessage("train-layout.yml: services.bridge.environment.BROKER_PASSWORD: required variable BROKER_PASSWORD"
                        + " is not set: the club broker password comes from the device config");

        ComposeFile checked = ComposeReader.check("train-layout.yml", yaml, Map.of(), Map.of());
        assertThat(checked.services().get("bridge").environment()).doesNotContainKey("BROKER_PASSWORD");
        assertThat(checked.services().get("controller").environment()).doesNotContainKey("LAYOUT");
        assertThat(checked.images()).hasSize(4);
    }

    @Test
    void atReleaseTimeAnImageMustNotWaitForTheDevice() {
        assertThatThrownBy(() -> ComposeReader.check(FILE, "services:\n  web:\n    image: web:${TAG}\n", Map.of(), Map.of()))
                .hasMessage(FILE + ": services.web.image: uses ${TAG}, which is not set when the release is made;"
                        + " image names must be known then, so the release can carry their archives (set it in the release's"
                        + " variables: the .env beside the file, or --env)");
    }

    @Test
    void atReleaseTimeAValueLeftToTheDeviceIsCheckedThere() throws InvalidComposeException {
        String yaml = web("mem_limit: ${MEM}", "ports: [\"${PORT}:80\"]");
        assertThat(ComposeReader.check(FILE, yaml, Map.of(), Map.of()).services().get("web").memoryBytes()).isZero();
        assertThatThrownBy(() -> ComposeReader.read(FILE, yaml, Map.of("MEM", "1m", "PORT", "80"), Map.of()))
                .hasMessageContaining("services.web.mem_limit: '1m' is below Docker's minimum");
        // the syntax is checked at once, whatever the values
        assertThatThrownBy(() -> ComposeReader.check(FILE, web("mem_limit: ${MEM"), Map.of(), Map.of()))
                .hasMessageContaining("has a ${ without its closing }");
    }

    @Test
    void envFilesAreReadFromTheirContentsAndEnvironmentWins() throws InvalidComposeException {
        String yaml = web("env_file: [common.env, {path: local.env, required: false}]", "environment: {B: from-compose}");
        assertThat(ComposeReader.envFileNames(FILE, yaml)).containsExactly("common.env", "local.env");
        Service s = ComposeReader.read(FILE, yaml, Map.of(),
                Map.of("common.env", "# comment\nA=1\nB=from-file\nexport C=\"quoted value\"\n\nD\n")).services().get("web");
        assertThat(s.environment()).containsExactly(Map.entry("A", "1"), Map.entry("B", "from-compose"), Map.entry("C", "quoted value"));
    }

    @Test
    void aDotEnvFileReadsAsComposeReadsIt() throws InvalidComposeException {
        assertThat(ComposeReader.envFile(".env", "TAG=2.0.1\n# note\nexport SITE='yard'\nEMPTY=\nALONE\n"))
                .containsExactly(Map.entry("TAG", "2.0.1"), Map.entry("SITE", "yard"), Map.entry("EMPTY", ""));
        assertThatThrownBy(() -> ComposeReader.envFile(".env", "TAG=1\nA B=2\n"))
                .hasMessage("env file '.env' line 2: 'A B' is not a variable name");
        assertThatThrownBy(() -> read(web("env_file: web.env").replace("web.env", "[web.env]")))
                .hasMessage(FILE + ": services.web.env_file[0]: env file 'web.env' was not found");
    }

    @Test
    void aNamedVolumeAndANetworkDeclaredAtTheTopAreUsable() throws InvalidComposeException {
        String yaml = "services:\n  web:\n    image: web:1\n    volumes: [\"cache:/cache:ro\"]\n    networks: {back: {aliases: [w]}}\n"
                + "volumes:\n  cache:\n    labels: {keep: \"yes\"}\nnetworks:\n  back:\n    internal: true\n";
        ComposeFile app = read(yaml);
        assertThat(app.services().get("web").volumes()).containsExactly(new Mount("volume", "cache", "/cache", true));
        assertThat(app.services().get("web").networks()).containsExactly("back");
        assertThat(app.networks().get("back").internal()).isTrue();
        assertThat(app.volumes().get("cache").labels()).containsEntry("keep", "yes");
    }

    @Test
    void startOrderPutsEveryDependencyFirst() throws InvalidComposeException {
        String yaml = "services:\n  ui:\n    image: ui:1\n    depends_on: [api, cache]\n  api:\n    image: api:1\n    depends_on: [db]\n"
                + "  cache:\n    image: cache:1\n  db:\n    image: db:1\n";
        assertThat(read(yaml).startOrder()).containsExactly("db", "api", "cache", "ui");
        assertThat(read(yaml).images()).containsExactly("ui:1", "api:1", "cache:1", "db:1");
    }

    @Test
    void aKeyGivenTwiceIsRefused() {
        assertThatThrownBy(() -> read("services:\n  web:\n    image: web:1\n    image: web:2\n"))
                .hasMessageContaining("Duplicate field 'image'");
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = ComposeReaderTest.class.getResourceAsStream("/compose/" + name)) {
            return new String(List.of(in).get(0).readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
