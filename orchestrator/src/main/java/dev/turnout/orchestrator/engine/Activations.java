package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Phase;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.proto.RolloutEventType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Starts waves and activates their devices, paced: once {@link #continueOn} is set, a large wave is
 * activated (and a large fleet staged) in steps, each its own store transaction on the engine thread,
 * so that the first devices get their desired state while the rest are being signed.
 */
final class Activations {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);
    /** Devices of a starting wave activated per engine step once paced. */
    static final int ACTIVATION_CHUNK = 100;
    /** The first step of a wave is smaller, so that its first desired states go out within milliseconds of the decision. */
    static final int FIRST_ACTIVATION_STEP = 10;

    private final DesiredStates desired;
    private final Outbox outbox;
    private final Journal journal;
    private final DeviceReports reports;
    /** Runs the engine's next step on the engine thread; null: every wave is activated in one step. */
    private Executor engineThread;
    private Runnable step;
    private boolean stepRequested;
    /** A requested step activates devices of a running wave (not only staging): reports queued before it should let it pass. */
    private boolean activationWaiting;

    Activations(DesiredStates desired, Outbox outbox, Journal journal, DeviceReports reports) {
        this.desired = desired;
        this.outbox = outbox;
        this.journal = journal;
        this.reports = reports;
    }

    /** From now on further steps run as {@code step} through {@code engineThread}. */
    void continueOn(Executor engineThread, Runnable step) {
        this.engineThread = engineThread;
        this.step = step;
    }

    /** True when work is done in steps; false: all of it at once. */
    boolean paced() {
        return engineThread != null;
    }

    /** Asks for one more engine step (once until it runs). */
    void requestStep() {
        if (engineThread != null && !stepRequested) {
            stepRequested = true;
            try {
                engineThread.execute(step);
            } catch (RejectedExecutionException stopping) {
                stepRequested = false; // the next start or tick goes on where this left off
            }
        }
    }

    /** Asks for a step that activates more devices of a started wave: they wait for it now. */
    void requestActivationStep() {
        requestStep();
        activationWaiting = stepRequested;
    }

    /** True while a requested step has devices of a started wave to activate. */
    boolean activationWaiting() {
        return activationWaiting;
    }

    /** The requested step runs now: the next request schedules another. */
    void stepRuns() {
        stepRequested = false;
        activationWaiting = false;
    }

    void startWave(Rollout r, int n, Instant now) {
        r.waveMovedTo(n, WaveState.ACTIVATING, now);
        outbox.waveStarted(n);
        List<RolloutDevice> members = r.wave(n);
        LOG.info("rollout {}: wave {} starts on {} device(s): {}{}", r.id(), n, members.size(),
                String.join(", ", members.stream().limit(20).map(RolloutDevice::deviceId).toList()), members.size() > 20 ? ", ..." : "");
        journal.event(r, RolloutEventType.WAVE_STARTED, n, "", "wave " + n + " activates " + members.size() + " device(s)");
        activateSome(r, n, now, FIRST_ACTIVATION_STEP);
    }

    /** Activates the devices of wave {@code n} not activated yet: all of them, or one step's worth when paced. */
    void activateSome(Rollout r, int n, Instant now) {
        activateSome(r, n, now, ACTIVATION_CHUNK);
    }

    private void activateSome(Rollout r, int n, Instant now, int chunk) {
        int budget = paced() ? chunk : Integer.MAX_VALUE;
        for (RolloutDevice d : r.wave(n)) {
            if (budget == 0) {
                return;
            }
            if (!awaitsActivation(d)) {
                continue;
            }
            if (r.strategy().offlineCountsAsFailure() && reports.isOffline(d.deviceId())) {
                journal.deviceFailed(r, d, "OFFLINE", "offline when wave " + n + " started");
                continue;
            }
            activate(r, d, now);
            budget--;
        }
    }

    private static boolean awaitsActivation(RolloutDevice d) {
        return !d.wasActivated() && (d.state() == RolloutDeviceState.PENDING || d.state() == RolloutDeviceState.STAGED);
    }

    void activate(Rollout r, RolloutDevice d, Instant now) {
        // the same decision stored already (an orchestrator stopped between storing it and storing the rollout):
        // the device gets those very bytes again, never a second activation with a new sequence
        DesiredStates.Decision decision = desired.commitOnce(d.deviceId(), r.app(), activation(r));
        d.activating(decision.sequence(), now);
        outbox.add(decision);
    }

    /**
     * The device's switch to the release was cut short on the device (its daemon or its host stopped during it: it
     * rolled back to what it ran, {@code INTERRUPTED}) without the release being judged: the same activation, signed
     * again with a new sequence, tells it to try once more. The daemon bounds its own attempts at a release (then it
     * reports FAILED, TOO_MANY_ATTEMPTS, which counts); the device's time to report starts again.
     */
    void activateAgain(Rollout r, RolloutDevice d, Instant now) {
        DesiredStates.Decision decision = desired.commit(d.deviceId(), r.app(), activation(r));
        d.activating(decision.sequence(), now);
        outbox.add(decision);
    }

    private static DesiredApp activation(Rollout r) {
        return new DesiredApp(r.app(), r.version(), Phase.ACTIVATE, r.strategy().rollback(), r.id(), r.strategy().force(),
                r.strategy().lockTimeout() == null ? 0 : r.strategy().lockTimeout().toMillis(), r.strategy().downloadRateLimit());
    }
}
