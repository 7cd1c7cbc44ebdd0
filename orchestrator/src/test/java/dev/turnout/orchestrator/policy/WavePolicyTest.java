package dev.turnout.orchestrator.policy;

import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WavePlan;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.policy.WavePolicy.Step;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Instant;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** docs/operations.md, "The usual rollout", as rows: what is known of a rollout and its current wave, and the next step. */
class WavePolicyTest {

    private static final Instant NOW = Instant.parse("2026-11-22T10:00:00Z");

    @ParameterizedTest(name = "[{index}] {0} wave {1}/{2} {3} {4}s ago, to activate {5}, settled {6}, away {7}, "
            + "answered {8}, failed {9} (max {10}, {11}), soak {12}, approve {13} -> {14}")
    @CsvSource(delimiter = '|', textBlock = """
            # rollout | wave | of | wave state | since | to activate | settled | away (* an ACTIVE one) | answered | failed | max | on failure | soak | approve | next
            # a wave goes on while its devices are under way, and while some still wait for their activation step
            RUNNING   | 1    | 3  | ACTIVATING | 0     | 0           | 0/1     | 0    | no       | 0      | 0   | pause      | 0s   | no      | WAIT
            RUNNING   | 2    | 3  | ACTIVATING | 0     | 40          | 10/50   | 0    | yes      | 0      | 0   | pause      | 0s   | no      | ACTIVATE_MORE
            # settled: done at once without a soak, else it soaks; offline devices do not hold it up ...
            RUNNING   | 1    | 3  | ACTIVATING | 0     | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 0s   | no      | COMPLETE_WAVE
            RUNNING   | 1    | 3  | ACTIVATING | 0     | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 30s  | no      | SOAK
            RUNNING   | 2    | 3  | ACTIVATING | 0     | 0           | 3/4     | 1    | yes      | 0      | 0   | pause      | 0s   | no      | COMPLETE_WAVE
            # ... unless nobody at all has answered: an absent canary proves nothing
            RUNNING   | 1    | 3  | ACTIVATING | 0     | 0           | 0/1     | 1    | no       | 0      | 0   | pause      | 0s   | no      | WAIT
            # the soak: the wave must stay healthy that long
            RUNNING   | 1    | 3  | SOAKING    | 29    | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 30s  | no      | WAIT
            RUNNING   | 1    | 3  | SOAKING    | 30    | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 30s  | no      | COMPLETE_WAVE
            # between waves: the next starts, or waits for approval; after the last the rollout succeeded
            RUNNING   | 1    | 3  | DONE       | 0     | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 0s   | no      | START_NEXT_WAVE
            RUNNING   | 0    | 3  | DONE       | 0     | 0           | 0/0     | 0    | no       | 0      | 0   | pause      | 0s   | yes     | START_NEXT_WAVE
            RUNNING   | 1    | 3  | DONE       | 0     | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 0s   | yes     | AWAIT_APPROVAL
            RUNNING   | 3    | 3  | DONE       | 0     | 0           | 5/5     | 0    | yes      | 0      | 0   | pause      | 0s   | no      | SUCCEED
            # failures: within maxFailures the rollout goes on; past it onFailure applies, whatever the wave does
            RUNNING   | 1    | 3  | ACTIVATING | 0     | 0           | 1/1     | 0    | yes      | 1      | 1   | pause      | 0s   | no      | COMPLETE_WAVE
            RUNNING   | 1    | 3  | ACTIVATING | 0     | 0           | 1/1     | 0    | no       | 1      | 0   | pause      | 0s   | no      | PAUSE
            RUNNING   | 2    | 3  | SOAKING    | 5     | 0           | 4/4     | 0    | yes      | 2      | 1   | rollback   | 30s  | no      | ROLL_BACK
            RUNNING   | 2    | 3  | ACTIVATING | 0     | 0           | 0/4     | 0    | yes      | 1      | 20% | pause      | 0s   | no      | WAIT
            # issue 23, 6: paused, a wave that settles starts its soak, so resuming later does not make it soak again
            PAUSED    | 1    | 3  | ACTIVATING | 0     | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 30s  | no      | SOAK
            PAUSED    | 1    | 3  | ACTIVATING | 0     | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 0s   | no      | WAIT
            PAUSED    | 1    | 3  | SOAKING    | 60    | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 30s  | no      | WAIT
            # a soak over while the wave's ACTIVE canary is offline proves nothing: the next wave waits for it (away 1*)
            RUNNING   | 1    | 3  | SOAKING    | 60    | 0           | 1/1     | 1*   | yes      | 0      | 0   | pause      | 30s  | no      | WAIT
            RUNNING   | 1    | 3  | SOAKING    | 10    | 0           | 1/1     | 1*   | yes      | 0      | 0   | pause      | 30s  | no      | WAIT
            # an offline device of the wave that never got to ACTIVE (away 1) does not hold the wave, as before
            RUNNING   | 2    | 3  | SOAKING    | 60    | 0           | 3/4     | 1    | yes      | 0      | 0   | pause      | 30s  | no      | COMPLETE_WAVE
            RUNNING   | 1    | 3  | SOAKING    | 60    | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 30s  | no      | COMPLETE_WAVE
            PAUSED    | 1    | 3  | DONE       | 0     | 0           | 1/1     | 0    | yes      | 0      | 0   | pause      | 0s   | no      | WAIT
            PAUSED    | 1    | 3  | ACTIVATING | 0     | 0           | 1/1     | 0    | yes      | 5      | 0   | rollback   | 30s  | no      | SOAK
            # an ended rollout has no wave to move
            SUCCEEDED | 3    | 3  | DONE       | 0     | 0           | 5/5     | 0    | yes      | 0      | 0   | pause      | 0s   | no      | WAIT
            """)
    void nextStep(RolloutState state, int wave, int waves, WaveState waveState, long since, long toActivate, String settled,
                  String away, String answered, long failed, String maxFailures, String onFailure, String soak, String approve,
                  Step next) {
        String[] s = settled.split("/");
        RolloutStrategy strategy = RolloutStrategy.parse("100%", soak, maxFailures, onFailure, null, approve.equals("yes"));
        Facts f = new Facts(state, strategy, wave, waves, waveState, NOW.minusSeconds(since), failed, 20, toActivate,
                Integer.parseInt(s[1]), Integer.parseInt(s[0]), Integer.parseInt(away.replace("*", "")), answered.equals("yes"), 0, 0,
                away.endsWith("*"));
        assertThat(WavePolicy.next(f, NOW)).isEqualTo(next);
    }

