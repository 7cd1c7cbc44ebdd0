package dev.turnout.edge.port;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.HealthCheck;

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
}
