package dev.turnout.edge.health;

import java.time.Duration;

/** One health probe of a container; true when healthy. Must return within about {@code timeout}. */
@FunctionalInterface
public interface Probe {

    boolean check(String containerId, Duration timeout);
}
