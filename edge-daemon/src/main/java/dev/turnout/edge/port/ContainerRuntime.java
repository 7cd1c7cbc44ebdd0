package dev.turnout.edge.port;

import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.ContainerUsage;
import dev.turnout.edge.domain.EngineImage;
import dev.turnout.edge.domain.LogEntry;
import dev.turnout.edge.domain.ManagedContainer;
import dev.turnout.edge.domain.ServiceContainer;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The narrow view of a container engine the update engine needs. Failures are {@link UpdateFailure}s
 * whose {@link UpdateFailure#isTransient()} says whether a retry may help.
 */
public interface ContainerRuntime {

    /**
     * Checks, without loading it, that an archive holds exactly the image {@code signed} describes: the same
     * manifest, config and layers, nothing else. Fails with the reason that says how it differs
     * (IMAGE_ID_MISMATCH, MANIFEST_MISMATCH, LAYER_MISMATCH, EXTRA_IMAGE, MALFORMED).
     */
    void checkArchive(Path archive, ImageArtifact signed) throws UpdateFailure;

    /** Loads an image archive into the engine. */
    void loadImage(Path archive) throws UpdateFailure;

    /** The image the engine knows by this id or reference, if it has one. */
    Optional<EngineImage> inspectImage(String idOrRef) throws UpdateFailure;

    /** Creates (not starts) a container; returns its id. Always runs with an init process. */
    String create(String name, String image, ContainerSpec spec, Map<String, String> labels) throws UpdateFailure;

    void start(String containerId) throws UpdateFailure;

    /** Stops a container; a missing or stopped container is not an error. */
    void stop(String containerId, Duration grace) throws UpdateFailure;

    /** Removes a container by force; a missing container is not an error. */
    void remove(String containerId) throws UpdateFailure;

    /** Removes an image (by the id the engine knows it by) if no container uses it; failures are ignored. */
    void removeImage(String imageId);

    /** Runs a command inside the container; returns its exit code, or -1 when it did not finish in time. */
    int exec(String containerId, List<String> command, Duration timeout) throws UpdateFailure;

    /** The state of a container; {@link ContainerStatus#MISSING} when there is none. */
    ContainerStatus status(String containerId) throws UpdateFailure;

    /** Containers carrying all the given labels, running or not. */
    List<ManagedContainer> list(Map<String, String> labels) throws UpdateFailure;

    /** The engine's platform, e.g. "linux/amd64". */
    String platform() throws UpdateFailure;

    /**
     * Whether the engine takes requests now (a restarting engine does not, for seconds or, on a small device, tens of
     * seconds). An engine that cannot tell answers true.
     */
    default boolean answers() {
        return true;
    }

    /**
     * One sample of a running container's memory and CPU use (the engine's stats, not streamed). A runtime that cannot
     * measure fails with ENGINE_ERROR.
     */
    default ContainerUsage usage(String containerId) throws UpdateFailure {
        throw new UpdateFailure(Reason.ENGINE_ERROR, "this container runtime cannot measure containers");
    }

    /** The host directory the engine keeps its images and containers in (Docker's data root); empty when unknown. */
    default String dataRoot() {
        return "";
    }

    /** Creates a user-defined bridge network for a Compose app unless one of that name exists. */
    default void ensureNetwork(String name, boolean internal, Map<String, String> labels) throws UpdateFailure {
        throw new UpdateFailure(Reason.ENGINE_ERROR, "this container runtime does not run Compose apps");
    }

    /** Removes every network carrying all the given labels; a network still in use stays (and is logged). */
    default void removeNetworks(Map<String, String> labels) throws UpdateFailure {
        // a runtime without networks has none to remove
    }

    /** Creates a named volume unless one of that name exists; an existing volume (and its data) is kept as it is. */
    default void ensureVolume(String name, Map<String, String> labels) throws UpdateFailure {
        throw new UpdateFailure(Reason.ENGINE_ERROR, "this container runtime does not run Compose apps");
    }

    /** Creates (not starts) a Compose service's container, joined to its networks; returns its id. Runs with an init. */
    default String createService(ServiceContainer container) throws UpdateFailure {
        throw new UpdateFailure(Reason.ENGINE_ERROR, "this container runtime does not run Compose apps");
    }

    /**
     * The newest lines of a container's log (standard output and error, oldest first): at most {@code tail} lines, of
     * those written after {@code sinceNanos} (Unix epoch nanoseconds; 0: any), and at most {@code maxBytes} bytes of text
     * in all (older lines dropped first, a longer line keeps its end). Empty for a container the engine has no log of
     * (removed, or an engine without logs).
     */
    default List<LogEntry> logs(String containerId, int tail, long sinceNanos, int maxBytes) throws UpdateFailure {
        return List.of();
    }
}
