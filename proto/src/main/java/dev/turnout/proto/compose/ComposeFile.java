package dev.turnout.proto.compose;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Compose file in the subset Turnout runs (docs/compose.md), read and checked by {@link ComposeReader}: the
 * services, the named volumes and the networks of one app. Values are as Compose means them, units converted
 * (sizes in bytes, CPUs in billionths, durations).
 *
 * <p>Read before a device's own variables are known (at release time), a value that uses an unset variable is
 * null here: it is checked when the device reads the file with its values.
 *
 * @param fileName the file's name, for messages
 * @param services by name, in file order
 * @param volumes  the top-level named volumes, by the name services use
 * @param networks the top-level networks, by the name services use
 */
public record ComposeFile(String fileName, Map<String, Service> services, Map<String, Volume> volumes,
                          Map<String, Network> networks) {

    public ComposeFile {
        services = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(services));
        volumes = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(volumes));
        networks = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(networks));
    }

    /** What a service waits for in a dependency before it starts. */
    public enum Condition {
        /** The dependency's container has started. */
        SERVICE_STARTED,
        /** The dependency's healthcheck passes. */
        SERVICE_HEALTHY,
        /** The dependency ran to completion with exit code 0. */
        SERVICE_COMPLETED_SUCCESSFULLY;

        /** The name Compose writes: {@code service_healthy}. */
        public String composeName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * A mount: a host directory bound into the container, or a named volume.
     *
     * @param type     {@code bind} or {@code volume}
     * @param source   an absolute host path (bind) or a volume name declared at the top level (volume)
     * @param target   an absolute path in the container
     * @param readOnly mounted read-only
     */
    public record Mount(String type, String source, String target, boolean readOnly) {
    }

    /**
     * A healthcheck; {@code test} is Compose's form: {@code ["CMD", ...]}, {@code ["CMD-SHELL", "..."]} or
     * {@code ["NONE"]} (and {@code disable: true}) for none.
     */
    public record Healthcheck(List<String> test, Duration interval, Duration timeout, Duration startPeriod,
                              Duration startInterval, Integer retries, boolean disabled) {
    }

    /** Log driver ({@code local} or {@code json-file}) and rotation; 0 for "the device's default". */
    public record Logging(String driver, long maxSizeBytes, int maxFile) {
    }

    /**
     * One service.
     *
     * @param ports       {@code [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]}, long syntax written in short form
     * @param networks    the top-level networks the service joins (empty: the app's default network)
     * @param networkMode {@code host}, {@code none}, {@code bridge} or {@code service:NAME}; null for the app's networks
     * @param dependsOn   the services this one waits for, and for what
     * @param restart     {@code no}, {@code always}, {@code unless-stopped}, {@code on-failure[:N]}; null when not set
     * @param memoryBytes memory limit ({@code mem_limit} or {@code deploy.resources.limits.memory}); 0 for none
     * @param nanoCpus    CPU limit in billionths of a CPU ({@code cpus} or {@code deploy.resources.limits.cpus}); 0 for none
     */
    public record Service(String name, String image, List<String> command, List<String> entrypoint,
                          Map<String, String> environment, List<String> ports, List<Mount> volumes, List<String> networks,
                          String networkMode, List<String> devices, boolean privileged, List<String> capAdd,
                          List<String> capDrop, String user, String workingDir, String restart, Healthcheck healthcheck,
                          Map<String, Condition> dependsOn, long memoryBytes, long nanoCpus, Logging logging,
                          Map<String, String> labels) {
    }

    /** A named volume: {@code name} is the engine's volume name if the file sets one, else null (the app's prefix). */
    public record Volume(String name, Map<String, String> labels) {
    }

    /** A network the app creates: {@code name} if the file sets one, else null (the app's prefix). */
    public record Network(String name, boolean internal, Map<String, String> labels) {
    }

    /** Every image the services name, in file order; an image not yet known (an unset variable) is left out. */
    public Set<String> images() {
        Set<String> images = new LinkedHashSet<>();
        services.values().forEach(s -> {
            if (s.image() != null) {
                images.add(s.image());
            }
        });
        return images;
    }

    /** The services in an order in which each comes after everything it depends on (file order otherwise). */
    public List<String> startOrder() {
        List<String> order = new ArrayList<>();
        Set<String> done = new LinkedHashSet<>();
        for (String name : services.keySet()) {
            visit(name, done, order, new ArrayDeque<>());
        }
        return order;
    }

    private void visit(String name, Set<String> done, List<String> order, Deque<String> path) {
        if (done.contains(name)) {
            return;
        }
        path.push(name);
        for (String dependency : services.get(name).dependsOn().keySet()) {
            if (!path.contains(dependency)) {
                visit(dependency, done, order, path);
            }
        }
        path.pop();
        done.add(name);
        order.add(name);
    }
}
