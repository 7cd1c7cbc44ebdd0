package dev.turnout.edge.engine;

import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.EngineImage;
import dev.turnout.edge.domain.LogEntry;
import dev.turnout.edge.domain.ManagedContainer;
import dev.turnout.edge.domain.ServiceContainer;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ContainerRuntime;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An in-memory container engine: images by reference, containers with their labels and running flag. Thread-safe:
 * the update engine stops the old container on a second thread while it creates the new one.
 */
final class FakeRuntime implements ContainerRuntime {

    record Box(String id, String image, Map<String, String> labels, boolean running) {
    }

    /** Loaded images by the id the engine knows them by. */
    final Map<String, EngineImage> images = new LinkedHashMap<>();
    final Map<String, Box> containers = new LinkedHashMap<>();
    final List<String> calls = new ArrayList<>();
    /** Config digest an archive holds, by version (default: the signed id of the fixture). */
    final Map<String, String> archiveIdOverride = new LinkedHashMap<>();
    /** Layers a loaded image reports, by version (default: the signed layers of the fixture). */
    final Map<String, List<String>> loadedLayersOverride = new LinkedHashMap<>();
    /**
     * True: images are known by their manifest digest, as on the containerd image store; false: by their config digest,
     * as on the classic store.
     */
    volatile boolean containerdStore;
    private int next;
    /** Runs at the start of every create and stop, outside the fake's lock: a test can hold one there. */
    volatile Runnable beforeCreate = () -> { };
    volatile Runnable beforeStop = () -> { };

    private static String version(Path archive) {
        return archive.getFileName().toString().replace(".tar", "");
    }

    @Override
    public synchronized void checkArchive(Path archive, ImageArtifact signed) throws UpdateFailure {
        String holds = archiveIdOverride.getOrDefault(version(archive), "sha256:id-" + version(archive));
        if (!holds.equals(signed.getImageId())) {
            throw new UpdateFailure(Reason.IMAGE_ID_MISMATCH, "the archive holds image " + holds + ", the release signs " + signed.getImageId());
        }
    }

    @Override
    public synchronized void loadImage(Path archive) {
        String version = version(archive);
        calls.add("load " + archive.getFileName());
        String id = containerdStore ? "sha256:manifest-" + version : archiveIdOverride.getOrDefault(version, "sha256:id-" + version);
        images.put(id, new EngineImage(id, loadedLayersOverride.getOrDefault(version, List.of("sha256:layer-" + version))));
    }

    @Override
    public synchronized Optional<EngineImage> inspectImage(String idOrRef) {
        return Optional.ofNullable(images.get(idOrRef));
    }

    @Override
    public String create(String name, String image, ContainerSpec spec, Map<String, String> labels) {
        beforeCreate.run();
        synchronized (this) {
            return created(image, labels);
        }
    }

    private String created(String image, Map<String, String> labels) {
        String id = "c" + (++next);
        containers.put(id, new Box(id, image, labels, false));
        calls.add("create " + id + " " + labels.get(UpdateEngine.LABEL_VERSION));
        return id;
    }

    /** Containers created with a healthcheck: Docker reports them healthy while they run, unless their version is here. */
    final java.util.Set<String> withHealthcheck = new java.util.HashSet<>();
    final java.util.Set<String> unhealthyVersions = new java.util.HashSet<>();
    final List<String> networks = new ArrayList<>();
    final List<String> volumes = new ArrayList<>();

    @Override
    public synchronized void ensureNetwork(String name, boolean internal, Map<String, String> labels) {
        if (!networks.contains(name)) {
            networks.add(name);
        }
    }

    @Override
    public synchronized void removeNetworks(Map<String, String> labels) {
        networks.clear();
    }

    @Override
    public synchronized void ensureVolume(String name, Map<String, String> labels) {
        if (!volumes.contains(name)) {
            volumes.add(name);
        }
    }

    @Override
    public String createService(ServiceContainer container) {
        beforeCreate.run();
        synchronized (this) {
            String id = created(container.image(), container.labels());
            calls.set(calls.size() - 1, "create " + container.labels().get("com.docker.compose.service") + " "
                    + container.labels().get(UpdateEngine.LABEL_VERSION));
            if (container.service().healthcheck() != null) {
                withHealthcheck.add(id);
            }
            return id;
        }
    }

    /** The service a container runs (its Compose label), or its id for a single container. */
    synchronized String serviceOf(String id) {
        Box box = containers.get(id);
        return box == null ? id : box.labels().getOrDefault("com.docker.compose.service", id);
    }

    /** Containers a {@code docker rm} is removing: starting one is refused as the engine does, and it is then gone. */
    final java.util.Set<String> beingRemoved = new java.util.HashSet<>();

