package dev.turnout.edge.domain;

/**
 * One line of a container's log, as the engine keeps it.
 *
 * @param timestampNanos when the engine took the line, Unix epoch nanoseconds (0: unknown)
 * @param stderr whether the container wrote it to standard error
 * @param text the line, without its newline
 */
public record LogEntry(long timestampNanos, boolean stderr, String text) {
}
