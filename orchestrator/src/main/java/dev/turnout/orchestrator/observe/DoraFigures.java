package dev.turnout.orchestrator.observe;

import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The four DORA figures, computed from stored rollouts, release creation times and the audit
 * history. A <em>deployment</em> is a rollout that ended {@code SUCCEEDED}. A <em>change</em> is a
 * rollout that ended, or that failed and has not ended yet; an aborted rollout that never tripped
 * its failure threshold is no change. A change <em>failed</em> when its failure threshold tripped
 * (it paused or rolled back on failure) or it ended {@code ROLLED_BACK}/{@code FAILED}. It is
 * <em>restored</em> when it ends {@code ROLLED_BACK}, when it is resumed to {@code SUCCEEDED}, or
 * when a later rollout of the same app succeeds.
 *
 * @param deploymentsTotal     successful rollouts ever
 * @param deploymentsInWindow  successful rollouts that ended within the window
 * @param deploymentsPerDay    {@code deploymentsInWindow} per day of the window
 * @param leadTime             median time from release creation to its rollout succeeding, in the window
 * @param changeFailureRate    failed changes / changes, in the window
 * @param timeToRestore        median time from failure to restore of the failed changes restored in the window
 * @param changesInWindow      changes in the window
 * @param failedChangesInWindow failed changes in the window
 * @param unrestored           failed changes not restored yet (any time)
 * @param rollbacksTotal       rollouts that started rolling back, ever
 */
public record DoraFigures(long deploymentsTotal, long deploymentsInWindow, double deploymentsPerDay,
                          Optional<Duration> leadTime, Optional<Double> changeFailureRate,
                          Optional<Duration> timeToRestore, long changesInWindow, long failedChangesInWindow,
                          long unrestored, long rollbacksTotal) {

    /** The window DORA figures look back over. */
    public static final Duration WINDOW = Duration.ofDays(30);

    /**
     * @param rollouts        every stored rollout
     * @param releaseCreated  creation time of each release, keyed {@code app:version}
     * @param firstFailureAt  for each rollout whose failure threshold tripped, when it first did
     */
    public static DoraFigures compute(List<Rollout> rollouts, Map<String, Instant> releaseCreated,
                                      Map<String, Instant> firstFailureAt, Instant now, Duration window) {
        Instant from = now.minus(window);
        long deploymentsTotal = 0;
        long deploymentsInWindow = 0;
        long rollbacks = 0;
        long changes = 0;
        long failed = 0;
        long unrestored = 0;
        List<Duration> leadTimes = new ArrayList<>();
        List<Duration> restoreTimes = new ArrayList<>();
        List<Rollout> succeeded = rollouts.stream().filter(r -> r.state() == RolloutState.SUCCEEDED)
                .sorted(Comparator.comparing(Rollout::updatedAt)).toList();
        for (Rollout r : rollouts) {
            boolean inWindow = !r.updatedAt().isBefore(from);
            RolloutState s = r.state();
            if (s == RolloutState.ROLLING_BACK || s == RolloutState.ROLLED_BACK || s == RolloutState.FAILED) {
                rollbacks++;
            }
            if (s == RolloutState.SUCCEEDED) {
                deploymentsTotal++;
                if (inWindow) {
                    deploymentsInWindow++;
                    Instant created = releaseCreated.get(r.app() + ":" + r.version());
                    if (created != null && !created.isAfter(r.updatedAt())) {
                        leadTimes.add(Duration.between(created, r.updatedAt()));
                    }
                }
            }
            boolean failedChange = firstFailureAt.containsKey(r.id()) || s == RolloutState.ROLLED_BACK
                    || s == RolloutState.FAILED || s == RolloutState.ROLLING_BACK || thresholdExceeded(r);
            boolean change = s.isTerminal() ? s != RolloutState.ABORTED || failedChange : failedChange;
            if (!failedChange) {
                if (change && inWindow) {
                    changes++;
                }
                continue;
            }
            Instant failedAt = firstFailureAt.getOrDefault(r.id(), null);
            Optional<Instant> restoredAt = restoredAt(r, failedAt, succeeded);
            if (restoredAt.isEmpty()) {
                unrestored++;
            }
            Instant when = failedAt != null ? failedAt : r.updatedAt();
            if (!when.isBefore(from) || inWindow) {
                changes++;
                failed++;
            }
            if (failedAt != null && restoredAt.isPresent() && !restoredAt.get().isBefore(from)) {
                restoreTimes.add(Duration.between(failedAt, restoredAt.get()));
            }
        }
        double days = Math.max(1e-9, window.toSeconds() / 86_400.0);
        return new DoraFigures(deploymentsTotal, deploymentsInWindow, deploymentsInWindow / days, median(leadTimes),
                changes == 0 ? Optional.empty() : Optional.of((double) failed / changes), median(restoreTimes),
                changes, failed, unrestored, rollbacks);
    }

    private static boolean thresholdExceeded(Rollout r) {
        long failures = r.count(RolloutDeviceState.FAILED);
        return failures > r.strategy().maxFailures().of(r.devices().size());
    }

    private static Optional<Instant> restoredAt(Rollout r, Instant failedAt, List<Rollout> succeeded) {
        if (r.state() == RolloutState.ROLLED_BACK || r.state() == RolloutState.SUCCEEDED) {
            return Optional.of(r.updatedAt());
        }
        Instant after = failedAt != null ? failedAt : r.createdAt();
        return succeeded.stream().filter(s -> s.app().equals(r.app()) && s.createdAt().isAfter(after))
                .map(Rollout::updatedAt).findFirst();
    }

    private static Optional<Duration> median(List<Duration> values) {
        if (values.isEmpty()) {
            return Optional.empty();
        }
        List<Duration> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        if (n % 2 == 1) {
            return Optional.of(sorted.get(n / 2));
        }
        return Optional.of(sorted.get(n / 2 - 1).plus(sorted.get(n / 2)).dividedBy(2));
    }
}