    @ParameterizedTest(name = "rolling back, {0} device(s) on the way back, {1} unconfirmed -> {2}")
    @CsvSource(delimiter = '|', textBlock = """
            # on the way back | unconfirmed | next
            # the rollback waits for every device it sent back (its wave and failures no longer matter)
            2                 | 0           | WAIT
            1                 | 1           | WAIT
            # every device answered: confirmed everywhere it rolled back, else the rollout failed
            0                 | 0           | END_ROLLED_BACK
            0                 | 1           | END_FAILED
            """)
    void aRollbackEndsOnceEveryDeviceAnswered(long rollingBack, long unconfirmed, Step next) {
        RolloutStrategy strategy = RolloutStrategy.parse("100%", "0s", "0", "rollback", null, false);
        Facts f = new Facts(RolloutState.ROLLING_BACK, strategy, 1, 3, WaveState.ACTIVATING, NOW, 5, 20, 0, 1, 1, 0, true,
                rollingBack, unconfirmed, false);
        assertThat(WavePolicy.next(f, NOW)).isEqualTo(next);
    }

    @ParameterizedTest(name = "{0} devices in waves \"{1}\" -> {2}")
    @CsvSource(delimiter = '|', textBlock = """
            2   | 1,50%,100%     | 1 1
            10  | 1,50%,100%     | 1 4 5
            100 | 1,10%,50%,100% | 1 9 40 50
            5   | 1,10%,100%     | 1 4
            3   | 1,2,100%       | 1 1 1
            """)
    void wavesArePlannedFromCumulativeSteps(int devices, String waves, String sizes) {
        assertThat(WavePolicy.plan(WavePlan.parse(waves), devices))
                .isEqualTo(Arrays.stream(sizes.split(" ")).map(Integer::valueOf).toList());
    }

    @ParameterizedTest(name = "{0} devices in waves \"{1}\" with {2} canaries -> {3}")
    @CsvSource(delimiter = '|', textBlock = """
            # devices | waves          | canaries | sizes
            10        | 1,50%,100%     | 0        | 1 4 5
            10        | 1,50%,100%     | 1        | 1 4 5
            10        | 1,50%,100%     | 3        | 3 2 5
            10        | 1,50%,100%     | 5        | 5 5
            10        | 1,50%,100%     | 7        | 7 3
            10        | 1,50%,100%     | 10       | 10
            10        | 3,100%         | 2        | 3 7
            3         | 100%           | 2        | 3
            3         | 1,2,100%       | 2        | 2 1
            """)
    void canariesAllGoInTheFirstWaveAndLaterWavesKeepTheirTotals(int devices, String waves, int canaries, String sizes) {
        assertThat(WavePolicy.withCanary(WavePolicy.plan(WavePlan.parse(waves), devices), canaries))
                .isEqualTo(Arrays.stream(sizes.split(" ")).map(Integer::valueOf).toList());
    }

    @ParameterizedTest(name = "waves \"{0}\" are refused")
    @CsvSource(delimiter = '|', textBlock = """
            1,1,100%     | 1 after 1
            2,1,100%     | 1 after 2
            50%,50%      | 50% after 50%
            1,50%,20%    | 20% after 50%
            """)
    void repeatedOrShrinkingStepsAreRefusedWithAClearMessage(String waves, String why) {
        assertThatThrownBy(() -> WavePolicy.plan(WavePlan.parse(waves), 10))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("must grow").hasMessageContaining(why);
    }

    private record Facts(RolloutState state, RolloutStrategy strategy, int currentWave, int waveCount, WaveState waveState,
                         Instant waveChangedAt, long failures, int targeted, long toActivate, int waveSize, int settled,
                         int away, boolean anyActive, long rollingBack, long unconfirmedRollbacks,
                         boolean activeButAway) implements WavePolicy.Facts {

        @Override
        public boolean allSettledOrAway() {
            return settled + away >= waveSize;
        }
    }

}
