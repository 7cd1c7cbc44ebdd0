package dev.turnout.edge.engine;

import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.ManagedContainer;
import dev.turnout.edge.domain.ServiceContainer;
import dev.turnout.edge.domain.StackContainers;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ContainerRuntime;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.edge.port.UpdateLocks;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.compose.ComposeFile;
import dev.turnout.proto.compose.ComposeReader;
import dev.turnout.proto.compose.InvalidComposeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Brings the services of a Compose app up and down on the engine, in dependency order: the engine-facing half of a
 * stack update, whose states {@link UpdateEngine} keeps. A failure names the service it came from.
 */
final class StackSwitch {

    /** Compose's own labels, so {@code docker compose ls/ps} and people see the app as Compose would show it. */
    static final String LABEL_PROJECT = "com.docker.compose.project";
    static final String LABEL_SERVICE = "com.docker.compose.service";
    static final String LABEL_CONFIG_HASH = "com.docker.compose.config-hash";
    static final String LABEL_NETWORK = "com.docker.compose.network";
    static final String LABEL_VOLUME = "com.docker.compose.volume";
    /** A release without a soak still has its services watched this long: one that exits at once is caught. */
    static final Duration MIN_SOAK = Duration.ofSeconds(5);
    /** The longest wait for a dependency to become healthy or to complete. */
    static final Duration MAX_DEPENDENCY_WAIT = Duration.ofMinutes(5);
    private static final Duration POLL = Duration.ofMillis(250);
    private static final Duration STOP_GRACE = Duration.ofSeconds(10);
    private static final Logger log = LoggerFactory.getLogger(StackSwitch.class);

    /** Sleeps between polls; tests pass one that does not. */
    @FunctionalInterface
    interface Sleeper {
        void sleep(Duration d) throws InterruptedException;
    }

    private final String deviceId;
    private final ContainerRuntime runtime;
    private final HealthVerifier health;
    private final UpdateLocks locks;
    private final LongSupplier nanoTime;
    private final Sleeper sleeper;

    StackSwitch(String deviceId, ContainerRuntime runtime, HealthVerifier health, UpdateLocks locks, LongSupplier nanoTime,
                Sleeper sleeper) {
        this.deviceId = deviceId;
        this.runtime = runtime;
        this.health = health;
        this.locks = locks;
        this.nanoTime = nanoTime;
        this.sleeper = sleeper;
    }

    /**
     * What one release of the app runs: every service's container as it would be created (its config hash among its
     * labels), and the services whose running container already is that (left alone).
     *
     * @param order the services in start order
     * @param specs each service's container
     * @param kept  services whose container of the running release has the same config hash: not restarted
     */
    record Plan(List<String> order, Map<String, ServiceContainer> specs, Set<String> kept) {

        /** The services this switch creates and starts. */
        List<String> changed() {
            return order.stream().filter(s -> !kept.contains(s)).toList();
        }
    }

    /** The release's Compose file, read with its own variables only; MALFORMED when it does not read. */
    static ComposeFile read(Release release) throws UpdateFailure {
        return read(release, Map.of());
    }

    /**
     * The release's Compose file, read as the device does: each {@code ${VAR}} takes the device's own value
     * ({@code deviceVariables}, from its config) or else the release's; MALFORMED when it does not read.
     */
    static ComposeFile read(Release release, Map<String, String> deviceVariables) throws UpdateFailure {
        Map<String, String> envFiles = new LinkedHashMap<>();
        release.getCompose().getEnvFilesMap().forEach((name, bytes) -> envFiles.put(name, bytes.toStringUtf8()));
        Map<String, String> variables = new LinkedHashMap<>(release.getCompose().getVariablesMap());
        variables.putAll(deviceVariables);
        try {
            return ComposeReader.read(release.getCompose().getFileName(), release.getCompose().getContent().toStringUtf8(),
                    variables, envFiles);
        } catch (InvalidComposeException e) {
            throw new UpdateFailure(Reason.MALFORMED, e.getMessage());
        }
    }

