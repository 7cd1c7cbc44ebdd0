package dev.turnout.orchestrator.domain;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/** An enrolled device and what it last told us about itself. */
public record Device(String id, Map<String, String> labels, List<String> groups, Instant enrolledAt,
                     boolean online, Instant lastSeen, String platform) {

    public Device {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        groups = groups == null ? List.of() : List.copyOf(groups);
    }
}
