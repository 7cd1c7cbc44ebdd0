package dev.turnout.edge.port;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.HealthCheck;

/** Watches a freshly started container through its health check and soak. */
public interface HealthVerifier {

    /** Returns when the container passed; throws with HEALTH_CHECK_FAILED, CRASH_LOOP... when it did not. */
    void verify(String containerId, HealthCheck check) throws UpdateFailure;
}
