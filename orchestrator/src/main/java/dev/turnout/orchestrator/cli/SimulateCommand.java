package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.sim.SimulatedDevice;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code turnout simulate}: N simulated devices (in-memory containers) enrolled with a running
 * orchestrator, each with its own MQTT session, until interrupted.
 */
@Command(name = "simulate", description = {"Run N simulated devices against a running orchestrator until Ctrl-C: each is enrolled "
        + "over the API (label simulated=true), holds its own MQTT session and speaks the wire contract like the edge daemon, with "
        + "in-memory containers instead of Docker."})
final class SimulateCommand implements Callable<Integer> {

    private final Cli cli;

    @Option(names = "--devices", required = true, paramLabel = "N", description = "How many simulated devices.")
    int devices;

    @Option(names = "--broker-url", paramLabel = "URL", description = "Broker the devices connect to (default: the one their enrollment config names).")
    String brokerUrl;

    @Option(names = "--fail-rate", defaultValue = "0", paramLabel = "P",
            description = "Probability that an activation fails its health check and rolls back, 0..1 or a percentage (default: 0).")
    String failRate;

    @Option(names = "--fail-version", paramLabel = "VERSION", description = "A version whose health check always fails (repeatable).")
    List<String> failVersions = new ArrayList<>();

    @Option(names = "--offline-rate", defaultValue = "0", paramLabel = "P",
            description = "Probability that a device drops its connection (the broker publishes its last will) in each --flap-interval; "
                    + "it comes back after --offline-time (default: 0).")
    String offlineRate;

    @Option(names = "--flap-interval", defaultValue = "30s", paramLabel = "DURATION", description = "Default: ${DEFAULT-VALUE}.")
    String flapInterval;

    @Option(names = "--offline-time", defaultValue = "10s", paramLabel = "DURATION", description = "Default: ${DEFAULT-VALUE}.")
    String offlineTime;

    @Option(names = "--apply-time", defaultValue = "1s", paramLabel = "DURATION",
            description = "How long an activation takes, APPLYING to ACTIVE (default: ${DEFAULT-VALUE}).")
    String applyTime;

    @Option(names = "--download-time", defaultValue = "50ms", paramLabel = "DURATION",
            description = "How long staging takes, DOWNLOADING to STAGED (default: ${DEFAULT-VALUE}).")
    String downloadTime;

    @Option(names = "--health-interval", defaultValue = "30s", paramLabel = "DURATION", description = "Period of health reports (default: ${DEFAULT-VALUE}).")
    String healthInterval;

    @Option(names = "--id-prefix", defaultValue = "sim", paramLabel = "PREFIX", description = "Device ids are PREFIX-0001, ... (default: ${DEFAULT-VALUE}).")
    String idPrefix;

    @Option(names = "--label", paramLabel = "KEY=VALUE", description = "Label every device carries (repeatable); simulated=true is always added.")
    Map<String, String> labels = new LinkedHashMap<>();

    @Option(names = "--platform", defaultValue = "linux/arm64", paramLabel = "PLATFORM", description = "Platform the devices claim (default: ${DEFAULT-VALUE}).")
    String platform;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "N", description = "Seed of the random draws (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--report-every", defaultValue = "10s", paramLabel = "DURATION",
            description = "How often to print how many devices are connected and what they run (default: ${DEFAULT-VALUE}).")
    String reportEvery;

    SimulateCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public Integer call() throws Exception {
        if (devices < 1 || devices > 100_000) {
            throw new CliException(ExitCodes.USAGE, "--devices must be between 1 and 100000");
        }
        if (brokerUrl != null) {
            try {
                AsyncMqttSession.parseBrokerUrl(brokerUrl);
            } catch (IllegalArgumentException e) {
                throw new CliException(ExitCodes.USAGE, e.getMessage());
            }
        }
        SimulationOptions options;
        try {
            options = new SimulationOptions(devices, idPrefix, labels, platform, duration("--download-time", downloadTime),
                    duration("--apply-time", applyTime), Set.copyOf(failVersions), rate("--fail-rate", failRate),
                    rate("--offline-rate", offlineRate), duration("--flap-interval", flapInterval), duration("--offline-time", offlineTime),
                    duration("--health-interval", healthInterval), brokerUrl, seed);
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.USAGE, e.getMessage());
        }
        Duration every = duration("--report-every", reportEvery);
        ch.qos.logback.classic.Level before = DemoCommand.quietLogs();
        try {
            return simulate(options, every);
        } finally {
            DemoCommand.restoreLogs(before);
        }
    }

    private int simulate(SimulationOptions options, Duration every) throws Exception {
        String server = cli.api().server();
        cli.api().get("/api/v1/devices"); // one clear line when the server is not there or refuses the token
        long started = System.nanoTime();
        SimulatedFleet fleet;
        try {
            fleet = SimulatedFleet.start(server, cli.api().token(), options, Duration.ofSeconds(Math.max(60, devices / 20)),
                    cli.api().sslContext());
        } catch (Exception e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new CliException("cannot start the simulated devices: " + (cause.getMessage() == null ? cause : cause.getMessage()));
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            fleet.close();
            stopped.countDown();
        }, "turnout-simulate-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        cli.out.printf("%d simulated device(s) %s-0001... enrolled with %s and connected in %.1f s (Ctrl-C stops them)%n",
                devices, idPrefix, server, (System.nanoTime() - started) / 1e9);
        cli.out.flush();
        String lastReport = "";
        try {
            while (!stopped.await(every.toMillis(), TimeUnit.MILLISECONDS)) {
                String report = report(fleet);
                if (!report.equals(lastReport)) {
                    cli.out.println(report);
                    cli.out.flush();
                    lastReport = report;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            fleet.close();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down already
            }
        }
        return ExitCodes.OK;
    }

    private static String report(SimulatedFleet fleet) {
        Map<String, Integer> running = new TreeMap<>();
        for (SimulatedDevice d : fleet.devices()) {
            d.runningApps().forEach((app, version) -> running.merge(app + " " + version, 1, Integer::sum));
        }
        StringBuilder b = new StringBuilder().append(fleet.connectedCount()).append('/').append(fleet.devices().size())
                .append(" connected");
        if (!running.isEmpty()) {
            b.append("; running:");
            running.forEach((release, n) -> b.append(' ').append(release).append(" x").append(n));
        }
        return b.toString();
    }

    private static Duration duration(String option, String text) {
        try {
            return Durations.parse(text, option);
        } catch (RuntimeException e) {
            throw new CliException(ExitCodes.USAGE, e.getMessage());
        }
    }

    /** {@code 0.1} or {@code 10%}. */
    static double rate(String option, String text) {
        try {
            String t = text.trim();
            double value = t.endsWith("%") ? Double.parseDouble(t.substring(0, t.length() - 1)) / 100 : Double.parseDouble(t);
            if (!(value >= 0 && value <= 1)) {
                throw new NumberFormatException();
            }
            return value;
        } catch (NumberFormatException e) {
            throw new CliException(ExitCodes.USAGE, option + " must be a probability between 0 and 1 or a percentage, got '" + text + "'");
        }
    }
}
