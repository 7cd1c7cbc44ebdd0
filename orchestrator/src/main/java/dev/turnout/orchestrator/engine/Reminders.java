package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;

/**
 * Devices that were told to switch (or to go back) and have said nothing about it since, while online:
 * their stored desired state is published to them again, the same signed bytes (a daemon that has it
 * already ignores a sequence it acted on). A QoS 1 message the broker acknowledged should reach a
 * connected device; when it does not (a broker or client fault: the chaos soak and a broker-alone
 * benchmark each saw one such message lost), the device would otherwise wait silently until its
 * device timeout failed it, minutes later, and rolled the release back for nothing.
 */
final class Reminders {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);
    /** The longest silence before a reminder; shorter for a short device timeout (a quarter of it), never under {@link #SHORTEST}. */
    static final Duration LONGEST = Duration.ofSeconds(30);
    static final Duration SHORTEST = Duration.ofSeconds(5);

    private final DesiredStates desired;
    private final DeviceReports reports;
    private final Timeouts timeouts;
    /**
     * When the engine started: every stored desired state was published again just before (EngineLoop), so a silence
     * counts from here, and a restart does not remind every waiting device at once on its first tick.
     */
    private Instant started = Instant.MIN;

    Reminders(DesiredStates desired, DeviceReports reports, Timeouts timeouts) {
        this.desired = desired;
        this.reports = reports;
        this.timeouts = timeouts;
    }

    /** The engine starts; the stored desired states were all published again. */
    void started(Instant now) {
        started = now;
    }

    /** How long a device may stay silent after its activation or rollback before it is reminded, under {@code r}'s device timeout. */
    static Duration after(Rollout r) {
        Duration quarter = r.strategy().deviceTimeout().dividedBy(4);
        return quarter.compareTo(LONGEST) > 0 ? LONGEST : quarter.compareTo(SHORTEST) < 0 ? SHORTEST : quarter;
    }

    /** Sends the stored desired state again to each device of {@code r} silent for too long. */
    void remind(Rollout r, Instant now) {
        if (r.state() != RolloutState.RUNNING && r.state() != RolloutState.ROLLING_BACK) {
            return; // a paused rollout waits for nobody; an ended one for nothing
        }
        Duration after = after(r);
        if (now.isBefore(started.plus(after))) {
            return;
        }
        for (RolloutDevice d : r.devices()) {
            if (d.state() != RolloutDeviceState.ACTIVATING && d.state() != RolloutDeviceState.ROLLING_BACK
                    || d.heardSinceWaiting() || d.quietSince() == null || now.isBefore(d.quietSince().plus(after))
                    || reports.isOffline(d.deviceId()) || timeouts.waitsForWindow(r, d)) {
                continue;
            }
            d.reminded(now);
            desired.stored(d.deviceId()).ifPresent(decision -> {
                desired.publish(decision);
                LOG.info("rollout {}: device {} is online and has said nothing for {} since it was told to {}: its desired state is"
                        + " published again", r.id(), d.deviceId(), Durations.format(after),
                        d.state() == RolloutDeviceState.ROLLING_BACK ? "roll back" : "switch");
            });
        }
    }
}
