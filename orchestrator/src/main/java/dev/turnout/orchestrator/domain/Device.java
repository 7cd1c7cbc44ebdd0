package dev.turnout.orchestrator.domain;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * An enrolled device and what it last told us about itself.
 *
 * @param agentVersion the edge daemon version its last presence named (an agent release's, or the daemon's built-in
 *                     one); null until it said
 */
public record Device(String id, Map<String, String> labels, List<String> groups, Instant enrolledAt,
                     boolean online, Instant lastSeen, String platform, String agentVersion) {

    public Device {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        groups = groups == null ? List.of() : List.copyOf(groups);
    }

    /** A device whose daemon version is not known yet. */
    public Device(String id, Map<String, String> labels, List<String> groups, Instant enrolledAt, boolean online,
                  Instant lastSeen, String platform) {
        this(id, labels, groups, enrolledAt, online, lastSeen, platform, null);
    }
}
