package dev.turnout.edge.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.docker.DockerContainerRuntime;
import dev.turnout.edge.domain.ServiceContainer;
import dev.turnout.proto.compose.ComposeFile;
import dev.turnout.proto.compose.ComposeReader;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.LogConfig;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.TestEngines.Engine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The container spec, proven on every Docker engine under test ({@link TestEngines}): a container created through
 * {@link DockerContainerRuntime} with every setting, read back with {@code docker inspect} as a user would see it
 * and, started, seen from inside; and the default log rotation of a spec that names none.
 */
class ContainerSpecIT {

    private static final String RUN = "it-spec-" + UUID.randomUUID().toString().substring(0, 8);
    private static final String IMAGE = "turnout-edge-it/" + RUN + ":1";
    /** A named volume: the engine creates it with the container and keeps it across releases. */
    private static final String VOLUME = RUN + "-cache";
    private static final Map<String, String> LABELS = Map.of("dev.turnout.device", RUN);
    private static final long MEMORY = 64L * 1024 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path work;

    /** Engines this class imported its image on (to clean up), with the image id there. */
    private static final Map<Engine, String> images = new LinkedHashMap<>();

    static Stream<Engine> engines() {
        return TestEngines.all().stream();
    }

    /**
     * Every setting of a ContainerSpec, as a release for a train controller would use them.
     *
     * @param data the host directory bind-mounted at /data
     */
    private static ContainerSpec.Builder everySetting(Path data) {
        return ContainerSpec.newBuilder()
                .addAllCommand(List.of("/bin/sh", "-c", "echo turnout-started; exec /bin/sleep 3600"))
                .putEnv("GREETING", "hello train")
                .putEnv("MODE", "test")
                .setNetwork("none")
                .addPorts("18080:8080")
                .addPorts("127.0.0.1:18081:8081/udp")
                .addVolumes(data + ":/data")
                .addVolumes(VOLUME + ":/cache:ro")
                .addDevices("/dev/null")
                .addDevices("/dev/zero:/dev/turnout-zero:r")
                .setPrivileged(true)
                .setRestart("on-failure")
                .setUser("1234:5678")
                .addCapDrop("ALL")
                .addCapAdd("SYS_RAWIO")
                .addCapAdd("NET_ADMIN")
                .setMemoryBytes(MEMORY)
                .setNanoCpus(500_000_000L)
                .setLog(LogConfig.newBuilder().setDriver("json-file").setMaxSizeBytes(1_000_000).setMaxFile(2));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("engines")
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void everySettingLands(Engine engine) throws Exception {
        String image = image(engine);
        Path data = hostDirectory("data-" + engine.name());
        try (DockerContainerRuntime runtime = new DockerContainerRuntime(engine.dockerHost())) {
            String id = runtime.create(RUN + "-every", image, everySetting(data).build(), LABELS);
            try {
                JsonNode container = inspect(engine, id);
                JsonNode host = container.path("HostConfig");
                assertThat(host.path("Privileged").asBoolean()).as("Privileged").isTrue();
                assertThat(devices(host)).as("Devices").containsExactlyInAnyOrder("/dev/null -> /dev/null (rwm)",
                        "/dev/zero -> /dev/turnout-zero (r)");
                assertThat(texts(host.path("Binds"))).as("Binds").containsExactly(data + ":/data:rw", VOLUME + ":/cache:ro");
                assertThat(mounts(container)).as("Mounts: a bind mount and a named volume").containsExactlyInAnyOrder(
                        "bind " + data + " -> /data rw", "volume " + VOLUME + " -> /cache ro");
                assertThat(JSON.writeValueAsString(host.path("PortBindings"))).as("PortBindings").isEqualTo(JSON.writeValueAsString(
                        JSON.readTree("{\"8080/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"18080\"}],"
                                + "\"8081/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"18081\"}]}")));
                assertThat(texts(container.path("Config").path("Env"))).as("Env").contains("GREETING=hello train", "MODE=test");
                assertThat(container.path("Config").path("User").asText()).as("User").isEqualTo("1234:5678");
                assertThat(capabilities(host.path("CapAdd"))).as("CapAdd").containsExactly("SYS_RAWIO", "NET_ADMIN");
                assertThat(capabilities(host.path("CapDrop"))).as("CapDrop").containsExactly("ALL");
                assertThat(host.path("Memory").asLong()).as("Memory").isEqualTo(MEMORY);
                assertThat(host.path("NanoCpus").asLong()).as("NanoCpus").isEqualTo(500_000_000L);
                assertThat(host.path("RestartPolicy").path("Name").asText()).as("RestartPolicy").isEqualTo("on-failure");
                assertThat(host.path("LogConfig").path("Type").asText()).as("LogConfig.Type").isEqualTo("json-file");
                assertThat(options(host.path("LogConfig"))).as("LogConfig.Config").isEqualTo(Map.of("max-size", "1m", "max-file", "2"));
            } finally {
                runtime.remove(id);
            }
        }
    }

    /**
     * The same settings, unprivileged (a privileged container gets every capability and every host device), started:
     * user, environment, bind mount, device, capabilities and limits as the process inside sees them, and its output
     * through the rotating {@code local} driver.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("engines")
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void theSettingsHoldInsideTheRunningContainer(Engine engine) throws Exception {
        String image = image(engine);
        Path data = hostDirectory("inside-" + engine.name());
        Files.writeString(data.resolve("hello"), "from the host\n");
        Files.setPosixFilePermissions(data.resolve("hello"), PosixFilePermissions.fromString("rw-r--r--"));
        ContainerSpec spec = everySetting(data).setPrivileged(false).setLog(LogConfig.newBuilder().setDriver("local").setMaxFile(2)).build();
        try (DockerContainerRuntime runtime = new DockerContainerRuntime(engine.dockerHost())) {
            String id = runtime.create(RUN + "-inside", image, spec, LABELS);
            try {
                runtime.start(id);
                await().atMost(Duration.ofSeconds(20)).until(() -> runtime.status(id).running());
                assertThat(exec(engine, id, "echo \"$(id -u):$(id -g)|$GREETING|$(cat /data/hello)|$(head -c 3 /dev/turnout-zero | wc -c)\""))
                        .as("user, env, bind mount, device").isEqualTo("1234:5678|hello train|from the host|3");
                // bounding set: exactly SYS_RAWIO (bit 17) and NET_ADMIN (bit 12) after dropping ALL
                assertThat(exec(engine, id, "grep CapBnd /proc/self/status")).as("capabilities").isEqualTo("CapBnd:\t0000000000021000");
                assertThat(exec(engine, id, "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"))
                        .as("memory limit enforced by the kernel, not discarded").isEqualTo(Long.toString(MEMORY));
                assertThat(exec(engine, id, "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"))
                        .as("CPU quota: half of each 100 ms period").isIn("50000 100000", "50000");
                JsonNode host = inspect(engine, id).path("HostConfig");
                assertThat(host.path("LogConfig").path("Type").asText()).isEqualTo("local");
                assertThat(options(host.path("LogConfig"))).as("the size left out takes the default")
                        .isEqualTo(Map.of("max-size", "10m", "max-file", "2"));
                assertThat(DockerCli.docker(engine, "logs", id)).as("docker logs through the local driver").contains("turnout-started");
            } finally {
                runtime.remove(id);
            }
        }
    }

    /**
     * A Compose service with every key Turnout maps, created through {@link DockerContainerRuntime#createService} on the
     * app's network and with its named volume, read back with {@code docker inspect}.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("engines")
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void everyComposeKeyLands(Engine engine) throws Exception {
        String image = image(engine);
        Path data = hostDirectory("compose-" + engine.name());
        String network = RUN + "_default";
        String volume = RUN + "_state";
        ComposeFile file = ComposeReader.read("docker-compose.yml", """
                services:
                  controller:
                    image: trains/controller:1
                    entrypoint: ["/bin/sh", "-c"]
                    command: ["echo started; exec /bin/sleep 3600"]
                    working_dir: /data
                    user: "1234:5678"
                    environment: {GREETING: hello train, LAYOUT: "${LAYOUT:-attic}"}
                    ports: ["127.0.0.1:18090-18091:8090-8091/udp"]
                    volumes:
                      - %s:/data
                      - {type: volume, source: state, target: /cache, read_only: true}
                    devices: ["/dev/zero:/dev/turnout-zero:r"]
                    cap_drop: [ALL]
                    cap_add: [CAP_SYS_RAWIO]
                    restart: unless-stopped
                    mem_limit: 64m
                    cpus: 0.5
                    healthcheck:
                      test: ["CMD-SHELL", "test -d /data"]
                      interval: 2s
                      timeout: 1s
                      retries: 4
                      start_period: 3s
                    logging: {driver: json-file, options: {max-size: 1m, max-file: "2"}}
                    labels: {club: attic}
                volumes:
                  state:
                """.formatted(data), Map.of(), Map.of());
        Map<String, String> labels = new LinkedHashMap<>(LABELS);
        labels.put("club", "attic");
        labels.put("com.docker.compose.service", "controller");
        try (DockerContainerRuntime runtime = new DockerContainerRuntime(engine.dockerHost())) {
            runtime.ensureNetwork(network, false, LABELS);
            runtime.ensureNetwork(network, false, LABELS); // there already: kept
            runtime.ensureVolume(volume, LABELS);
            String id = runtime.createService(new ServiceContainer(RUN + "-controller", image, file.services().get("controller"), network,
                    Map.of(network, List.of("controller")), Map.of("state", volume), List.of(), labels));
            try {
                JsonNode container = inspect(engine, id);
                JsonNode config = container.path("Config");
                JsonNode host = container.path("HostConfig");
                assertThat(texts(config.path("Entrypoint"))).as("Entrypoint").containsExactly("/bin/sh", "-c");
                assertThat(texts(config.path("Cmd"))).as("Cmd").containsExactly("echo started; exec /bin/sleep 3600");
                assertThat(config.path("WorkingDir").asText()).as("WorkingDir").isEqualTo("/data");
                assertThat(config.path("User").asText()).as("User").isEqualTo("1234:5678");
                assertThat(texts(config.path("Env"))).as("Env").contains("GREETING=hello train", "LAYOUT=attic");
                assertThat(config.path("Labels").path("club").asText()).isEqualTo("attic");
                assertThat(config.path("Labels").path("com.docker.compose.service").asText()).isEqualTo("controller");
                JsonNode health = config.path("Healthcheck");
                assertThat(texts(health.path("Test"))).as("Healthcheck.Test").containsExactly("CMD-SHELL", "test -d /data");
                assertThat(health.path("Interval").asLong()).isEqualTo(2_000_000_000L);
                assertThat(health.path("Timeout").asLong()).isEqualTo(1_000_000_000L);
                assertThat(health.path("StartPeriod").asLong()).isEqualTo(3_000_000_000L);
                assertThat(health.path("Retries").asInt()).isEqualTo(4);
                assertThat(host.path("NetworkMode").asText()).as("NetworkMode").isEqualTo(network);
                assertThat(texts(container.path("NetworkSettings").path("Networks").path(network).path("Aliases")))
                        .as("the service name answers on the app's network").contains("controller");
                assertThat(mounts(container)).as("Mounts").containsExactlyInAnyOrder("bind " + data + " -> /data rw",
                        "volume " + volume + " -> /cache ro");
                assertThat(devices(host)).as("Devices").containsExactly("/dev/zero -> /dev/turnout-zero (r)");
                assertThat(JSON.writeValueAsString(host.path("PortBindings"))).as("PortBindings, the range one by one")
                        .isEqualTo(JSON.writeValueAsString(JSON.readTree("{\"8090/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"18090\"}],"
                                + "\"8091/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"18091\"}]}")));
                assertThat(capabilities(host.path("CapAdd"))).as("CapAdd").containsExactly("SYS_RAWIO");
                assertThat(capabilities(host.path("CapDrop"))).as("CapDrop").containsExactly("ALL");
                assertThat(host.path("Memory").asLong()).as("Memory").isEqualTo(MEMORY);
                assertThat(host.path("NanoCpus").asLong()).as("NanoCpus").isEqualTo(500_000_000L);
                assertThat(host.path("RestartPolicy").path("Name").asText()).as("RestartPolicy").isEqualTo("unless-stopped");
                assertThat(host.path("Init").asBoolean()).as("Init").isTrue();
                assertThat(host.path("LogConfig").path("Type").asText()).isEqualTo("json-file");
                assertThat(options(host.path("LogConfig"))).isEqualTo(Map.of("max-size", "1m", "max-file", "2"));
            } finally {
                runtime.remove(id);
                runtime.removeNetworks(LABELS);
                DockerCli.run(engine, "volume", "rm", "-f", volume);
            }
            assertThat(DockerCli.run(engine, "network", "inspect", network)).as("network removed").isNotZero();
        }
    }

    static Stream<Arguments> defaultRotation() {
        List<Arguments> rows = new ArrayList<>();
        for (Engine engine : TestEngines.all()) {
            rows.add(Arguments.of(engine, "no logging", ContainerSpec.newBuilder(), "local"));
            rows.add(Arguments.of(engine, "json-file without limits", ContainerSpec.newBuilder()
                    .setLog(LogConfig.newBuilder().setDriver("json-file")), "json-file"));
        }
        return rows.stream();
    }

    /** A spec that says nothing about logging, or names a driver without limits, still gets 10 MB x 3. */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("defaultRotation")
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void anUnboundedLogIsNeverCreated(Engine engine, String name, ContainerSpec.Builder spec, String driver) throws Exception {
        String image = image(engine);
        try (DockerContainerRuntime runtime = new DockerContainerRuntime(engine.dockerHost())) {
            String id = runtime.create(RUN + "-log-" + UUID.randomUUID().toString().substring(0, 6), image,
                    spec.setNetwork("none").addAllCommand(List.of("/bin/sleep", "3600")).build(), LABELS);
            try {
                JsonNode log = inspect(engine, id).path("HostConfig").path("LogConfig");
                assertThat(log.path("Type").asText()).isEqualTo(driver);
                assertThat(options(log)).isEqualTo(Map.of("max-size", "10m", "max-file", "3"));
            } finally {
                runtime.remove(id);
            }
        }
    }

    /** The test image on {@code engine}, imported once from a busybox root filesystem; its id. */
    private static synchronized String image(Engine engine) throws Exception {
        Requirements.require(Files.isExecutable(Path.of("/bin/busybox")), "busybox-static (/bin/busybox)");
        Requirements.require(DockerCli.run(engine, "info") == 0,
                "the Docker engine '" + engine.name() + "' at " + engine.dockerHost() + " (`docker -H " + engine.dockerHost() + " info` failed)");
        String known = images.get(engine);
        if (known != null && !known.isEmpty()) {
            return known;
        }
        Path tar = work.resolve("root.tar");
        if (!Files.exists(tar)) {
            Path root = Files.createDirectories(work.resolve("root"));
            Path bin = Files.createDirectories(root.resolve("bin"));
            Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
            for (String applet : List.of("sh", "sleep", "id", "cat", "head", "wc", "grep")) {
                Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
            }
            for (String dir : List.of("tmp", "etc", "proc", "sys", "dev", "data", "cache")) {
                Files.createDirectories(root.resolve(dir));
            }
            DockerCli.output("tar", "-C", root.toString(), "-cf", tar.toString(), ".");
        }
        images.put(engine, ""); // cleaned up even if the import half-succeeds
        String id = DockerCli.docker(engine, "import", tar.toString(), IMAGE);
        images.put(engine, id);
        return id;
    }

    @AfterAll
    static void cleanUp() {
        for (Engine engine : images.keySet()) {
            String ids = DockerCli.docker(engine, "ps", "-aq", "--filter", "label=dev.turnout.device=" + RUN);
            for (String id : ids.split("\\s+")) {
                if (!id.isBlank()) {
                    DockerCli.run(engine, "rm", "-f", id);
                }
            }
            DockerCli.run(engine, "rmi", "-f", IMAGE);
            DockerCli.run(engine, "volume", "rm", "-f", VOLUME);
        }
    }

    /** A host directory a container user other than root may read (JUnit's temporary directories are 0700). */
    private static Path hostDirectory(String name) throws Exception {
        Path dir = Files.createDirectories(work.resolve(name));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        return dir;
    }

    private static JsonNode inspect(Engine engine, String id) throws Exception {
        return JSON.readTree(DockerCli.docker(engine, "inspect", id)).path(0);
    }

    private static String exec(Engine engine, String id, String script) {
        return DockerCli.docker(engine, "exec", id, "/bin/sh", "-c", script);
    }

    private static List<String> texts(JsonNode array) {
        List<String> texts = new ArrayList<>();
        array.forEach(n -> texts.add(n.asText()));
        return texts;
    }

    /** Capabilities as written, whether the engine keeps Docker's names or the kernel's ("CAP_SYS_RAWIO"). */
    private static List<String> capabilities(JsonNode array) {
        return texts(array).stream().map(c -> c.replaceFirst("^CAP_", "")).toList();
    }

    private static List<String> devices(JsonNode host) {
        List<String> devices = new ArrayList<>();
        host.path("Devices").forEach(d -> devices.add(d.path("PathOnHost").asText() + " -> " + d.path("PathInContainer").asText()
                + " (" + d.path("CgroupPermissions").asText() + ")"));
        return devices;
    }

    private static List<String> mounts(JsonNode container) {
        List<String> mounts = new ArrayList<>();
        container.path("Mounts").forEach(m -> mounts.add(m.path("Type").asText() + " "
                + (m.path("Type").asText().equals("volume") ? m.path("Name").asText() : m.path("Source").asText())
                + " -> " + m.path("Destination").asText() + (m.path("RW").asBoolean() ? " rw" : " ro")));
        return mounts;
    }

    private static Map<String, String> options(JsonNode logConfig) {
        Map<String, String> options = new LinkedHashMap<>();
        logConfig.path("Config").fields().forEachRemaining(e -> options.put(e.getKey(), e.getValue().asText()));
        return options;
    }
}
