package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.DesiredApp;

import java.time.Instant;
import java.util.List;

/** The last desired state decided for a device: its sequence, apps and the exact signed bytes published. */
public record DesiredRecord(long sequence, Instant issuedAt, List<DesiredApp> apps, byte[] envelope) {

    public DesiredRecord {
        apps = List.copyOf(apps);
    }

    public DesiredApp app(String app) {
        return apps.stream().filter(a -> a.app().equals(app)).findFirst().orElse(null);
    }
}
