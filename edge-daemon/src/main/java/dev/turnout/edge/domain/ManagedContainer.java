package dev.turnout.edge.domain;

/** A container the daemon created, found by its labels. */
public record ManagedContainer(String id, String name, String app, String version, String state) {
}