    /** The Compose project name of an app: lower-case letters, digits, {@code _} and {@code -}. */
    static String project(String app) {
        String name = app.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_-]", "_");
        return name.isEmpty() || !Character.isLetterOrDigit(name.charAt(0)) ? "app" + name : name;
    }

    static String networkName(String app, ComposeFile file, String network) {
        ComposeFile.Network declared = file.networks().get(network);
        return declared != null && declared.name() != null ? declared.name() : project(app) + "_" + network;
    }

    static String volumeName(String app, ComposeFile file, String volume) {
        ComposeFile.Volume declared = file.volumes().get(volume);
        return declared != null && declared.name() != null ? declared.name() : project(app) + "_" + volume;
    }

    /**
     * Plans a release: each service's container, named after the desired state's sequence, and whether the running
     * release's container of that service can stay ({@code running}: its containers; empty for a first install).
     *
     * @param images the engine's image id for each image reference the services name
     */
    Plan plan(String app, String version, long sequence, ComposeFile file, Map<String, String> images, StackContainers running)
            throws UpdateFailure {
        List<String> order = file.startOrder();
        Map<String, ServiceContainer> specs = new LinkedHashMap<>();
        String lockDir = locks.hostDir(app);
        for (String name : order) {
            ComposeFile.Service s = file.services().get(name);
            String image = images.getOrDefault(s.image(), s.image());
            String mode = s.networkMode();
            Map<String, List<String>> networks = new LinkedHashMap<>();
            if (mode == null) {
                List<String> joined = s.networks().isEmpty() ? List.of("default") : s.networks();
                for (String network : joined) {
                    networks.put(networkName(app, file, network), List.of(name));
                }
                mode = networks.keySet().iterator().next();
            }
            Map<String, String> volumes = new TreeMap<>();
            for (ComposeFile.Mount m : s.volumes()) {
                if ("volume".equals(m.type())) {
                    volumes.put(m.source(), volumeName(app, file, m.source()));
                }
            }
            List<String> binds = lockDir == null ? List.of() : List.of(lockDir + ":" + UpdateLocks.CONTAINER_DIR);
            String hash = hash(s + "|" + image + "|" + mode + "|" + networks + "|" + volumes + "|" + binds);
            Map<String, String> labels = new LinkedHashMap<>(new TreeMap<>(s.labels()));
            labels.put(UpdateEngine.LABEL_DEVICE, deviceId);
            labels.put(UpdateEngine.LABEL_APP, app);
            labels.put(UpdateEngine.LABEL_VERSION, version);
            labels.put(UpdateEngine.LABEL_SEQUENCE, Long.toString(sequence));
            labels.put(LABEL_PROJECT, project(app));
            labels.put(LABEL_SERVICE, name);
            labels.put(LABEL_CONFIG_HASH, hash);
            labels.put("com.docker.compose.oneoff", "False");
            labels.put("com.docker.compose.container-number", "1");
            String container = UpdateEngine.containerName(deviceId, app + "-" + name, version, sequence);
            specs.put(name, new ServiceContainer(container, image, s, mode, networks, volumes, binds, labels));
        }
        Set<String> kept = new LinkedHashSet<>();
        for (String name : order) {
            String old = running.id(name);
            if (old != null && hasHash(app, name, specs.get(name).labels().get(LABEL_CONFIG_HASH), old)) {
                kept.add(name);
            }
        }
        // a service that shares another's network stack follows it: a new container of that one means a new one here
        for (String name : order) {
            String mode = file.services().get(name).networkMode();
            if (mode != null && mode.startsWith("service:") && !kept.contains(mode.substring("service:".length()))) {
                kept.remove(name);
            }
        }
        return new Plan(order, specs, kept);
    }

    private boolean hasHash(String app, String service, String hash, String containerId) throws UpdateFailure {
        for (ManagedContainer c : runtime.list(Map.of(UpdateEngine.LABEL_DEVICE, deviceId, UpdateEngine.LABEL_APP, app,
                LABEL_SERVICE, service, LABEL_CONFIG_HASH, hash))) {
            if (c.id().equals(containerId)) {
                return true;
            }
        }
        return false;
    }

    static String hash(String canonical) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Creates the app's networks (those its services join) and named volumes; existing ones are kept as they are. */
    void prepare(String app, ComposeFile file, Plan plan) throws UpdateFailure {
        Set<String> networks = new LinkedHashSet<>();
        plan.specs().values().forEach(s -> networks.addAll(s.networks().keySet()));
        for (String network : networks) {
            String key = file.networks().keySet().stream().filter(n -> networkName(app, file, n).equals(network)).findFirst()
                    .orElse("default");
            ComposeFile.Network declared = file.networks().get(key);
            Map<String, String> labels = new LinkedHashMap<>(declared == null ? Map.of() : new TreeMap<>(declared.labels()));
            labels.put(UpdateEngine.LABEL_DEVICE, deviceId);
            labels.put(UpdateEngine.LABEL_APP, app);
            labels.put(LABEL_PROJECT, project(app));
            labels.put(LABEL_NETWORK, key);
            runtime.ensureNetwork(network, declared != null && declared.internal(), labels);
        }
        for (Map.Entry<String, ComposeFile.Volume> volume : file.volumes().entrySet()) {
            Map<String, String> labels = new LinkedHashMap<>(new TreeMap<>(volume.getValue().labels()));
            labels.put(UpdateEngine.LABEL_DEVICE, deviceId);
            labels.put(UpdateEngine.LABEL_APP, app);
            labels.put(LABEL_PROJECT, project(app));
            labels.put(LABEL_VOLUME, volume.getKey());
            runtime.ensureVolume(volumeName(app, file, volume.getKey()), labels);
        }
    }

    /**
     * Creates the containers of the changed services, in start order; {@code created} hears of each at once (the
     * caller saves it) so a crash leaves no container the device does not know.
     *
     * @param base the containers the release keeps (the plan's kept services)
     */
    StackContainers create(Plan plan, StackContainers base, Consumer<StackContainers> created) throws UpdateFailure {
        StackContainers set = new StackContainers(Map.of());
        for (String name : plan.order()) {
            String id = base.id(name);
            if (id == null) {
                ServiceContainer spec = plan.specs().get(name);
                String mode = spec.networkMode();
                if (mode.startsWith("service:")) {
                    String other = set.id(mode.substring("service:".length()));
                    spec = new ServiceContainer(spec.name(), spec.image(), spec.service(), "container:" + other, spec.networks(),
                            spec.volumes(), spec.extraBinds(), spec.labels());
                }
                try {
                    id = runtime.createService(spec);
                } catch (UpdateFailure e) {
                    throw named(name, e);
                }
            }
            set = set.with(name, id);
            created.accept(set);
        }
        return set;
    }

    /** Stops the given services' containers, dependents first. */
    void stop(List<String> order, StackContainers set, Set<String> services) {
        List<String> reversed = new ArrayList<>(order);
        Collections.reverse(reversed);
        for (String name : reversed) {
            String id = set.id(name);
            if (id != null && services.contains(name)) {
                try {
                    runtime.stop(id, STOP_GRACE);
                } catch (UpdateFailure e) {
                    log.warn("cannot stop the container of service {}: {}", name, e.getMessage());
                }
            }
        }
    }

    /**
     * Starts the given services in start order, each once what it depends on is as its {@code depends_on} asks:
     * started, healthy (its healthcheck passes) or completed successfully (exited 0).
     */
    void start(ComposeFile file, List<String> order, StackContainers set, Set<String> services) throws UpdateFailure {
        for (String name : order) {
            if (!services.contains(name)) {
                continue;
            }
            for (Map.Entry<String, ComposeFile.Condition> dependency : file.services().get(name).dependsOn().entrySet()) {
                String dep = dependency.getKey();
                try {
                    awaitCondition(file.services().get(dep), set.id(dep), dependency.getValue());
                } catch (UpdateFailure e) {
                    throw named(dep, e);
                }
            }
            try {
                runtime.start(set.id(name));
            } catch (UpdateFailure e) {
                throw named(name, e);
            }
        }
    }

    private void awaitCondition(ComposeFile.Service service, String id, ComposeFile.Condition condition) throws UpdateFailure {
        switch (condition) {
            case SERVICE_STARTED -> {
                // started before its dependents: nothing to wait for
            }
            case SERVICE_HEALTHY -> awaitHealthy(service, id);
            case SERVICE_COMPLETED_SUCCESSFULLY -> {
                long deadline = nanoTime.getAsLong() + MAX_DEPENDENCY_WAIT.toNanos();
                while (true) {
                    ContainerStatus status = runtime.status(id);
                    if (!status.running() && !status.restarting() && !"created".equals(status.state())) {
                        if (status.equals(ContainerStatus.MISSING) || status.exitCode() != 0) {
                            throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "did not complete successfully ("
                                    + (status.equals(ContainerStatus.MISSING) ? "its container is gone" : "exit code " + status.exitCode()) + ")");
                        }
                        return;
                    }
                    pause(deadline, "did not complete within " + MAX_DEPENDENCY_WAIT.toMinutes() + " min");
                }
            }
        }
    }

    /** Waits for Docker to report the container healthy; unhealthy or stopped fails at once. */
    private void awaitHealthy(ComposeFile.Service service, String id) throws UpdateFailure {
        long deadline = nanoTime.getAsLong() + healthWait(service.healthcheck()).toNanos();
        while (true) {
            ContainerStatus status = runtime.status(id);
            if (!status.running() && !status.restarting()) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "container is " + status.state() + ", not running");
            }
            switch (status.health()) {
                case "healthy" -> {
                    return;
                }
                case "unhealthy" -> throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "its healthcheck fails (Docker reports it unhealthy)");
                case "" -> throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "has no healthcheck to wait for");
                default -> pause(deadline, "not healthy within " + healthWait(service.healthcheck()).toSeconds() + " s");
            }
        }
    }

    /** As long as Docker can take to call the check healthy or unhealthy, and a little more; at most 5 min. */
    static Duration healthWait(ComposeFile.Healthcheck h) {
        Duration interval = h == null || h.interval() == null ? Duration.ofSeconds(30) : h.interval();
        Duration timeout = h == null || h.timeout() == null ? Duration.ofSeconds(30) : h.timeout();
        Duration start = h == null || h.startPeriod() == null ? Duration.ZERO : h.startPeriod();
        int retries = h == null || h.retries() == null ? 3 : h.retries();
        Duration wait = start.plus(interval.plus(timeout).multipliedBy(retries + 1L)).plusSeconds(5);
        return wait.compareTo(MAX_DEPENDENCY_WAIT) > 0 ? MAX_DEPENDENCY_WAIT : wait;
    }

    private void pause(long deadlineNanos, String timedOut) throws UpdateFailure {
        if (nanoTime.getAsLong() >= deadlineNanos) {
            throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, timedOut);
        }
        try {
            sleeper.sleep(POLL);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UpdateFailure(Reason.INTERRUPTED, "interrupted while waiting for a service");
        }
    }

    /**
     * Judges every service of a release: one with a healthcheck must be healthy, every other one running, through the
     * release's soak (at least {@link #MIN_SOAK}); the release's own probe, if it has one, is run against the last
     * service to start. Services others wait on to complete (one-shot jobs) were judged when they completed.
     */
    void verify(ComposeFile file, List<String> order, StackContainers set, HealthCheck releaseCheck) throws UpdateFailure {
        long soakNanos = Math.max(MIN_SOAK.toNanos(), Duration.ofMillis(Math.max(0, releaseCheck.getSoakMs())).toNanos());
        long began = nanoTime.getAsLong();
        Set<String> oneShot = oneShot(file);
        List<String> judged = order.stream().filter(s -> !oneShot.contains(s)).toList();
        for (int i = 0; i < judged.size(); i++) {
            String name = judged.get(i);
            ComposeFile.Service service = file.services().get(name);
            boolean hasCheck = service.healthcheck() != null && !service.healthcheck().disabled();
            HealthCheck.Builder check = HealthCheck.newBuilder().setDocker(hasCheck)
                    .setSoakMs(Math.max(0, (soakNanos - (nanoTime.getAsLong() - began)) / 1_000_000));
            if (i == judged.size() - 1) { // the release's probe, with its timings
                check.mergeFrom(releaseCheck.toBuilder().clearSoakMs().build());
            }
            try {
                if (hasCheck) {
                    awaitHealthy(service, set.id(name));
                }
                health.verify(set.id(name), check.build());
            } catch (UpdateFailure e) {
                throw named(name, e);
            }
        }
    }

    /** Services another one waits on to complete successfully: they are meant to exit. */
    static Set<String> oneShot(ComposeFile file) {
        Set<String> jobs = new LinkedHashSet<>();
        file.services().values().forEach(s -> s.dependsOn().forEach((dep, condition) -> {
            if (condition == ComposeFile.Condition.SERVICE_COMPLETED_SUCCESSFULLY) {
                jobs.add(dep);
            }
        }));
        return jobs;
    }

    private static final java.util.regex.Pattern NAMED = java.util.regex.Pattern.compile("^service ([^:\\s]+):");

    /** The service a failure message of {@link #named} names; null for a message that names none. */
    static String failingService(String message) {
        java.util.regex.Matcher m = NAMED.matcher(message == null ? "" : message);
        return m.find() ? m.group(1) : null;
    }

    /** The failure with the service named first: "service web: health check failed ...". */
    static UpdateFailure named(String service, UpdateFailure e) {
        if (e.getMessage() != null && e.getMessage().startsWith("service ")) {
            return e;
        }
        return new UpdateFailure(e.reason(), "service " + service + ": " + e.getMessage(), e.isTransient(), e);
    }
}
