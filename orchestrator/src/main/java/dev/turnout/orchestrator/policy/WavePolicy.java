package dev.turnout.orchestrator.policy;

import dev.turnout.orchestrator.domain.FailureAction;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.Threshold;
import dev.turnout.orchestrator.domain.WavePlan;
import dev.turnout.orchestrator.domain.WaveState;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * A rollout's wave policy as data (docs/operations.md, "The usual rollout"): which devices go in
 * which wave, and, from what is known of the current wave, the one next {@link Step}. Pure: no I/O,
 * no clock (time is passed in); the engine applies the step and asks again until it says
 * {@link Step#WAIT} (or a step that ends the loop). Rolling back, it says when the rollback ends and how.
 */
public final class WavePolicy {

    /** What the engine does next with a rollout. */
    public enum Step {
        /** Nothing now: devices are under way, the soak runs, or the rollout is not running. */
        WAIT,
        /** Failures passed maxFailures and onFailure is pause: pause the rollout. */
        PAUSE,
        /** Failures passed maxFailures and onFailure is rollback: roll the rollout back. */
        ROLL_BACK,
        /** Devices of the current wave wait for their activation step. */
        ACTIVATE_MORE,
        /** Every device of the wave settled (or is away): its soak starts now. */
        SOAK,
        /** The wave is done (settled, soaked): mark it so. */
        COMPLETE_WAVE,
        /** The previous wave is done: start the next one. */
        START_NEXT_WAVE,
        /** The previous wave is done and the strategy wants an operator's approval first. */
        AWAIT_APPROVAL,
        /** The last wave is done: the rollout succeeded. */
        SUCCEED,
        /** Rolling back, no device is still on its way back and every one confirmed it: the rollout rolled back. */
        END_ROLLED_BACK,
        /** Rolling back, no device is still on its way back, but some did not confirm it: the rollout failed. */
        END_FAILED
    }

    /**
     * What the policy reads of a rollout and its current wave. Counts are cheap; {@link #allSettledOrAway()}
     * may walk the wave's devices, so the policy asks it last.
     */
    public interface Facts {
        RolloutState state();

        RolloutStrategy strategy();

        /** 1-based; 0 while only staging. */
        int currentWave();

        WaveState waveState();

        /** When the current wave last changed state (started, began to soak). */
        Instant waveChangedAt();

        int waveCount();

        /** Failed devices counted against maxFailures (those accepted on resume are not). */
        long failures();

        /** Targeted devices (what a percentage of maxFailures is taken of). */
        int targeted();

        /** Devices of the current wave not activated yet. */
        long toActivate();

        /** Devices of the current wave. */
        int waveSize();

        /** Devices of the current wave that need nothing more from it. */
        int settled();

        /** Devices of the current wave known to be offline now (an upper bound is fine: it only saves a walk). */
        int away();

        /** Whether any device of the rollout reported success yet: an absent canary proves nothing. */
        boolean anyActive();

        /** Every device of the current wave is settled or offline. */
        boolean allSettledOrAway();

        /**
         * Some device of the current wave runs the release (ACTIVE) but is offline now: the soak cannot vouch for it.
         * A release that cuts a device off the network looks exactly like this. Asked only when a soak is over.
         */
        boolean activeButAway();

        /** Devices told to go back to their previous release that have not answered yet. */
        long rollingBack();

        /** Devices whose rollback failed or timed out (may walk the devices: asked only once none is rolling back). */
        long unconfirmedRollbacks();
    }

    private WavePolicy() {
    }

    /**
     * The size of every wave for {@code total} devices. Steps are cumulative; steps of one kind (counts,
     * percentages) must grow: {@code 1,1,100%} is refused instead of quietly becoming two waves. A step
     * that adds no device for this many devices (10% of 5 after 1) is dropped, as documented.
     */
    public static List<Integer> plan(List<Threshold> steps, int total) {
        requireIncreasing(steps);
        return WavePlan.sizes(steps, total);
    }

    /**
     * The wave sizes {@link #plan} gave, with the first {@code canaries} devices all in the first wave:
     * it grows to hold them if it is smaller; later waves keep their cumulative totals, and a wave the
     * first now covers is dropped. The caller puts the canaries first in the device order.
     */
    public static List<Integer> withCanary(List<Integer> sizes, int canaries) {
        List<Integer> adjusted = new java.util.ArrayList<>();
        int cumulative = 0;
        int placed = 0;
        for (int size : sizes) {
            cumulative += size;
            int upTo = Math.max(cumulative, canaries);
            if (upTo > placed) {
                adjusted.add(upTo - placed);
                placed = upTo;
            }
        }
        return adjusted;
    }

    /** Refuses repeated or shrinking wave steps of the same kind (counts with counts, percentages with percentages). */
    public static void requireIncreasing(List<Threshold> steps) {
        Threshold lastCount = null;
        Threshold lastPercent = null;
        for (Threshold step : steps) {
            Threshold before = step.percent() ? lastPercent : lastCount;
            if (before != null && step.value() <= before.value()) {
                throw new InvalidInputException("waves are cumulative and must grow: " + step + " after " + before
                        + " adds no device (write 1,2,100% for one device, then one more, then the rest)");
            }
            if (step.percent()) {
                lastPercent = step;
            } else {
                lastCount = step;
            }
        }
    }

    /** The next step for a rollout as {@code f} describes it, at {@code now}. */
    public static Step next(Facts f, Instant now) {
        if (f.state() == RolloutState.ROLLING_BACK) {
            // a rollback ends when every device answered (or timed out); only confirmed rollbacks make it ROLLED_BACK
            if (f.rollingBack() > 0) {
                return Step.WAIT;
            }
            return f.unconfirmedRollbacks() > 0 ? Step.END_FAILED : Step.END_ROLLED_BACK;
        }
        if (f.state() == RolloutState.PAUSED) {
            // a paused rollout starts nothing, but a wave that settles while paused starts its soak then:
            // resuming later does not make devices that have been ACTIVE for longer than the soak wait again
            return f.waveState() == WaveState.ACTIVATING && !f.strategy().soak().isZero() && waveSettled(f)
                    ? Step.SOAK : Step.WAIT;
        }
        if (f.state() != RolloutState.RUNNING) {
            return Step.WAIT;
        }
        if (f.failures() > f.strategy().maxFailures().of(f.targeted())) {
            return f.strategy().onFailure() == FailureAction.ROLLBACK ? Step.ROLL_BACK : Step.PAUSE;
        }
        return switch (f.waveState()) {
            case ACTIVATING -> {
                if (f.toActivate() > 0) {
                    yield Step.ACTIVATE_MORE;
                }
                if (!waveSettled(f)) {
                    yield Step.WAIT;
                }
                yield f.strategy().soak().isZero() ? Step.COMPLETE_WAVE : Step.SOAK;
            }
            // a soak is over once its time has passed with every ACTIVE device of the wave there to be seen: a canary that
            // went offline on the new release holds the next wave until it is back (or the operator decides)
            case SOAKING -> soaked(f.waveChangedAt(), f.strategy().soak(), now) && !f.activeButAway() ? Step.COMPLETE_WAVE : Step.WAIT;
            case DONE -> {
                if (f.currentWave() >= f.waveCount()) {
                    yield Step.SUCCEED;
                }
                yield f.currentWave() > 0 && f.strategy().approveEachWave() ? Step.AWAIT_APPROVAL : Step.START_NEXT_WAVE;
            }
            case PENDING -> Step.WAIT;
        };
    }

    /**
     * Every device of the wave settled or away, and someone answered: offline devices do not hold a
     * wave up, but while nobody at all has answered there is no evidence. The counts answer first.
     */
    private static boolean waveSettled(Facts f) {
        int settled = f.settled();
        if (settled + f.away() < f.waveSize() || settled == 0 && !f.anyActive()) {
            return false;
        }
        return f.allSettledOrAway();
    }

    /** True once a soak that began at {@code since} has run for {@code soak}. */
    public static boolean soaked(Instant since, Duration soak, Instant now) {
        return !now.isBefore(since.plus(soak));
    }
}
