package dev.turnout.orchestrator.bench;

import dev.turnout.broker.BrokerIdentities;
import dev.turnout.broker.BrokerStorage;
import dev.turnout.broker.EmbeddedBroker;
import dev.turnout.broker.Role;
import dev.turnout.broker.TopicPolicy;
import dev.turnout.proto.Topics;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The orchestrator's embedded broker (HiveMQ CE with Turnout's configuration and topic policy) on
 * its own, for the broker baseline of {@link RolloutBenchmark}: the same broker in its own JVM,
 * without the orchestrator. It accepts any password (connection set-up is not what the baseline
 * times): {@value #ORCHESTRATOR} connects in the orchestrator's role, {@code bench-monitor} as a monitor,
 * every other name as a device.
 * Runs until killed. Arguments: DATA_DIR PORT.
 */
public final class BaselineBroker {

    static final String ORCHESTRATOR = "bench-orchestrator";

    private BaselineBroker() {
    }

    public static void main(String[] args) throws Exception {
        BrokerIdentities anyone = (username, password) -> Optional.of(ORCHESTRATOR.equals(username) ? Role.ORCHESTRATOR
                : RolloutBenchmark.MONITOR.equals(username) ? Role.MONITOR : Role.DEVICE);
        // -Dturnout.bench.broker-storage=file: the same broker keeping its messages on disk, to see what the disk costs
        BrokerStorage storage = "file".equals(System.getProperty("turnout.bench.broker-storage"))
                ? BrokerStorage.ON_DISK : BrokerStorage.DEFAULT;
        EmbeddedBroker broker = EmbeddedBroker.start(Path.of(args[0]), "127.0.0.1", Integer.parseInt(args[1]), anyone,
                new TopicPolicy(new Topics(Topics.DEFAULT_PREFIX)), null, storage);
        System.out.println("baseline broker listening on " + broker.url() + ", storage " + storage);
        Thread.currentThread().join();
    }
}
