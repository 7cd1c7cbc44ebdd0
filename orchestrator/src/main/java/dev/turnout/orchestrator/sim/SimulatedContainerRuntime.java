package dev.turnout.orchestrator.sim;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.BiPredicate;

/**
 * A simulated container engine: remembers which release of each app is cached and which one runs,
 * nothing more. It exists only so that thousands of simulated devices fit in one process; real devices
 * use Docker. Whether a version comes up healthy is decided by the simulation's health outcome.
 * Not thread-safe: its device calls it under its own lock.
 */
final class SimulatedContainerRuntime {

    private final BiPredicate<String, String> healthy;
    private final Map<String, String> running = new HashMap<>();
    private final Set<String> cached = new HashSet<>();
    private final Map<String, Integer> restarts = new HashMap<>();

    /** @param healthy tells for (app, version) whether the new container passes its health check */
    SimulatedContainerRuntime(BiPredicate<String, String> healthy) {
        this.healthy = healthy;
    }

    /** The version of {@code app} that runs, or "" when none does. */
    String running(String app) {
        return running.getOrDefault(app, "");
    }

    /** Every app that runs, with its version. */
    Map<String, String> runningApps() {
        return Map.copyOf(running);
    }

    boolean isCached(String app, String version) {
        return cached.contains(app + ":" + version);
    }

    /** Puts the release in the (simulated) offline cache. */
    void cache(String app, String version) {
        cached.add(app + ":" + version);
    }

    /**
     * Starts {@code version} in place of what runs and checks its health. Healthy: it runs from now on.
     * Unhealthy: it is removed and the previous container keeps running.
     */
    boolean swapAndCheck(String app, String version) {
        if (!healthy.test(app, version)) {
            restarts.merge(app, 1, Integer::sum);
            return false;
        }
        running.put(app, version);
        return true;
    }

    /** Removes the app: nothing of it runs or stays cached. */
    void remove(String app) {
        running.remove(app);
        cached.removeIf(entry -> entry.startsWith(app + ":"));
        restarts.remove(app);
    }

    int restartCount(String app) {
        return restarts.getOrDefault(app, 0);
    }
}
