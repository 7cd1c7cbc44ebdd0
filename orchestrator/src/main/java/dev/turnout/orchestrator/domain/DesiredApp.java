package dev.turnout.orchestrator.domain;

/**
 * One app in a device's desired state: which release, which phase, and why. A {@link Phase#REMOVE} entry
 * (see {@link #removal}) has no version: the device removes the app.
 *
 * @param force         switch without waiting for the app's update lock
 * @param lockTimeoutMs how long the device waits for the app's update lock (0: the device's default)
 * @param downloadRateLimitBps how fast the device may download the release, bytes per second (0: its own limit)
 */
public record DesiredApp(String app, String version, Phase phase, boolean rollback, String rolloutId, boolean force,
                         long lockTimeoutMs, long downloadRateLimitBps) {

    /** Without a download rate limit of its own. */
    public DesiredApp(String app, String version, Phase phase, boolean rollback, String rolloutId, boolean force, long lockTimeoutMs) {
        this(app, version, phase, rollback, rolloutId, force, lockTimeoutMs, 0);
    }

    public DesiredApp {
        rolloutId = rolloutId == null ? "" : rolloutId;
    }

    /** No force, the device's lock timeout. */
    public DesiredApp(String app, String version, Phase phase, boolean rollback, String rolloutId) {
        this(app, version, phase, rollback, rolloutId, false, 0);
    }

    /** The entry that tells a device to remove {@code app} (once the app releases its update lock, at most the device's timeout). */
    public static DesiredApp removal(String app) {
        return removal(app, false, 0);
    }

    /** A removal that ignores the app's update lock ({@code force}) or waits for it at most {@code lockTimeoutMs} (0: the device's). */
    public static DesiredApp removal(String app, boolean force, long lockTimeoutMs) {
        return new DesiredApp(app, null, Phase.REMOVE, false, "", force, lockTimeoutMs);
    }

    /** True for an entry that removes the app. */
    public boolean removes() {
        return phase == Phase.REMOVE;
    }
}
