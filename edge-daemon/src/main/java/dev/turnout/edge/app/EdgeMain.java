package dev.turnout.edge.app;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code turnout-edge --config FILE [--data DIR]}: runs the edge daemon until SIGTERM. */
@Command(name = "turnout-edge", mixinStandardHelpOptions = true, version = EdgeDaemon.AGENT_VERSION,
        description = "Turnout edge daemon: converges this device to its signed desired state.")
public final class EdgeMain implements Callable<Integer> {

    @Option(names = "--config", required = true, paramLabel = "FILE", description = "device configuration (YAML)")
    Path config;

    @Option(names = "--data", paramLabel = "DIR", description = "state and cache directory (overrides dataDir)")
    Path data;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line; returns the exit code. */
    public static int run(String... args) {
        return new CommandLine(new EdgeMain()).execute(args);
    }

    @Override
    public Integer call() {
        EdgeConfig loaded;
        try {
            loaded = EdgeConfig.load(config);
        } catch (Exception e) {
            System.err.println("turnout-edge: " + e.getMessage());
            return 2;
        }
        if (data == null && loaded.dataDir() == null) {
            System.err.println("turnout-edge: no data directory: set dataDir in " + config + " or pass --data DIR");
            return 2;
        }
        EdgeDaemon daemon;
        try {
            daemon = EdgeDaemon.start(loaded, data);
        } catch (Exception e) {
            System.err.println("turnout-edge: cannot start: " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            daemon.close();
            stopped.countDown();
        }, "edge-shutdown"));
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }
}
