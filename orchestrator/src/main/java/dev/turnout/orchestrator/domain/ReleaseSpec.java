package dev.turnout.orchestrator.domain;

import java.util.List;
import java.util.Map;
import java.util.Set;

/** How a release runs (container) and how its health is judged (health). */
public record ReleaseSpec(Container container, Health health) {

    private static final Set<String> RESTART_POLICIES = Set.of("no", "always", "unless-stopped", "on-failure");

    /** Container settings, mirroring the wire {@code ContainerSpec}. */
    public record Container(List<String> command, Map<String, String> env, String network, List<String> ports,
                            List<String> volumes, List<String> devices, Boolean privileged, String restart) {
    }

    /** Health probe settings; at most one probe kind. */
    public record Health(List<String> exec, String http, String tcp, Boolean docker, String interval,
                         String timeout, Integer retries, String soak) {
    }

    /** Checks every field; the message of the exception names the first bad one. */
    public void validate() {
        if (container != null) {
            if (container.command() != null) {
                for (int i = 0; i < container.command().size(); i++) {
                    String part = container.command().get(i);
                    if (part == null || part.isEmpty()) {
                        throw new InvalidInputException("spec.container.command[" + i + "] must be a non-empty string");
                    }
                }
            }
            if (container.restart() != null && !RESTART_POLICIES.contains(container.restart())) {
                throw new InvalidInputException("spec.container.restart must be one of no, always, unless-stopped, on-failure; got '"
                        + container.restart() + "'");
            }
            checkEntries(container.ports(), "spec.container.ports");
            checkEntries(container.volumes(), "spec.container.volumes");
            checkEntries(container.devices(), "spec.container.devices");
        }
        if (health == null) {
            return;
        }
        int probes = 0;
        if (health.exec() != null && !health.exec().isEmpty()) {
            probes++;
            for (int i = 0; i < health.exec().size(); i++) {
                if (health.exec().get(i) == null || health.exec().get(i).isEmpty()) {
                    throw new InvalidInputException("spec.health.exec[" + i + "] must be a non-empty string");
                }
            }
        }
        if (health.http() != null && !health.http().isBlank()) {
            probes++;
        }
        if (health.tcp() != null && !health.tcp().isBlank()) {
            probes++;
        }
        if (Boolean.TRUE.equals(health.docker())) {
            probes++;
        }
        if (probes > 1) {
            throw new InvalidInputException("spec.health must name at most one probe (exec, http, tcp or docker)");
        }
        if (health.interval() != null) {
            Durations.parse(health.interval(), "spec.health.interval");
        }
        if (health.timeout() != null) {
            Durations.parse(health.timeout(), "spec.health.timeout");
        }
        if (health.soak() != null) {
            Durations.parse(health.soak(), "spec.health.soak");
        }
        if (health.retries() != null && health.retries() < 0) {
            throw new InvalidInputException("spec.health.retries must not be negative");
        }
    }

    private static void checkEntries(List<String> entries, String field) {
        if (entries == null) {
            return;
        }
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i) == null || entries.get(i).isBlank()) {
                throw new InvalidInputException(field + "[" + i + "] must be a non-empty string");
            }
        }
    }
}
