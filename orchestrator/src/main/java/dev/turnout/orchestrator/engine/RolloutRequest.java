package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.Target;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A rollout to plan, checked and typed: the engine takes this, never the strings of a request body.
 * {@link #parse} turns the fields of {@code POST /api/v1/rollouts} into one (null fields take the
 * documented defaults) at the edge of the API.
 *
 * @param canary    devices that go in the first wave, each once, in the order given (empty: the first
 *                  wave takes devices by id); the planner checks they are among the targeted devices
 * @param supersede an unfinished rollout of the app on some of these devices ends (superseded) and
 *                  this one takes its devices, instead of a refusal
 */
public record RolloutRequest(String app, String version, Target target, RolloutStrategy strategy, boolean dryRun,
                             List<String> canary, boolean supersede) {

    public RolloutRequest {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(strategy, "strategy");
        if (app == null || app.isBlank() || version == null || version.isBlank()) {
            throw new InvalidInputException("app and version are required");
        }
        canary = canary == null ? List.of() : List.copyOf(canary);
        if (!canary.isEmpty() && strategy.emergency() != null) {
            throw new InvalidInputException("an emergency rollout is one wave for every device: it has no canary (drop canary)");
        }
    }

    public RolloutRequest(String app, String version, Target target, RolloutStrategy strategy, boolean dryRun) {
        this(app, version, target, strategy, dryRun, List.of(), false);
    }

    /** This request with devices downloading at most {@code rateLimit} ("500KiB/s"; null or blank: each device's own limit). */
    public RolloutRequest withRateLimit(String rateLimit) {
        long limit = RolloutStrategy.downloadRateLimit(rateLimit);
        return limit == 0 ? this : new RolloutRequest(app, version, target, strategy.withDownloadRateLimit(limit), dryRun, canary, supersede);
    }

    /** This request with {@code ids} in its first wave. */
    public RolloutRequest withCanary(List<String> ids) {
        return new RolloutRequest(app, version, target, strategy, dryRun, ids, supersede);
    }

    /** This request, ending an unfinished rollout of the app on its devices instead of being refused. */
    public RolloutRequest superseding() {
        return new RolloutRequest(app, version, target, strategy, dryRun, canary, true);
    }

    /** The fields of a request body; throws {@link InvalidInputException} naming the first one that is wrong. */
    public static RolloutRequest parse(String app, String version, String target, String waves, String soak, String maxFailures,
                                       String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave,
                                       Boolean offlineCountsAsFailure, Boolean staticTarget, Boolean rollback, String emergency,
                                       String canary, Boolean supersede) {
        return parse(app, version, target, waves, soak, maxFailures, onFailure, deviceTimeout, dryRun, approveEachWave,
                offlineCountsAsFailure, staticTarget, rollback, emergency, canary, supersede, null, null);
    }

    /** With the update-lock options ({@code force}, {@code lockTimeout}: see {@link RolloutStrategy}). */
    public static RolloutRequest parse(String app, String version, String target, String waves, String soak, String maxFailures,
                                       String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave,
                                       Boolean offlineCountsAsFailure, Boolean staticTarget, Boolean rollback, String emergency,
                                       String canary, Boolean supersede, Boolean force, String lockTimeout) {
        if (app == null || app.isBlank() || version == null || version.isBlank()) {
            throw new InvalidInputException("app and version are required");
        }
        RolloutStrategy strategy = RolloutStrategy.parse(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave,
                offlineCountsAsFailure, staticTarget, rollback, emergency, force, lockTimeout);
        return new RolloutRequest(app, version, Target.parse(target), strategy, Boolean.TRUE.equals(dryRun), canary(canary),
                Boolean.TRUE.equals(supersede));
    }

    /** As {@link #parse(String, String, String, String, String, String, String, String, Boolean, Boolean, Boolean, Boolean, Boolean, String, String, Boolean)} without canary and supersede. */
    public static RolloutRequest parse(String app, String version, String target, String waves, String soak, String maxFailures,
                                       String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave,
                                       Boolean offlineCountsAsFailure, Boolean staticTarget, Boolean rollback, String emergency) {
        return parse(app, version, target, waves, soak, maxFailures, onFailure, deviceTimeout, dryRun, approveEachWave,
                offlineCountsAsFailure, staticTarget, rollback, emergency, null, null);
    }

    /** As {@link #parse(String, String, String, String, String, String, String, String, Boolean, Boolean, Boolean, Boolean, Boolean, String)} without the options. */
    public static RolloutRequest parse(String app, String version, String target, String waves, String soak, String maxFailures,
                                       String onFailure, String deviceTimeout, Boolean dryRun, Boolean approveEachWave) {
        return parse(app, version, target, waves, soak, maxFailures, onFailure, deviceTimeout, dryRun, approveEachWave,
                null, null, null, null);
    }

    /** {@code ID[,ID...]} (null: no canary): each id once, in order; an empty list or id is refused. */
    static List<String> canary(String text) {
        if (text == null) {
            return List.of();
        }
        Set<String> ids = new LinkedHashSet<>();
        for (String id : text.split(",", -1)) {
            if (id.isBlank()) {
                throw new InvalidInputException("canary '" + text + "' must be device ids: ID[,ID...]");
            }
            ids.add(id.strip());
        }
        return List.copyOf(ids);
    }
}
