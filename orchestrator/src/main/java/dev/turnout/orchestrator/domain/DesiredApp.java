package dev.turnout.orchestrator.domain;

/**
 * One app in a device's desired state: which release, which phase, and why. A {@link Phase#REMOVE} entry
 * (see {@link #removal}) has no version: the device removes the app.
 */
public record DesiredApp(String app, String version, Phase phase, boolean rollback, String rolloutId) {

    public DesiredApp {
        rolloutId = rolloutId == null ? "" : rolloutId;
    }

    /** The entry that tells a device to remove {@code app}. */
    public static DesiredApp removal(String app) {
        return new DesiredApp(app, null, Phase.REMOVE, false, "");
    }

    /** True for an entry that removes the app. */
    public boolean removes() {
        return phase == Phase.REMOVE;
    }
}
