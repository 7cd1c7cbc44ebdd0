package dev.turnout.edge.docker;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.async.ResultCallback;
import com.github.dockerjava.api.command.CreateContainerCmd;
import com.github.dockerjava.api.command.CreateContainerResponse;
import com.github.dockerjava.api.command.InspectContainerResponse;
import com.github.dockerjava.api.command.InspectImageResponse;
import com.github.dockerjava.api.exception.ConflictException;
import com.github.dockerjava.api.exception.DockerException;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.exception.NotModifiedException;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Capability;
import com.github.dockerjava.api.model.ContainerNetwork;
import com.github.dockerjava.api.model.Container;
import com.github.dockerjava.api.model.Device;
import com.github.dockerjava.api.model.CpuStatsConfig;
import com.github.dockerjava.api.model.ExposedPort;
import com.github.dockerjava.api.model.MemoryStatsConfig;
import com.github.dockerjava.api.model.Statistics;
import com.github.dockerjava.api.model.Frame;
import com.github.dockerjava.api.model.StreamType;
import com.github.dockerjava.api.model.HostConfig;
import com.github.dockerjava.api.model.LogConfig;
import com.github.dockerjava.api.model.Network;
import com.github.dockerjava.api.model.Volume;
import com.github.dockerjava.api.model.PortBinding;
import com.github.dockerjava.api.model.RestartPolicy;
import com.github.dockerjava.core.DefaultDockerClientConfig;
import com.github.dockerjava.core.DockerClientConfig;
import com.github.dockerjava.core.DockerClientImpl;
import com.github.dockerjava.httpclient5.ApacheDockerHttpClient;
import com.github.dockerjava.transport.SSLConfig;
import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.ContainerUsage;
import dev.turnout.edge.domain.EngineImage;
import dev.turnout.edge.domain.LogEntry;
import dev.turnout.edge.domain.ManagedContainer;
import dev.turnout.edge.domain.ServiceContainer;
import dev.turnout.proto.compose.ComposeFile;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.engine.UpdateEngine;
import dev.turnout.edge.port.ContainerRuntime;
import dev.turnout.edge.tls.TlsRefused;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.image.ArchiveCheck;
import dev.turnout.proto.image.ArchiveEntries;
import dev.turnout.proto.image.InvalidImageArchiveException;
import dev.turnout.proto.logs.LogTail;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** {@link ContainerRuntime} on a Docker engine through docker-java; no docker-java type leaves this class. */
public final class DockerContainerRuntime implements ContainerRuntime, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DockerContainerRuntime.class);

    private final DockerClient docker;

    public DockerContainerRuntime(String dockerHost) {
        DockerClientConfig config = DefaultDockerClientConfig.createDefaultConfigBuilder().withDockerHost(dockerHost).build();
        ApacheDockerHttpClient http = new ApacheDockerHttpClient.Builder()
                .dockerHost(config.getDockerHost())
                .sslConfig(config.getSSLConfig() != null ? config.getSSLConfig()
                        : "unix".equals(config.getDockerHost().getScheme()) ? NO_TLS : null) // plain http to a tcp:// engine
                .maxConnections(20)
                .connectionTimeout(Duration.ofSeconds(10))
                .responseTimeout(Duration.ofMinutes(5))
                .build();
        this.docker = DockerClientImpl.getInstance(config, new LeaseRetry(http));
    }

    /**
     * For the local Unix socket (never TLS). Not for a {@code tcp://} engine without TLS settings: an SSL config makes
     * docker-java speak https to it, so every call failed with "no TLS here" (TcpEngineIT). Without an SSL config docker-java asks for the JVM's
     * default SSL context, which parses the whole system trust store; docker-java only hands this context to
     * its TLS strategy, used for https connections to the engine, which a Unix socket never makes.
     */
    private static final SSLConfig NO_TLS = () -> TlsRefused.context("the Docker engine is configured without TLS");

    @Override
    public void checkArchive(Path archive, ImageArtifact signed) throws UpdateFailure {
        try {
            ArchiveCheck.verify(ArchiveEntries.read(archive), signed);
        } catch (ArchiveCheck.Mismatch e) {
            throw new UpdateFailure(e.reason(), e.getMessage());
        } catch (InvalidImageArchiveException e) {
            throw new UpdateFailure(Reason.MALFORMED, "unreadable image archive: " + e.getMessage());
        } catch (IOException e) {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "cannot read archive " + archive + ": " + e.getMessage(), false, e);
        }
    }

    @Override
    public void loadImage(Path archive) throws UpdateFailure {
        try (InputStream in = Files.newInputStream(archive)) {
            docker.loadImageCmd(in).exec();
        } catch (IOException e) {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "cannot read archive " + archive + ": " + e.getMessage(), false, e);
        } catch (RuntimeException e) {
            throw failure("docker load", e);
        }
    }

    @Override
    public Optional<EngineImage> inspectImage(String idOrRef) throws UpdateFailure {
        try {
            InspectImageResponse image = docker.inspectImageCmd(idOrRef).exec();
            List<String> layers = image.getRootFS() == null || image.getRootFS().getLayers() == null ? List.of() : image.getRootFS().getLayers();
            return Optional.of(new EngineImage(image.getId(), layers));
        } catch (NotFoundException e) {
            return Optional.empty();
        } catch (RuntimeException e) {
            throw failure("inspect image", e);
        }
    }

    @Override
    public String create(String name, String image, ContainerSpec spec, Map<String, String> labels) throws UpdateFailure {
        try {
            // every setting is parsed before anything changes: a bad spec leaves the engine as it was
            HostConfig host = HostConfig.newHostConfig().withInit(true).withPrivileged(spec.getPrivileged());
            String network = spec.getNetwork().isEmpty() ? "none" : spec.getNetwork();
            host.withNetworkMode(network);
            if (!spec.getRestart().isEmpty() && !"no".equals(spec.getRestart())) {
                host.withRestartPolicy(RestartPolicy.parse(spec.getRestart()));
            }
            if (spec.getVolumesCount() > 0) {
                host.withBinds(spec.getVolumesList().stream().map(Bind::parse).toList());
            }
            if (spec.getDevicesCount() > 0) {
                host.withDevices(spec.getDevicesList().stream().map(Device::parse).toList());
            }
            if (spec.getCapAddCount() > 0) {
                host.withCapAdd(capabilities(spec.getCapAddList()));
            }
            if (spec.getCapDropCount() > 0) {
                host.withCapDrop(capabilities(spec.getCapDropList()));
            }
            if (spec.getMemoryBytes() > 0) {
                host.withMemory(spec.getMemoryBytes());
            }
            if (spec.getNanoCpus() > 0) {
                host.withNanoCPUs(spec.getNanoCpus());
            }
            LogRotation rotation = LogRotation.of(spec);
            host.withLogConfig(new LogConfig(LogConfig.LoggingType.fromValue(rotation.driver()), rotation.options()));
            List<ExposedPort> exposed = new ArrayList<>();
            if (spec.getPortsCount() > 0) {
                List<PortBinding> bindings = spec.getPortsList().stream().map(PortBinding::parse).toList();
                bindings.forEach(b -> exposed.add(b.getExposedPort()));
                host.withPortBindings(bindings);
            }
            CreateContainerCmd cmd = docker.createContainerCmd(image)
                    .withName(name)
                    .withLabels(labels)
                    .withHostConfig(host)
                    .withEnv(spec.getEnvMap().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
            if (spec.getCommandCount() > 0) {
                cmd.withCmd(spec.getCommandList());
            }
            if (!spec.getUser().isEmpty()) {
                cmd.withUser(spec.getUser());
            }
            if (!exposed.isEmpty()) {
                cmd.withExposedPorts(exposed);
            }
            removeIfExists(name);
            CreateContainerResponse created = cmd.exec();
            if (created.getWarnings() != null) {
                // e.g. a kernel without the memory cgroup (older Raspberry Pi OS): Docker drops the limit and says so here
                for (String warning : created.getWarnings()) {
                    log.warn("Docker created {} with a warning: {}", name, warning);
                }
            }
            return created.getId();
        } catch (IllegalArgumentException e) {
            throw new UpdateFailure(Reason.CONTAINER_START_FAILED, "bad container spec: " + e.getMessage());
        } catch (RuntimeException e) {
            throw failure("create container", e);
        }
    }

    @Override
    public void ensureNetwork(String name, boolean internal, Map<String, String> labels) throws UpdateFailure {
        try {
            if (!docker.listNetworksCmd().withNameFilter(name).exec().stream().anyMatch(n -> name.equals(n.getName()))) {
                docker.createNetworkCmd().withName(name).withDriver("bridge").withInternal(internal).withLabels(labels)
                        .withCheckDuplicate(true).exec();
            }
        } catch (ConflictException e) {
            // created meanwhile
        } catch (RuntimeException e) {
            throw failure("create network " + name, e);
        }
    }

    @Override
    public void removeNetworks(Map<String, String> labels) throws UpdateFailure {
        List<Network> networks;
        try {
            networks = docker.listNetworksCmd().withFilter("label", labels.entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).toList()).exec();
        } catch (RuntimeException e) {
            throw failure("list networks", e);
        }
        for (Network network : networks) {
            try {
                docker.removeNetworkCmd(network.getId()).exec();
            } catch (NotFoundException gone) {
                // removed meanwhile
            } catch (RuntimeException e) {
                log.warn("cannot remove network {}: {}", network.getName(), e.getMessage());
            }
        }
    }

    @Override
    public void ensureVolume(String name, Map<String, String> labels) throws UpdateFailure {
        try {
            docker.inspectVolumeCmd(name).exec();
        } catch (NotFoundException missing) {
            try {
                docker.createVolumeCmd().withName(name).withDriver("local").withLabels(labels).exec();
            } catch (RuntimeException e) {
                throw failure("create volume " + name, e);
            }
        } catch (RuntimeException e) {
            throw failure("inspect volume " + name, e);
        }
    }

    @Override
    public String createService(ServiceContainer c) throws UpdateFailure {
        ComposeFile.Service s = c.service();
        String created = null;
        try {
            // every setting is parsed before anything changes: a bad service leaves the engine as it was
            HostConfig host = HostConfig.newHostConfig().withInit(true).withPrivileged(s.privileged()).withNetworkMode(c.networkMode());
            if (s.restart() != null && !"no".equals(s.restart())) {
                host.withRestartPolicy(RestartPolicy.parse(s.restart()));
            }
            List<Bind> binds = new ArrayList<>();
            for (ComposeFile.Mount m : s.volumes()) {
                String source = "volume".equals(m.type()) ? c.volumes().getOrDefault(m.source(), m.source()) : m.source();
                binds.add(new Bind(source, new Volume(m.target()), m.readOnly() ? AccessMode.ro : AccessMode.rw));
            }
            c.extraBinds().forEach(b -> binds.add(Bind.parse(b)));
            if (!binds.isEmpty()) {
                host.withBinds(binds);
            }
            if (!s.devices().isEmpty()) {
                host.withDevices(s.devices().stream().map(DockerContainerRuntime::device).toList());
            }
            if (!s.capAdd().isEmpty()) {
                host.withCapAdd(capabilities(s.capAdd()));
            }
            if (!s.capDrop().isEmpty()) {
                host.withCapDrop(capabilities(s.capDrop()));
            }
            if (s.memoryBytes() > 0) {
                host.withMemory(s.memoryBytes());
            }
            if (s.nanoCpus() > 0) {
                host.withNanoCPUs(s.nanoCpus());
            }
            ContainerSpec.Builder logSpec = ContainerSpec.newBuilder();
            if (s.logging() != null) {
                logSpec.setLog(dev.turnout.proto.LogConfig.newBuilder().setDriver(s.logging().driver() == null ? "" : s.logging().driver())
                        .setMaxSizeBytes(s.logging().maxSizeBytes()).setMaxFile(s.logging().maxFile()));
            }
            LogRotation rotation = LogRotation.of(logSpec.build());
            host.withLogConfig(new LogConfig(LogConfig.LoggingType.fromValue(rotation.driver()), rotation.options()));
            List<ExposedPort> exposed = new ArrayList<>();
            if (!s.ports().isEmpty()) {
                List<PortBinding> bindings = s.ports().stream().flatMap(p -> expandRange(p).stream()).map(PortBinding::parse).toList();
                bindings.forEach(b -> exposed.add(b.getExposedPort()));
                host.withPortBindings(bindings);
            }
            CreateContainerCmd cmd = docker.createContainerCmd(c.image())
                    .withName(c.name())
                    .withLabels(c.labels())
                    .withHostConfig(host)
                    .withEnv(s.environment().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
            if (s.command() != null) {
                cmd.withCmd(s.command());
            }
            if (s.entrypoint() != null) {
                cmd.withEntrypoint(s.entrypoint());
            }
            if (s.user() != null) {
                cmd.withUser(s.user());
            }
            if (s.workingDir() != null) {
                cmd.withWorkingDir(s.workingDir());
            }
            if (s.healthcheck() != null) {
                cmd.withHealthcheck(healthcheck(s.healthcheck()));
            }
            if (!exposed.isEmpty()) {
                cmd.withExposedPorts(exposed);
            }
            List<Map.Entry<String, List<String>>> networks = new ArrayList<>(c.networks().entrySet());
            if (!networks.isEmpty()) {
                cmd.withAliases(networks.get(0).getValue()); // the aliases of the network it is created on
            }
            removeIfExists(c.name());
            CreateContainerResponse response = cmd.exec();
            created = response.getId();
            if (response.getWarnings() != null) {
                for (String warning : response.getWarnings()) {
                    log.warn("Docker created {} with a warning: {}", c.name(), warning);
                }
            }
            for (Map.Entry<String, List<String>> network : networks.subList(Math.min(1, networks.size()), networks.size())) {
                docker.connectToNetworkCmd().withContainerId(created).withNetworkId(network.getKey())
                        .withContainerNetwork(new ContainerNetwork().withAliases(network.getValue())).exec();
            }
            return created;
        } catch (IllegalArgumentException e) {
            throw new UpdateFailure(Reason.CONTAINER_START_FAILED, "service " + s.name() + ": bad setting: " + e.getMessage());
        } catch (RuntimeException e) {
            if (created != null) {
                removeQuietly(created);
            }
            throw failure("create container of service " + s.name(), e);
        }
    }

    private void removeQuietly(String id) {
        try {
            docker.removeContainerCmd(id).withForce(true).exec();
        } catch (RuntimeException ignored) {
            // the start-up's orphan sweep removes it
        }
    }

    /** Compose's healthcheck in the engine's terms (durations in nanoseconds; {@code NONE} turns the image's off). */
    private static com.github.dockerjava.api.model.HealthCheck healthcheck(ComposeFile.Healthcheck h) {
        com.github.dockerjava.api.model.HealthCheck check = new com.github.dockerjava.api.model.HealthCheck();
        if (h.disabled()) {
            return check.withTest(List.of("NONE"));
        }
        if (h.test() != null) {
            check.withTest(h.test());
        }
        if (h.interval() != null) {
            check.withInterval(h.interval().toNanos());
        }
        if (h.timeout() != null) {
            check.withTimeout(h.timeout().toNanos());
        }
        if (h.startPeriod() != null) {
            check.withStartPeriod(h.startPeriod().toNanos());
        }
        if (h.retries() != null) {
            check.withRetries(h.retries());
        }
        return check;
    }

    /** {@code HOST[:CONTAINER[:PERMISSIONS]]}, the container path defaulting to the host's, permissions to rwm. */
    private static Device device(String text) {
        String[] parts = text.split(":");
        String host = parts[0];
        String inContainer = parts.length > 1 ? parts[1] : host;
        String permissions = parts.length > 2 ? parts[2] : "rwm";
        return new Device(permissions, inContainer, host);
    }

    /** {@code 9000-9001:8000-8001} as {@code 9000:8000} and {@code 9001:8001}; a single port as it is. */
    static List<String> expandRange(String port) {
        String protocol = "";
        String text = port;
        int slash = text.indexOf('/');
        if (slash >= 0) {
            protocol = text.substring(slash);
            text = text.substring(0, slash);
        }
        int lastColon = text.lastIndexOf(':');
        String container = text.substring(lastColon + 1);
        if (!container.contains("-")) {
            return List.of(port);
        }
        String prefix = lastColon < 0 ? "" : text.substring(0, lastColon);
        int hostColon = prefix.lastIndexOf(':');
        String hostIp = hostColon < 0 ? "" : prefix.substring(0, hostColon + 1);
        String hostPorts = hostColon < 0 ? prefix : prefix.substring(hostColon + 1);
        String[] c = container.split("-");
        int from = Integer.parseInt(c[0]);
        int to = Integer.parseInt(c[1]);
        int hostFrom = -1;
        if (!hostPorts.isEmpty()) {
            hostFrom = Integer.parseInt(hostPorts.split("-")[0]);
        }
        List<String> ports = new ArrayList<>();
        for (int i = 0; i <= to - from; i++) {
            ports.add(hostIp + (hostFrom < 0 ? "" : (hostFrom + i) + ":") + (from + i) + protocol);
        }
        return ports;
    }

    /** Docker's capability names; "CAP_" prefix and case as the orchestrator may not have normalised them. */
    private static Capability[] capabilities(List<String> names) {
        return names.stream().map(n -> Capability.fromValue(n.toUpperCase(Locale.ROOT).replaceFirst("^CAP_", "")))
                .toArray(Capability[]::new);
    }

    private void removeIfExists(String name) {
        try {
            docker.removeContainerCmd(name).withForce(true).exec();
        } catch (NotFoundException ignored) {
            // the usual case
        }
    }

    @Override
    public void start(String containerId) throws UpdateFailure {
        try {
            docker.startContainerCmd(containerId).exec();
        } catch (NotModifiedException alreadyRunning) {
            // fine
        } catch (RuntimeException e) {
            throw new UpdateFailure(Reason.CONTAINER_START_FAILED, "start failed: " + e.getMessage(), isTransient(e), e);
        }
    }

    @Override
    public void stop(String containerId, Duration grace) throws UpdateFailure {
        try {
            docker.stopContainerCmd(containerId).withTimeout((int) Math.max(1, grace.toSeconds())).exec();
        } catch (NotFoundException | NotModifiedException ignored) {
            // already gone or stopped
        } catch (RuntimeException e) {
            throw failure("stop container", e);
        }
    }

    @Override
    public void remove(String containerId) throws UpdateFailure {
        try {
            docker.removeContainerCmd(containerId).withForce(true).exec();
        } catch (NotFoundException ignored) {
            // already gone
        } catch (RuntimeException e) {
            throw failure("remove container", e);
        }
    }

    @Override
    public void removeImage(String imageId) {
        try {
            docker.removeImageCmd(imageId).withForce(false).exec();
        } catch (RuntimeException ignored) {
            // in use or already gone
        }
    }

    @Override
    public int exec(String containerId, List<String> command, Duration timeout) throws UpdateFailure {
        try {
            String execId = docker.execCreateCmd(containerId).withCmd(command.toArray(String[]::new))
                    .withAttachStdout(true).withAttachStderr(true).exec().getId();
            try (ResultCallback.Adapter<Frame> callback = docker.execStartCmd(execId).exec(new ResultCallback.Adapter<>())) {
                if (!callback.awaitCompletion(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    return -1;
                }
            }
            Long code = docker.inspectExecCmd(execId).exec().getExitCodeLong();
            return code == null ? -1 : code.intValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        } catch (IOException e) {
            return -1;
        } catch (RuntimeException e) {
            throw failure("exec", e);
        }
    }

    @Override
    public ContainerStatus status(String containerId) throws UpdateFailure {
        try {
            InspectContainerResponse response = docker.inspectContainerCmd(containerId).exec();
            InspectContainerResponse.ContainerState state = response.getState();
            String health = state.getHealth() == null || state.getHealth().getStatus() == null ? "" : state.getHealth().getStatus();
            return new ContainerStatus(state.getStatus() == null ? "unknown" : state.getStatus(), Boolean.TRUE.equals(state.getRunning()),
                    Boolean.TRUE.equals(state.getRestarting()), response.getRestartCount() == null ? 0 : response.getRestartCount(), health,
                    Boolean.TRUE.equals(state.getOOMKilled()),
                    state.getExitCodeLong() == null ? 0 : state.getExitCodeLong().intValue());
        } catch (NotFoundException e) {
            return ContainerStatus.MISSING;
        } catch (RuntimeException e) {
            throw failure("inspect container", e);
        }
    }

    /**
     * One stats sample ({@code stream=false}: the engine answers once, within about a second). Memory is counted as
     * {@code docker stats} counts it: usage less the inactive file cache ({@code total_inactive_file} under cgroup v1,
     * {@code inactive_file} under v2), which the kernel drops before it runs out.
     */
    @Override
    public ContainerUsage usage(String containerId) throws UpdateFailure {
        Statistics stats;
        try (StatsSample sample = docker.statsCmd(containerId).withNoStream(true).exec(new StatsSample())) {
            if (!sample.awaitCompletion(STATS_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new UpdateFailure(Reason.ENGINE_ERROR, "stats of " + containerId + " took longer than " + STATS_TIMEOUT.toSeconds() + " s",
                        true, null);
            }
            stats = sample.first;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpdateFailure(Reason.INTERRUPTED, "interrupted while reading stats");
        } catch (IOException e) {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "stats failed: " + e.getMessage(), true, e);
        } catch (NotFoundException e) {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "stats failed: no container " + containerId, false, e);
        } catch (RuntimeException e) {
            throw failure("container stats", e);
        }
        if (stats == null || stats.getMemoryStats() == null || stats.getCpuStats() == null) {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "the engine sent no stats for " + containerId, true, null);
        }
        MemoryStatsConfig memory = stats.getMemoryStats();
        long usage = orZero(memory.getUsage());
        long inactive = 0;
        if (memory.getStats() != null) {
            inactive = memory.getStats().getTotalInactiveFile() != null ? memory.getStats().getTotalInactiveFile()
                    : orZero(memory.getStats().getInactiveFile());
        }
        CpuStatsConfig cpu = stats.getCpuStats();
        long cpuNanos = cpu.getCpuUsage() == null ? 0 : orZero(cpu.getCpuUsage().getTotalUsage());
        int cpus = cpu.getOnlineCpus() != null && cpu.getOnlineCpus() > 0 ? cpu.getOnlineCpus().intValue()
                : cpu.getCpuUsage() != null && cpu.getCpuUsage().getPercpuUsage() != null ? cpu.getCpuUsage().getPercpuUsage().size()
                : Runtime.getRuntime().availableProcessors();
        return new ContainerUsage(inactive < usage ? usage - inactive : usage, orZero(memory.getLimit()), cpuNanos,
                orZero(cpu.getSystemCpuUsage()), Math.max(1, cpus));
    }

    private static final Duration STATS_TIMEOUT = Duration.ofSeconds(10);

    /** Keeps the one answer of a stats call that does not stream. */
    private static final class StatsSample extends ResultCallback.Adapter<Statistics> {
        private volatile Statistics first;

        @Override
        public void onNext(Statistics object) {
            if (first == null) {
                first = object;
            }
        }
    }

    private static long orZero(Long value) {
        return value == null ? 0 : value;
    }

    /** {@code docker info}'s DockerRootDir; read once, when a release first limits disk use. */
    @Override
    public String dataRoot() {
        try {
            String root = docker.infoCmd().exec().getDockerRootDir();
            return root == null ? "" : root;
        } catch (RuntimeException e) {
            log.warn("cannot read Docker's data root: {}", e.getMessage());
            return "";
        }
    }

    @Override
    public List<ManagedContainer> list(Map<String, String> labels) throws UpdateFailure {
        try {
            List<Container> containers = docker.listContainersCmd().withShowAll(true).withLabelFilter(labels).exec();
            return containers.stream().map(c -> new ManagedContainer(c.getId(),
                    c.getNames() == null || c.getNames().length == 0 ? "" : c.getNames()[0].replaceFirst("^/", ""),
                    c.getLabels().getOrDefault(UpdateEngine.LABEL_APP, ""), c.getLabels().getOrDefault(UpdateEngine.LABEL_VERSION, ""),
                    c.getState())).toList();
        } catch (RuntimeException e) {
            throw failure("list containers", e);
        }
    }

    /** The longest a log read may take: a local engine answers at once, and a caller waits on it. */
    private static final Duration LOG_READ_TIMEOUT = Duration.ofSeconds(10);

    @Override
    public List<LogEntry> logs(String containerId, int tail, long sinceNanos, int maxBytes) throws UpdateFailure {
        BoundedLog kept = new BoundedLog(sinceNanos, maxBytes);
        try {
            var cmd = docker.logContainerCmd(containerId).withStdOut(true).withStdErr(true).withTimestamps(true)
                    .withTail(Math.max(1, tail));
            if (sinceNanos > 0) {
                cmd.withSince((int) Math.min(Integer.MAX_VALUE, sinceNanos / 1_000_000_000L)); // whole seconds: finer below
            }
            try (ResultCallback.Adapter<Frame> callback = cmd.exec(new ResultCallback.Adapter<>() {
                @Override
                public void onNext(Frame frame) {
                    kept.add(frame.getStreamType() == StreamType.STDERR, frame.getPayload());
                }
            })) {
                if (!callback.awaitCompletion(LOG_READ_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                    log.warn("reading the log of {} took longer than {} s; returning what came", containerId, LOG_READ_TIMEOUT.toSeconds());
                }
            }
        } catch (NotFoundException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpdateFailure(Reason.INTERRUPTED, "interrupted while reading the log of " + containerId);
        } catch (IOException e) {
            log.debug("closing the log stream of {}: {}", containerId, e.getMessage());
        } catch (RuntimeException e) {
            throw failure("read the log", e);
        }
        return kept.entries();
    }

    /**
     * The lines of a log as they stream in ("TIMESTAMP TEXT\n" as Docker writes each line with timestamps), older ones
     * dropped once the text passes the byte bound: memory stays bounded whatever the container printed. Frames need not
     * end at line ends (nor at character ends): each stream's bytes are put together again up to each newline.
     */
    static final class BoundedLog {
        private final long sinceNanos;
        private final int maxBytes;
        /** The bytes of each stream's line not ended yet (stdout, stderr), at most {@link #maxPartial}. */
        private final java.io.ByteArrayOutputStream[] partial = {new java.io.ByteArrayOutputStream(), new java.io.ByteArrayOutputStream()};
        private final int maxPartial;
        private final Deque<LogEntry> lines = new ArrayDeque<>();
        private long bytes;

        BoundedLog(long sinceNanos, int maxBytes) {
            this.sinceNanos = sinceNanos;
            this.maxBytes = Math.max(1, maxBytes);
            this.maxPartial = this.maxBytes + 64; // the kept end of a longer line, and its timestamp
        }

        synchronized void add(boolean stderr, byte[] payload) {
            if (payload == null) {
                return;
            }
            java.io.ByteArrayOutputStream open = partial[stderr ? 1 : 0];
            int from = 0;
            for (int i = 0; i < payload.length; i++) {
                if (payload[i] == '\n') {
                    open.write(payload, from, i - from);
                    line(stderr, open.toByteArray());
                    open.reset();
                    from = i + 1;
                }
            }
            open.write(payload, from, payload.length - from);
            if (open.size() > 2 * maxPartial) { // a line with no end in sight: keep its end only
                byte[] all = open.toByteArray();
                open.reset();
                open.write(all, all.length - maxPartial, maxPartial);
            }
        }

        private void line(boolean stderr, byte[] raw) {
            String line = LogTail.decode(raw);
            long at = 0;
            int space = line.indexOf(' ');
            if (space > 0) {
                at = epochNanos(line.substring(0, space));
                if (at > 0) {
                    line = line.substring(space + 1);
                }
            }
            if (sinceNanos > 0 && at > 0 && at <= sinceNanos) {
                return;
            }
            String bounded = LogTail.endOf(line, maxBytes);
            lines.addLast(new LogEntry(at, stderr, bounded));
            bytes += LogTail.utf8Length(bounded);
            while (bytes > maxBytes && lines.size() > 1) {
                bytes -= LogTail.utf8Length(lines.removeFirst().text());
            }
        }

        /** Every line, oldest first; a last line without its newline counts as ended. */
        synchronized List<LogEntry> entries() {
            for (int stream = 0; stream < partial.length; stream++) {
                if (partial[stream].size() > 0) {
                    line(stream == 1, partial[stream].toByteArray());
                    partial[stream].reset();
                }
            }
            return List.copyOf(lines);
        }

        /** Docker's RFC 3339 timestamp with nanoseconds as Unix epoch nanoseconds; 0 when it is not one. */
        static long epochNanos(String timestamp) {
            if (timestamp.length() < 20 || timestamp.charAt(4) != '-' || timestamp.charAt(10) != 'T') {
                return 0;
            }
            try {
                Instant at = Instant.parse(timestamp);
                return Math.multiplyExact(at.getEpochSecond(), 1_000_000_000L) + at.getNano();
            } catch (DateTimeParseException | ArithmeticException e) {
                return 0;
            }
        }
    }

    @Override
    public boolean answers() {
        try {
            docker.pingCmd().exec();
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public String platform() throws UpdateFailure {
        try {
            // the engine's own GOARCH (amd64, arm64, arm): the architecture of the images it runs. `docker version`
            // answers with a dozen fields where `docker info` answers with hundreds, whose deserializers an idle
            // daemon would keep.
            String arch = docker.versionCmd().exec().getArch();
            if ("arm".equals(arch)) {
                return armPlatform(cpuInfo());
            }
            return platformOf(arch == null ? "" : arch);
        } catch (RuntimeException e) {
            throw failure("docker version", e);
        }
    }

    /** Maps an engine or JVM architecture name to a platform string ("arm" alone says no variant: v7 is assumed). */
    public static String platformOf(String arch) {
        return switch (arch) {
            case "x86_64", "amd64" -> "linux/amd64";
            case "aarch64", "arm64" -> "linux/arm64";
            case "armv6l" -> "linux/arm/v6";
            case "armv7l", "armv8l", "arm" -> "linux/arm/v7";
            default -> "linux/" + arch;
        };
    }

    /**
     * The platform of a 32-bit ARM engine, whose GOARCH ("arm") does not tell v6 from v7; read from the CPU as
     * containerd does. The ARM11 of a Pi Zero and Pi 1 is v6 even where its kernel reports "CPU architecture: 7";
     * an ARMv8 CPU running a 32-bit engine (a Pi 3 or 4 on a 32-bit OS) runs v7 images.
     *
     * @param cpuInfo the text of {@code /proc/cpuinfo} (empty when unreadable: v7)
     */
    public static String armPlatform(String cpuInfo) {
        String model = "";
        String architecture = "";
        for (String line : cpuInfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).trim();
            String value = line.substring(colon + 1).trim();
            if (key.equalsIgnoreCase("model name") && model.isEmpty()) {
                model = value;
            } else if (key.equalsIgnoreCase("CPU architecture") && architecture.isEmpty()) {
                architecture = value;
            }
        }
        if (model.startsWith("ARMv6") || architecture.startsWith("6")) {
            return "linux/arm/v6";
        }
        if (architecture.startsWith("5")) {
            return "linux/arm/v5";
        }
        return "linux/arm/v7";
    }

    private static String cpuInfo() {
        try {
            return Files.readString(Path.of("/proc/cpuinfo"));
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    @Override
    public void close() {
        try {
            docker.close();
        } catch (IOException ignored) {
            // closing
        }
    }

    private static UpdateFailure failure(String what, RuntimeException e) {
        return new UpdateFailure(Reason.ENGINE_ERROR, what + " failed: " + e.getMessage(), isTransient(e), e);
    }

    private static boolean isTransient(RuntimeException e) {
        if (e instanceof ConflictException) {
            return true;
        }
        if (e instanceof DockerException de) {
            return de.getHttpStatus() >= 500;
        }
        return true; // transport errors: the engine may be restarting
    }
}
