package dev.turnout.edge.port;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Release;

import java.time.Duration;

/** Watches a freshly started container through its health check and soak. */
public interface HealthVerifier {

    /** Returns when the container passed; throws with HEALTH_CHECK_FAILED, CRASH_LOOP... when it did not. */
    void verify(String containerId, HealthCheck check) throws UpdateFailure;

    /**
     * Goes on with a check a previous daemon process began on this boot, {@code soaked} ago: only the rest of the soak
     * is waited (the probe gets its retries again), and every restart of the container since it was started counts.
     * A verifier that cannot resume checks afresh through the full soak: never shorter than asked.
     */
    default void resume(String containerId, HealthCheck check, Duration soaked) throws UpdateFailure {
        verify(containerId, check);
    }

    /**
     * Checks a new release's container: its health check and, through it, the release's resource limits (MEMORY_LIMIT,
     * CPU_LIMIT, DISK_LIMIT, OOM_KILLED, CRASH_LOOP). A verifier that does not measure containers checks the health only.
     */
    default void verify(String containerId, Release release) throws UpdateFailure {
        verify(containerId, release.getHealth());
    }

    /** As {@link #resume(String, HealthCheck, Duration)}, with the release's resource limits. */
    default void resume(String containerId, Release release, Duration soaked) throws UpdateFailure {
        resume(containerId, release.getHealth(), soaked);
    }
}
