package dev.turnout.orchestrator.domain;

import dev.turnout.proto.transfer.ByteRate;

import java.time.Duration;
import java.util.List;

/**
 * How a rollout proceeds: policy as data.
 *
 * @param offlineCountsAsFailure a device offline when its wave starts fails at once instead of
 *                               waiting (its timeout only runs while it is online)
 * @param staticTarget           devices enrolled after the start do not join
 * @param rollback               a fleet rollback: desired states carry the signed rollback flag, so
 *                               devices accept the older version
 * @param emergency              the operator's reason for an emergency rollout (one wave, no soak),
 *                               or null
 * @param force                  activations are signed to ignore the app's update lock on the device
 * @param lockTimeout            how long a device waits for the app's update lock before it fails the
 *                               update (LOCK_TIMEOUT); null: each device's own default
 * @param downloadRateLimit      bytes per second each device may download this release at (deploy --rate-limit); the
 *                               lower of it and the device's own download.rateLimit applies; 0: the device's own
 */
public record RolloutStrategy(List<Threshold> waves, Duration soak, Threshold maxFailures, FailureAction onFailure,
                              Duration deviceTimeout, boolean approveEachWave, boolean offlineCountsAsFailure,
                              boolean staticTarget, boolean rollback, String emergency, boolean force, Duration lockTimeout,
                              long downloadRateLimit) {

    public RolloutStrategy {
        if (downloadRateLimit < 0) {
            throw new InvalidInputException("rateLimit must not be negative");
        }
    }

    /** Without a download rate limit of its own. */
    public RolloutStrategy(List<Threshold> waves, Duration soak, Threshold maxFailures, FailureAction onFailure,
                           Duration deviceTimeout, boolean approveEachWave, boolean offlineCountsAsFailure,
                           boolean staticTarget, boolean rollback, String emergency, boolean force, Duration lockTimeout) {
        this(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave, offlineCountsAsFailure, staticTarget, rollback,
                emergency, force, lockTimeout, 0);
    }

    /** The download rate limit in bytes per second of {@code text} ("500KiB/s"; null or blank: none, 0). */
    public static long downloadRateLimit(String text) {
        if (text == null || text.isBlank()) {
            return 0;
        }
        try {
            return ByteRate.parse(text, "rateLimit");
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException(e.getMessage());
        }
    }

    /** This strategy with devices downloading at most {@code bytesPerSecond} (0: each device's own limit). */
    public RolloutStrategy withDownloadRateLimit(long bytesPerSecond) {
        return new RolloutStrategy(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave, offlineCountsAsFailure,
                staticTarget, rollback, emergency, force, lockTimeout, bytesPerSecond);
    }

    public RolloutStrategy(List<Threshold> waves, Duration soak, Threshold maxFailures, FailureAction onFailure,
                           Duration deviceTimeout, boolean approveEachWave, boolean offlineCountsAsFailure,
                           boolean staticTarget, boolean rollback, String emergency) {
        this(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave, offlineCountsAsFailure, staticTarget, rollback,
                emergency, false, null);
    }

    public RolloutStrategy(List<Threshold> waves, Duration soak, Threshold maxFailures, FailureAction onFailure,
                           Duration deviceTimeout, boolean approveEachWave) {
        this(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave, false, false, false, null);
    }

    /** Parses the request fields; null fields take the documented defaults. */
    public static RolloutStrategy parse(String waves, String soak, String maxFailures, String onFailure,
                                        String deviceTimeout, Boolean approveEachWave) {
        return parse(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave, null, null, null, null);
    }

    /** As {@link #parse(String, String, String, String, String, Boolean)}, with the options; an emergency forces one wave, no soak. */
    public static RolloutStrategy parse(String waves, String soak, String maxFailures, String onFailure,
                                        String deviceTimeout, Boolean approveEachWave, Boolean offlineCountsAsFailure,
                                        Boolean staticTarget, Boolean rollback, String emergency) {
        return parse(waves, soak, maxFailures, onFailure, deviceTimeout, approveEachWave, offlineCountsAsFailure, staticTarget,
                rollback, emergency, null, null);
    }

    /** How long devices wait for an app's update lock ("10m"; null or blank: each device's own); refused unless positive. */
    public static Duration lockTimeout(String text) {
        Duration wait = text == null || text.isBlank() ? null : Durations.parse(text, "lockTimeout");
        if (wait != null && (wait.isZero() || wait.isNegative())) {
            throw new InvalidInputException("lockTimeout must be positive (e.g. 10m)");
        }
        return wait;
    }

    /** With the update-lock options: {@code force} ignores the lock, {@code lockTimeout} (e.g. "10m", null: the device's) bounds the wait. */
    public static RolloutStrategy parse(String waves, String soak, String maxFailures, String onFailure,
                                        String deviceTimeout, Boolean approveEachWave, Boolean offlineCountsAsFailure,
                                        Boolean staticTarget, Boolean rollback, String emergency, Boolean force, String lockTimeout) {
        Duration lockWait = lockTimeout(lockTimeout);
        boolean urgent = emergency != null;
        if (urgent && emergency.isBlank()) {
            throw new InvalidInputException("an emergency rollout needs a reason (emergency: \"why\")");
        }
        if (urgent && (waves != null && !waves.isBlank() && !"100%".equals(waves.trim())
                || soak != null && !soak.isBlank() && !Durations.parse(soak, "soak").isZero()
                || Boolean.TRUE.equals(approveEachWave))) {
            throw new InvalidInputException("an emergency rollout is one wave with no soak and no approval: drop waves, soak and approveEachWave");
        }
        return new RolloutStrategy(
                WavePlan.parse(urgent ? "100%" : waves),
                urgent ? Duration.ZERO : Durations.parseOr(soak, "0s", "soak"),
                Threshold.parse(maxFailures == null || maxFailures.isBlank() ? "0" : maxFailures, "maxFailures"),
                FailureAction.parse(onFailure),
                Durations.parseOr(deviceTimeout, "10m", "deviceTimeout"),
                !urgent && Boolean.TRUE.equals(approveEachWave),
                Boolean.TRUE.equals(offlineCountsAsFailure),
                Boolean.TRUE.equals(staticTarget),
                Boolean.TRUE.equals(rollback),
                urgent ? emergency.strip() : null,
                Boolean.TRUE.equals(force),
                lockWait);
    }

    public String wavesText() {
        return String.join(",", waves.stream().map(Threshold::toString).toList());
    }
}
