package dev.turnout.orchestrator.engine;

/** The fields of {@code POST /api/v1/rollouts}; null fields take the documented defaults. */
public record RolloutRequest(String app, String version, String target, String waves, String soak, String maxFailures,
                             String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave,
                             Boolean offlineCountsAsFailure, Boolean staticTarget, Boolean rollback, String emergency) {

    public RolloutRequest(String app, String version, String target, String waves, String soak, String maxFailures,
                          String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave) {
        this(app, version, target, waves, soak, maxFailures, onFailure, deviceTimeout, dryRun, approveEachWave,
                null, null, null, null);
    }
}
