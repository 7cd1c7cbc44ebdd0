package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.RolloutEventType;

import java.time.Clock;
import java.time.Instant;
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
    private final FleetTransport transport;
    private final Clock clock;
    /** A decision to publish; {@code background}: no wave waits on it (a STAGE), it may leave behind decisions published later. */
    private record Pending(DesiredStates.Decision decision, boolean background) {
    }

    private final List<Pending> decisions = new ArrayList<>();
    private final List<Announcement> events = new ArrayList<>();
    private RolloutEngine.WaveDecisions waveDecisions = (rolloutId, wave, nanos) -> { };
    /** When the engine took up the device report it is applying now (System.nanoTime()); 0 outside a report. */
    private long reportTakenUpAt;
    /** A wave that a report started and whose first desired state is not published yet. */
    private long waveStartedByReportAt;
    private int waveStartedByReport;
    /** Desired states were decided in the open transaction: it should commit now, not after the rest of a batch. */
    private boolean desiredWaiting;

    Outbox(RolloutStore store, FleetTransport transport, Clock clock) {
        this.store = store;
        this.transport = transport;
        this.clock = clock;
    }

    /** A rollout event as decided, in typed values (the rollout's state then); its wire form is made when it goes out. */
    private record Announcement(String rolloutId, String app, String version, RolloutEventType type, int wave,
                                String deviceId, String message, long atMillis, RolloutState state, Long activationMillis) {

        RolloutEvent wire() {
            RolloutEvent.Builder b = RolloutEvent.newBuilder();
            if (activationMillis != null) {
                b.setActivationMs(activationMillis);
            }
            return b
                    .setRolloutId(rolloutId)
                    .setApp(app)
                    .setVersion(version)
                    .setType(type)
                    .setWave(wave)
                    .setDeviceId(deviceId)
                    .setMessage(message)
                    .setTimestampMs(atMillis)
                    .setState(wire(state))
                    .build();
        }

        private static dev.turnout.proto.RolloutState wire(RolloutState s) {
            return switch (s) {
                case RUNNING -> dev.turnout.proto.RolloutState.ROLLOUT_RUNNING;
                case PAUSED -> dev.turnout.proto.RolloutState.ROLLOUT_PAUSED;
                case SUCCEEDED -> dev.turnout.proto.RolloutState.ROLLOUT_SUCCEEDED;
                case FAILED -> dev.turnout.proto.RolloutState.ROLLOUT_FAILED;
                case ROLLING_BACK -> dev.turnout.proto.RolloutState.ROLLOUT_ROLLING_BACK;
                case ROLLED_BACK -> dev.turnout.proto.RolloutState.ROLLOUT_ROLLED_BACK;
                case ABORTED -> dev.turnout.proto.RolloutState.ROLLOUT_ABORTED;
            };
        }
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

    /** A desired state signed and stored in the open transaction (or stored before: same bytes, same sequence). */
    void add(DesiredStates.Decision decision) {
        decisions.add(new Pending(decision, false));
    }

    /** Like {@link #add}, for a desired state no wave waits on (a STAGE). */
    void addInBackground(DesiredStates.Decision decision) {
        decisions.add(new Pending(decision, true));
    }

    void event(Rollout r, RolloutEventType type, int wave, String deviceId, String message) {
        announce(r, type, wave, deviceId, message, clock.millis(), null);
    }

    /**
     * Device {@code d} ended its activation (or rollback): the event carries the time since the device was
     * activated, so that the activation-time metric needs no read of the store per device.
     */
    void deviceSucceeded(Rollout r, RolloutDevice d, String message) {
        long at = clock.millis();
        Instant since = d.waitingSince();
        Long took = since == null || at < since.toEpochMilli() ? null : at - since.toEpochMilli();
        announce(r, RolloutEventType.DEVICE_SUCCEEDED, d.wave(), d.deviceId(), message, at, took);
    }

    private void announce(Rollout r, RolloutEventType type, int wave, String deviceId, String message, long at, Long activationMillis) {
        events.add(new Announcement(r.id(), r.app(), r.version(), type, wave, deviceId, message == null ? "" : message,
                at, r.state(), activationMillis));
    }

    boolean isEmpty() {
        return decisions.isEmpty() && events.isEmpty();
    }

    /**
     * Forgets what was not published: another orchestrator took the rollout over (its decisions are its own), or the
     * store refused the transaction that made them.
     */
    void drop() {
        decisions.clear();
        events.clear();
        desiredWaiting = false;
        waveStartedByReportAt = 0;
    }

    /** Publishes what {@code r}'s changes produced, once the store has committed them. */
    void publishAfterCommit(Rollout r) {
        List<Pending> out = List.copyOf(decisions);
        decisions.clear();
        List<Announcement> announced = List.copyOf(events);
        events.clear();
        long decisionStartedAt = waveStartedByReportAt;
        int decidedWave = waveStartedByReport;
        waveStartedByReportAt = 0;
        desiredWaiting |= !out.isEmpty();
        store.afterCommit(() -> {
            desiredWaiting = false;
            boolean timed = decisionStartedAt == 0;
            for (Pending p : out) {
                DesiredStates.Decision d = p.decision();
                if (p.background()) {
                    transport.publishDesiredInBackground(d.deviceId(), d.envelope());
                    continue;
                }
                transport.publishDesired(d.deviceId(), d.envelope());
                if (!timed) { // the wave's first decision is out
                    timed = true;
                    waveDecisions.decided(r.id(), decidedWave, System.nanoTime() - decisionStartedAt);
                }
            }
            announced.forEach(e -> transport.publishRolloutEvent(e.wire()));
        });
    }
}
