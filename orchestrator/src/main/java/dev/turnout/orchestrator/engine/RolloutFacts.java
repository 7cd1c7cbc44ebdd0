package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.policy.WavePolicy;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * What the wave policy reads of a rollout: its counts (kept by {@link Rollout}, no walk), and the
 * devices of its current wave only where a count cannot answer. Also the sentences that sum a
 * rollout's devices up in its reason.
 */
record RolloutFacts(Rollout r, DeviceReports reports) implements WavePolicy.Facts {

    @Override
    public RolloutState state() {
        return r.state();
    }

    @Override
    public RolloutStrategy strategy() {
        return r.strategy();
    }

    @Override
    public int currentWave() {
        return r.currentWave();
    }

    @Override
    public WaveState waveState() {
        return r.currentWaveState();
    }

    @Override
    public Instant waveChangedAt() {
        return r.waveChangedAt();
    }

    @Override
    public int waveCount() {
        return r.waveCount();
    }

    @Override
    public long failures() {
        return r.count(RolloutDeviceState.FAILED) - r.toleratedFailures();
    }

    @Override
    public int targeted() {
        return r.devices().size();
    }

    @Override
    public long toActivate() {
        return awaitingActivation(r, r.currentWave());
    }

    @Override
    public int waveSize() {
        return r.wave(r.currentWave()).size();
    }

    @Override
    public int settled() {
        return r.settled(r.currentWave());
    }

    @Override
    public int away() {
        return reports.offlineCount();
    }

    @Override
    public boolean anyActive() {
        return r.count(RolloutDeviceState.ACTIVE) > 0;
    }

    @Override
    public boolean allSettledOrAway() {
        return r.wave(r.currentWave()).stream().allMatch(this::settledOrAway);
    }

    @Override
    public boolean activeButAway() {
        return reports.offlineCount() > 0 && r.wave(r.currentWave()).stream()
                .anyMatch(d -> d.state() == RolloutDeviceState.ACTIVE && reports.isOffline(d.deviceId()));
    }

    @Override
    public long rollingBack() {
        return r.count(RolloutDeviceState.ROLLING_BACK);
    }

    @Override
    public long unconfirmedRollbacks() {
        return unconfirmed(r).size();
    }

    /** Settled, or offline and waiting for its retained desired state (not a failure unless the strategy says so). */
    private boolean settledOrAway(RolloutDevice d) {
        return d.state().isSettled() || reports.isOffline(d.deviceId());
    }

    /** Devices of wave {@code n} still to activate: PENDING and STAGED are the states before activation (no walk). */
    static long awaitingActivation(Rollout r, int n) {
        return r.count(n, RolloutDeviceState.PENDING) + r.count(n, RolloutDeviceState.STAGED);
    }

    /** A device activated or rolling back when its rollout ended: it may still report. */
    static boolean underWay(RolloutDevice d) {
        return d.state() == RolloutDeviceState.ACTIVATING || d.state() == RolloutDeviceState.ROLLING_BACK;
    }

    /** True if some device of ended rollout {@code r} is under way and not among {@code takenByNewer}. */
    static boolean stillUnderWay(Rollout r, Set<String> takenByNewer) {
        if (r.count(RolloutDeviceState.ACTIVATING) + r.count(RolloutDeviceState.ROLLING_BACK) == 0) {
            return false;
        }
        return r.devices().stream().anyMatch(d -> underWay(d) && !takenByNewer.contains(d.deviceId()));
    }

    /** "id (message)" of the devices whose rollback failed or timed out. */
    static List<String> unconfirmed(Rollout r) {
        return r.devices().stream()
                .filter(d -> d.state() == RolloutDeviceState.FAILED && d.rollbackSequence() > 0)
                .map(d -> d.deviceId() + " (" + d.message() + ")").toList();
    }

    /** The reason of a rollout that succeeded: failures within maxFailures and devices still offline, or null. */
    static String successReason(Rollout r) {
        long failed = r.count(RolloutDeviceState.FAILED);
        List<String> away = r.devices().stream().filter(d -> !d.state().isSettled()).map(RolloutDevice::deviceId).toList();
        List<String> why = new ArrayList<>();
        if (failed > 0) {
            why.add(failed + " device(s) failed within maxFailures: " + failedSummary(r));
        }
        if (!away.isEmpty()) {
            why.add(away.size() + " device(s) offline, updating when they return: " + String.join(", ", away));
        }
        return why.isEmpty() ? null : String.join("; ", why);
    }

    /** "id REASON" of every failed device. */
    static String failedSummary(Rollout r) {
        return String.join(", ", r.devices().stream().filter(d -> d.state() == RolloutDeviceState.FAILED)
                .map(d -> d.deviceId() + " " + d.reason()).toList());
    }
}
