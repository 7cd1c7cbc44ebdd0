package dev.turnout.orchestrator.store;

import java.util.List;
import java.util.Optional;

/** The last desired state decided for each device, as signed and published. Thread-safe, blocking. */
public interface DesiredStateStore {

    Optional<DesiredRecord> findDesired(String deviceId);

    /**
     * Replaces the desired state of a device; {@link dev.turnout.orchestrator.domain.ConflictException}
     * if the stored one has the same or a higher sequence (another orchestrator decided meanwhile).
     */
    void saveDesired(String deviceId, DesiredRecord desired);

    /** Every device id with a desired state. */
    List<String> devicesWithDesired();
}
