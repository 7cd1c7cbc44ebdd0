package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.Target;

import java.util.Objects;

/**
 * A rollout to plan, checked and typed: the engine takes this, never the strings of a request body.
 * {@link #parse} turns the fields of {@code POST /api/v1/rollouts} into one (null fields take the
 * documented defaults) at the edge of the API.
 */
public record RolloutRequest(String app, String version, Target target, RolloutStrategy strategy, boolean dryRun) {

    public RolloutRequest {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(strategy, "strategy");
        if (app == null || app.isBlank() || version == null || version.isBlank()) {
            throw new InvalidInputException("app and version are required");
        }
    }

    /** The fields of a request body; throws {@link InvalidInputException} naming the first one that is wrong. */
    public static RolloutRequest parse(String app, String version, String target, String waves, String soak, String maxFailures,
                                       String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave,
                                       Boolean offlineCountsAsFailure, Boolean staticTarget, Boolean rollback, String emergency) {
        if (app == null || app.isBlank() || version == null || version.isBlank()) {
            throw new InvalidInputException("app and version are required");
        }
        RolloutStrategy strategy = RolloutStrategy.parse(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave,
                offlineCountsAsFailure, staticTarget, rollback, emergency);
        return new RolloutRequest(app, version, Target.parse(target), strategy, Boolean.TRUE.equals(dryRun));
    }

    /** As {@link #parse(String, String, String, String, String, String, String, String, Boolean, Boolean, Boolean, Boolean, Boolean, String)} without the options. */
    public static RolloutRequest parse(String app, String version, String target, String waves, String soak, String maxFailures,
                                       String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave) {
        return parse(app, version, target, waves, soak, maxFailures, onFailure, deviceTimeout, dryRun, approveEachWave,
                null, null, null, null);
    }
}
