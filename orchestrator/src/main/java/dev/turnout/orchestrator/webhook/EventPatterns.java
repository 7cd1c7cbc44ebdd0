package dev.turnout.orchestrator.webhook;

import dev.turnout.orchestrator.domain.InvalidInputException;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The events a webhook wants: names ({@code device.failed}) and globs where {@code *} stands for any
 * characters ({@code rollout.*}, {@code *}). Every pattern must match at least one known event name,
 * so that a typo is refused instead of silently matching nothing.
 */
public final class EventPatterns {

    private static final Pattern WELL_FORMED = Pattern.compile("[a-z0-9_.*]{1,64}");

    private final List<String> patterns;
    private final List<Pattern> compiled;

    private EventPatterns(List<String> patterns) {
        this.patterns = List.copyOf(patterns);
        this.compiled = patterns.stream().map(EventPatterns::glob).toList();
    }

    /**
     * Reads patterns given as a list and/or comma-separated ({@code "rollout.*,device.failed"}); {@link
     * InvalidInputException} for none, a malformed one or one that matches no event.
     */
    public static EventPatterns parse(List<String> given) {
        Set<String> patterns = new LinkedHashSet<>();
        if (given != null) {
            for (String g : given) {
                for (String p : (g == null ? "" : g).split(",")) {
                    if (!p.isBlank()) {
                        patterns.add(p.strip());
                    }
                }
            }
        }
        if (patterns.isEmpty()) {
            throw new InvalidInputException("a webhook needs at least one event pattern, e.g. rollout.* or device.failed"
                    + " (known events: " + String.join(", ", WebhookEvents.NAMES) + ")");
        }
        for (String p : patterns) {
            if (!WELL_FORMED.matcher(p).matches()) {
                throw new InvalidInputException("event pattern '" + p + "' may hold only a-z, 0-9, '_', '.' and '*'");
            }
            Pattern glob = glob(p);
            if (WebhookEvents.NAMES.stream().noneMatch(n -> glob.matcher(n).matches())) {
                throw new InvalidInputException("event pattern '" + p + "' matches no event; known events: "
                        + String.join(", ", WebhookEvents.NAMES));
            }
        }
        return new EventPatterns(new ArrayList<>(patterns));
    }

    /** True when {@code event} matches one of the patterns. */
    public boolean matches(String event) {
        for (Pattern p : compiled) {
            if (p.matcher(event).matches()) {
                return true;
            }
        }
        return false;
    }

    /** The patterns as given, without duplicates. */
    public List<String> patterns() {
        return patterns;
    }

    private static Pattern glob(String pattern) {
        StringBuilder regex = new StringBuilder();
        for (String part : pattern.split("\\*", -1)) {
            regex.append(Pattern.quote(part)).append(".*");
        }
        regex.setLength(regex.length() - 2); // no wildcard after the last part
        return Pattern.compile(regex.toString());
    }
}
