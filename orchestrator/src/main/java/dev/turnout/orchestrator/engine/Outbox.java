package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.RolloutEventType;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * What the engine decided and has not published yet: desired states (already signed and stored)
 * and rollout events. They leave only after the store committed the rollout that produced them,
 * so nothing is announced that a crash could make the store forget. Also times the wave decisions
 * a device report caused (report taken up to first desired state handed to the transport).
 */
final class Outbox {

    private final RolloutStore store;
    private final DesiredStates desired;
    private final FleetTransport transport;
    private final Clock clock;
    private final List<DesiredStates.Decision> decisions = new ArrayList<>();
    private final List<RolloutEvent> events = new ArrayList<>();
    private RolloutEngine.WaveDecisions waveDecisions = (rolloutId, wave, nanos) -> { };
    /** When the engine took up the device report it is applying now (System.nanoTime()); 0 outside a report. */
    private long reportTakenUpAt;
    /** A wave that a report started and whose first desired state is not published yet. */
    private long waveStartedByReportAt;
    private int waveStartedByReport;
    /** Desired states were decided in the open transaction: it should commit now, not after the rest of a batch. */
    private boolean desiredWaiting;

    Outbox(RolloutStore store, DesiredStates desired, FleetTransport transport, Clock clock) {
        this.store = store;
        this.desired = desired;
        this.transport = transport;
        this.clock = clock;
    }

    void onWaveDecision(RolloutEngine.WaveDecisions listener) {
        this.waveDecisions = listener;
    }

    boolean desiredWaiting() {
        return desiredWaiting;
    }

    /** The engine takes up a device report now ({@code true}) or is done with it. */
    void reportTakenUp(boolean now) {
        reportTakenUpAt = now ? System.nanoTime() : 0;
    }

    /** Wave {@code n} starts; when a report started it, its decision time runs until its first desired state goes out. */
    void waveStarted(int n) {
        if (n > 1 && reportTakenUpAt != 0) {
            waveStartedByReportAt = reportTakenUpAt;
            waveStartedByReport = n;
        }
    }

    void add(DesiredStates.Decision decision) {
        decisions.add(decision);
    }

    void event(Rollout r, RolloutEventType type, int wave, String deviceId, String message) {
        events.add(RolloutEvent.newBuilder()
                .setRolloutId(r.id())
                .setApp(r.app())
                .setVersion(r.version())
                .setType(type)
                .setWave(wave)
                .setDeviceId(deviceId)
                .setMessage(message == null ? "" : message)
                .setTimestampMs(clock.millis())
                .setState(dev.turnout.proto.RolloutState.valueOf("ROLLOUT_" + r.state().name()))
                .build());
    }

    boolean isEmpty() {
        return decisions.isEmpty() && events.isEmpty();
    }

    /** Forgets what was not published (another orchestrator took the rollout over: its decisions are its own). */
    void drop() {
        decisions.clear();
        events.clear();
    }

    /** Publishes what {@code r}'s changes produced, once the store has committed them. */
    void publishAfterCommit(Rollout r) {
        List<DesiredStates.Decision> out = List.copyOf(decisions);
        decisions.clear();
        List<RolloutEvent> announced = List.copyOf(events);
        events.clear();
        long decisionStartedAt = waveStartedByReportAt;
        int decidedWave = waveStartedByReport;
        waveStartedByReportAt = 0;
        desiredWaiting |= !out.isEmpty();
        store.afterCommit(() -> {
            desiredWaiting = false;
            for (int i = 0; i < out.size(); i++) {
                desired.publish(out.get(i));
                if (i == 0 && decisionStartedAt != 0) {
                    waveDecisions.decided(r.id(), decidedWave, System.nanoTime() - decisionStartedAt);
                }
            }
            announced.forEach(e -> transport.publishRolloutEvent(e.getRolloutId(), e.toByteArray()));
        });
    }
}
