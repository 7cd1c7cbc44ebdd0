package dev.turnout.orchestrator.domain;

/** One app in a device's desired state: which release, which phase, and why. */
public record DesiredApp(String app, String version, Phase phase, boolean rollback, String rolloutId) {

    public DesiredApp {
        rolloutId = rolloutId == null ? "" : rolloutId;
    }
}
