package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.engine.DesiredStates;
import dev.turnout.orchestrator.engine.RolloutEngine;
import dev.turnout.orchestrator.mqtt.MqttFleetTransport;
import dev.turnout.orchestrator.port.ClusterMembership;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.orchestrator.security.Keyring;
import dev.turnout.orchestrator.webhook.WebhookDispatcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;

/**
 * The rollout engine at work on its {@link EngineThread}: it publishes every stored desired state
 * again, reloads the unfinished rollouts, then takes device reports (batched, one store transaction
 * per batch) and ticks. Among several orchestrators it also applies reports forwarded by the others,
 * and at stop hands its rollout leases over at once instead of after they expire.
 */
final class EngineLoop implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EngineLoop.class);
    private static final Duration TICK = Duration.ofMillis(500);
    private static final Duration START_LIMIT = Duration.ofSeconds(60);
    private static final Duration LEASE_HANDOVER_LIMIT = Duration.ofSeconds(5);
    /** How old the enrolled-device count that sizes the reconnect window may be. */
    private static final Duration FLEET_SIZE_AGE = Duration.ofMinutes(1);

    private final RolloutEngine engine;
    private final EngineThread thread;
    private final boolean shared;

    private EngineLoop(RolloutEngine engine, EngineThread thread, boolean shared) {
        this.engine = engine;
        this.thread = thread;
        this.shared = shared;
    }

    /**
     * Starts the engine on {@code thread}: what it publishes goes out through {@code transport},
     * seen by {@code monitoring} and {@code webhooks} on the way, as are the reports it reads from it.
     */
    static EngineLoop start(FleetStore store, ClusterMembership membership, Keyring keys, FleetMonitoring monitoring,
                            WebhookDispatcher webhooks, MqttFleetTransport transport, EngineThread thread, Clock clock)
            throws Exception {
        FleetTransport observed = webhooks.observe(monitoring.observer().observe(transport));
        DesiredStates desired = new DesiredStates(store, keys::active, keys::rotation, observed, clock)
                .sizeReconnectWindowBy(new FleetSize(store::listDevices, clock, FLEET_SIZE_AGE));
        RolloutEngine engine = new RolloutEngine(store, store, membership, desired, observed, clock);
        engine.onWaveDecision(monitoring.metrics()::waveDecision);
        engine.continueOn(thread.guarded());
        thread.call(() -> {
            int republished = desired.republishAll();
            LOG.info("republished the desired state of {} device(s)", republished);
            engine.start();
            return null;
        }, START_LIMIT);
        BatchingExecutor reports = new BatchingExecutor(thread.executor(), store, engine::desiredWaiting, engine::activationWaiting,
                store.shared() ? 1 : BatchingExecutor.MAX_BATCH);
        transport.listen(webhooks.observe(monitoring.observer().observe(engine)), reports);
        if (store.shared()) {
            store.onForwarded(() -> reports.execute(engine::drainForwarded));
        }
        thread.every(TICK, engine::tick);
        return new EngineLoop(engine, thread, store.shared());
    }

    RolloutEngine engine() {
        return engine;
    }

    /** Among several orchestrators, releases this one's rollout leases so that the others take them over now. */
    @Override
    public void close() throws Exception {
        if (shared) {
            thread.call(() -> {
                engine.releaseLeases();
                return null;
            }, LEASE_HANDOVER_LIMIT);
        }
    }
}
