package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.observe.FleetMetrics;
import dev.turnout.orchestrator.observe.FleetObserver;
import dev.turnout.orchestrator.observe.LiveEvents;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.Topics;

import java.time.Clock;

/**
 * What monitors read: the metrics, the live events mirrored from MQTT, and the observer that feeds
 * both from the reports coming in and the rollout events going out.
 */
record FleetMonitoring(FleetMetrics metrics, LiveEvents live, FleetObserver observer) {

    private static final int LIVE_EVENTS_KEPT = 1000;

    static FleetMonitoring create(Topics topics, FleetStore store, Clock clock) {
        FleetMetrics metrics = new FleetMetrics(store, clock);
        LiveEvents live = new LiveEvents(LIVE_EVENTS_KEPT, clock.millis() * 1000);
        return new FleetMonitoring(metrics, live, new FleetObserver(topics, live, metrics, clock));
    }
}
