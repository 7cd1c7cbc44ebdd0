package dev.turnout.orchestrator.domain;

/**
 * One app in a device's desired state: which release, which phase, and why. A {@link Phase#REMOVE} entry
 * (see {@link #removal}) has no version: the device removes the app.
 *
 * @param force         switch without waiting for the app's update lock
 * @param lockTimeoutMs how long the device waits for the app's update lock (0: the device's default)
 */
public record DesiredApp(String app, String version, Phase phase, boolean rollback, String rolloutId, boolean force,
                         long lockTimeoutMs) {

    public DesiredApp {
        rolloutId = rolloutId == null ? "" : rolloutId;
    }

    /** No force, the device's lock timeout. */
    public DesiredApp(String app, String version, Phase phase, boolean rollback, String rolloutId) {
        this(app, version, phase, rollback, rolloutId, false, 0);
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