    /** Starts refused as by an engine going down (HTTP 500, transient), one fewer each time. */
    volatile int refuseStarts;
    /** Times {@link #answers()} says the engine does not answer (it restarts), one fewer each time. */
    volatile int silentPings;

    @Override
    public boolean answers() {
        if (silentPings > 0) {
            silentPings--;
            return false;
        }
        return true;
    }

    @Override
    public synchronized void start(String containerId) throws UpdateFailure {
        if (refuseStarts > 0) {
            refuseStarts--;
            calls.add("start refused " + containerId);
            throw new UpdateFailure(Reason.CONTAINER_START_FAILED, "start failed: Status 500: {\"message\":\"error creating overlay mount\"}",
                    true, null);
        }
        if (beingRemoved.remove(containerId)) {
            containers.remove(containerId);
            throw new UpdateFailure(Reason.CONTAINER_START_FAILED,
                    "start failed: Status 409: {\"message\":\"container is marked for removal and cannot be started\"}");
        }
        Box box = containers.get(containerId);
        if (box == null) {
            throw new UpdateFailure(Reason.CONTAINER_START_FAILED, "no such container");
        }
        containers.put(containerId, new Box(box.id(), box.image(), box.labels(), true));
        calls.add("start " + (box.labels().containsKey("com.docker.compose.service") ? serviceOf(containerId) : containerId));
    }

    @Override
    public void stop(String containerId, Duration grace) {
        beforeStop.run();
        synchronized (this) {
            Box box = containers.get(containerId);
            if (box != null) {
                containers.put(containerId, new Box(box.id(), box.image(), box.labels(), false));
                calls.add("stop " + (box.labels().containsKey("com.docker.compose.service") ? serviceOf(containerId) : containerId));
            }
        }
    }

    /** When set, every container removal fails with it (an engine that refuses). */
    volatile UpdateFailure removeFails;

    @Override
    public synchronized void remove(String containerId) throws UpdateFailure {
        if (removeFails != null) {
            throw removeFails;
        }
        if (containers.remove(containerId) != null) {
            calls.add("remove " + containerId);
        }
    }

    @Override
    public synchronized void removeImage(String imageId) {
        calls.add("rmi " + imageId);
    }

    @Override
    public synchronized int exec(String containerId, List<String> command, Duration timeout) {
        return 0;
    }

    @Override
    public synchronized ContainerStatus status(String containerId) {
        Box box = containers.get(containerId);
        if (box == null) {
            return ContainerStatus.MISSING;
        }
        String health = !withHealthcheck.contains(containerId) ? ""
                : unhealthyVersions.contains(box.labels().get(UpdateEngine.LABEL_VERSION)) ? "unhealthy" : "healthy";
        return new ContainerStatus(box.running() ? "running" : "exited", box.running(), false, 0, box.running() ? health : "");
    }

    @Override
    public synchronized List<ManagedContainer> list(Map<String, String> labels) {
        return containers.values().stream().filter(b -> b.labels().entrySet().containsAll(labels.entrySet()))
                .map(b -> new ManagedContainer(b.id(), b.id(), b.labels().get(UpdateEngine.LABEL_APP), b.labels().get(UpdateEngine.LABEL_VERSION),
                b.running() ? "running" : "exited")).toList();
    }

    /** What the containers of each version printed, oldest first (a version not named printed nothing). */
    final Map<String, List<String>> printed = new LinkedHashMap<>();
    /** When set, reading any log fails with it (an engine that cannot say). */
    volatile UpdateFailure logsFail;

    @Override
    public synchronized List<LogEntry> logs(String containerId, int tail, long sinceNanos, int maxBytes) throws UpdateFailure {
        if (logsFail != null) {
            throw logsFail;
        }
        Box box = containers.get(containerId);
        if (box == null) {
            return List.of(); // removed: the engine has no log of it
        }
        List<String> lines = printed.getOrDefault(box.labels().get(UpdateEngine.LABEL_VERSION), List.of());
        return lines.subList(Math.max(0, lines.size() - tail), lines.size()).stream().map(l -> new LogEntry(0, false, l)).toList();
    }

    @Override
    public synchronized String platform() {
        return Fixtures.PLATFORM;
    }

    /**
     * The host restarts: every container stops, and Docker starts again those for which {@code comesBack} holds (a
     * restart policy such as {@code always}).
     */
    synchronized void reboot(java.util.function.Predicate<Box> comesBack) {
        containers.replaceAll((id, box) -> new Box(box.id(), box.image(), box.labels(), comesBack.test(box)));
    }

    synchronized List<String> runningVersions() {
        return containers.values().stream().filter(Box::running).map(b -> b.labels().get(UpdateEngine.LABEL_VERSION)).toList();
    }
}
