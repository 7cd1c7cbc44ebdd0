package dev.turnout.orchestrator.observe;

import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WaveState;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class DoraFiguresTest {

    private static final Instant NOW = Instant.parse("2026-11-22T12:00:00Z");

    @Test
    void deploymentsAndLeadTimeCountSucceededRolloutsInTheWindow() {
        List<Rollout> rollouts = List.of(
                rollout("r1", "web", "1.0.0", RolloutState.SUCCEEDED, NOW.minus(Duration.ofDays(40)), NOW.minus(Duration.ofDays(40))),
                rollout("r2", "web", "1.1.0", RolloutState.SUCCEEDED, NOW.minus(Duration.ofDays(3)), NOW.minus(Duration.ofDays(3))),
                rollout("r3", "web", "1.2.0", RolloutState.SUCCEEDED, NOW.minus(Duration.ofDays(1)), NOW.minus(Duration.ofDays(1))),
                rollout("r4", "web", "1.3.0", RolloutState.SUCCEEDED, NOW.minus(Duration.ofHours(2)), NOW.minus(Duration.ofHours(1))));
        Map<String, Instant> releases = Map.of(
                "web:1.1.0", NOW.minus(Duration.ofDays(3)).minus(Duration.ofHours(10)),
                "web:1.2.0", NOW.minus(Duration.ofDays(1)).minus(Duration.ofHours(2)),
                "web:1.3.0", NOW.minus(Duration.ofHours(5)));

        DoraFigures dora = DoraFigures.compute(rollouts, releases, Map.of(), NOW, Duration.ofDays(30));

        assertThat(dora.deploymentsTotal()).isEqualTo(4);
        assertThat(dora.deploymentsInWindow()).isEqualTo(3);
        assertThat(dora.deploymentsPerDay()).isCloseTo(0.1, within(1e-9));
        assertThat(dora.leadTime()).contains(Duration.ofHours(4)); // median of 10 h, 2 h, 4 h
        assertThat(dora.changeFailureRate()).contains(0.0);
        assertThat(dora.timeToRestore()).isEmpty();
    }

    @Test
    void aRolledBackChangeIsAFailureRestoredWhenTheRollbackEnds() {
        Instant failedAt = NOW.minus(Duration.ofMinutes(30));
        List<Rollout> rollouts = List.of(
                rollout("ok", "web", "1.0.0", RolloutState.SUCCEEDED, NOW.minus(Duration.ofDays(2)), NOW.minus(Duration.ofDays(2))),
                rollout("bad", "web", "2.0.0", RolloutState.ROLLED_BACK, NOW.minus(Duration.ofHours(1)), failedAt.plus(Duration.ofMinutes(6))),
                rollout("stopped", "web", "2.0.1", RolloutState.ABORTED, NOW.minus(Duration.ofMinutes(5)), NOW.minus(Duration.ofMinutes(4))));

        DoraFigures dora = DoraFigures.compute(rollouts, Map.of(), Map.of("bad", failedAt), NOW, Duration.ofDays(30));

        assertThat(dora.changesInWindow()).isEqualTo(2); // the aborted rollout never failed: no change
        assertThat(dora.failedChangesInWindow()).isEqualTo(1);
        assertThat(dora.changeFailureRate()).contains(0.5);
        assertThat(dora.timeToRestore()).contains(Duration.ofMinutes(6));
        assertThat(dora.unrestored()).isZero();
        assertThat(dora.rollbacksTotal()).isEqualTo(1);
    }

    @Test
    void aChangePausedOnFailureIsRestoredByTheNextSuccessfulRolloutOfThatApp() {
        Instant failedAt = NOW.minus(Duration.ofHours(3));
        Rollout paused = rollout("paused", "web", "2.0.0", RolloutState.ABORTED, NOW.minus(Duration.ofHours(4)), NOW.minus(Duration.ofHours(2)));
        Rollout otherApp = rollout("other", "db", "9.0.0", RolloutState.SUCCEEDED, NOW.minus(Duration.ofMinutes(150)), NOW.minus(Duration.ofMinutes(140)));

        DoraFigures stillBroken = DoraFigures.compute(List.of(paused, otherApp), Map.of(), Map.of("paused", failedAt), NOW, Duration.ofDays(30));
        assertThat(stillBroken.unrestored()).isEqualTo(1);
        assertThat(stillBroken.timeToRestore()).isEmpty();
        assertThat(stillBroken.changeFailureRate()).contains(0.5);

        Rollout fix = rollout("fix", "web", "2.0.1", RolloutState.SUCCEEDED, NOW.minus(Duration.ofMinutes(90)), NOW.minus(Duration.ofMinutes(60)));
        DoraFigures fixed = DoraFigures.compute(List.of(paused, otherApp, fix), Map.of(), Map.of("paused", failedAt), NOW, Duration.ofDays(30));
        assertThat(fixed.unrestored()).isZero();
        assertThat(fixed.timeToRestore()).contains(Duration.ofHours(2));
        assertThat(fixed.changeFailureRate().orElseThrow()).isCloseTo(1 / 3.0, within(1e-9));
    }

    private static Rollout rollout(String id, String app, String version, RolloutState state, Instant created, Instant updated) {
        RolloutStrategy strategy = RolloutStrategy.parse("100%", null, null, null, null, false);
        return new Rollout(id, app, version, "all", strategy, created, state, null, updated, 1, WaveState.DONE, updated, 0,
                List.of(RolloutDevice.planned("pi-1", 1, null)));
    }
}
