package dev.turnout.orchestrator.domain;

import java.time.Duration;
import java.util.List;

/** How a rollout proceeds: policy as data. */
public record RolloutStrategy(List<Threshold> waves, Duration soak, Threshold maxFailures, FailureAction onFailure,
                              Duration deviceTimeout, boolean approveEachWave) {

    /** Parses the request fields; null fields take the documented defaults. */
    public static RolloutStrategy parse(String waves, String soak, String maxFailures, String onFailure,
                                        String deviceTimeout, Boolean approveEachWave) {
        return new RolloutStrategy(
                WavePlan.parse(waves),
                Durations.parseOr(soak, "0s", "soak"),
                Threshold.parse(maxFailures == null || maxFailures.isBlank() ? "0" : maxFailures, "maxFailures"),
                FailureAction.parse(onFailure),
                Durations.parseOr(deviceTimeout, "10m", "deviceTimeout"),
                Boolean.TRUE.equals(approveEachWave));
    }

    public String wavesText() {
        return String.join(",", waves.stream().map(Threshold::toString).toList());
    }
}
