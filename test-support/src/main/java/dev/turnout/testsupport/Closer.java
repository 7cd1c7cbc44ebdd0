package dev.turnout.testsupport;

import java.util.ArrayList;
import java.util.List;

/**
 * What a test started (brokers, servers, devices), closed in reverse order; a close that fails is
 * reported and does not keep the others open. Can be closed again (it starts empty).
 */
public final class Closer implements AutoCloseable {

    private final List<AutoCloseable> resources = new ArrayList<>();

    /** Closes {@code resource} with the others; returns it. */
    public <T extends AutoCloseable> T add(T resource) {
        resources.add(resource);
        return resource;
    }

    @Override
    public void close() {
        for (int i = resources.size() - 1; i >= 0; i--) {
            try {
                resources.get(i).close();
            } catch (Exception e) {
                System.err.println("close failed: " + e);
            }
        }
        resources.clear();
    }
}
