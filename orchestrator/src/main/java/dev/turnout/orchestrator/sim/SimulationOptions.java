package dev.turnout.orchestrator.sim;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * How a {@link SimulatedFleet} behaves. Everything a simulated device does that a real one decides
 * by running containers (how long an update takes, whether the new version is healthy, whether the
 * network holds) is set here.
 *
 * @param devices         how many simulated devices
 * @param idPrefix        device ids are {@code PREFIX-0001}, {@code PREFIX-0002}, ...
 * @param labels          labels every simulated device is enrolled with ({@code simulated=true} is always added)
 * @param platform        the platform the devices claim, e.g. {@code linux/arm64}
 * @param downloadTime    how long staging (DOWNLOADING to STAGED) takes
 * @param applyTime       how long an activation takes from APPLYING to its outcome (half applying, half verifying)
 * @param failingVersions versions whose health check always fails on every simulated device
 * @param failRate        probability (0..1) that any other activation fails its health check
 * @param offlineRate     probability (0..1) that a device drops its connection in each {@code flapInterval}
 * @param flapInterval    how often connectivity is drawn
 * @param offlineTime     how long a dropped device stays away
 * @param healthInterval  period of health reports
 * @param brokerUrl       broker to connect to instead of the one in the enrollment config (null: the config's)
 * @param seed            seed of the random draws, so a run can be repeated
 */
public record SimulationOptions(int devices, String idPrefix, Map<String, String> labels, String platform,
                                Duration downloadTime, Duration applyTime, Set<String> failingVersions, double failRate,
                                double offlineRate, Duration flapInterval, Duration offlineTime, Duration healthInterval,
                                String brokerUrl, long seed) {

    /** The label every simulated device carries, so nobody mistakes it for a real one. */
    public static final String SIMULATED_LABEL = "simulated";

    public SimulationOptions {
        if (devices < 0) {
            throw new IllegalArgumentException("the number of devices cannot be negative");
        }
        Objects.requireNonNull(idPrefix, "idPrefix");
        labels = Map.copyOf(labels);
        failingVersions = Set.copyOf(failingVersions);
        requireRate("fail rate", failRate);
        requireRate("offline rate", offlineRate);
        for (Duration d : new Duration[] {downloadTime, applyTime, flapInterval, offlineTime, healthInterval}) {
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException("durations must be zero or positive");
            }
        }
        if (healthInterval.isZero() || flapInterval.isZero()) {
            throw new IllegalArgumentException("health and flap intervals must be positive");
        }
    }

    /** {@code n} healthy, steady devices named {@code sim-0001}...: 50 ms to stage, 1 s to activate. */
    public static SimulationOptions defaults(int n) {
        return new SimulationOptions(n, "sim", Map.of(), "linux/arm64", Duration.ofMillis(50), Duration.ofSeconds(1), Set.of(),
                0, 0, Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofSeconds(30), null, 1);
    }

    public SimulationOptions withIdPrefix(String prefix) {
        return new SimulationOptions(devices, prefix, labels, platform, downloadTime, applyTime, failingVersions, failRate,
                offlineRate, flapInterval, offlineTime, healthInterval, brokerUrl, seed);
    }

    public SimulationOptions withLabels(Map<String, String> l) {
        return new SimulationOptions(devices, idPrefix, l, platform, downloadTime, applyTime, failingVersions, failRate,
                offlineRate, flapInterval, offlineTime, healthInterval, brokerUrl, seed);
    }

    public SimulationOptions withApplyTime(Duration d) {
        return new SimulationOptions(devices, idPrefix, labels, platform, downloadTime, d, failingVersions, failRate,
                offlineRate, flapInterval, offlineTime, healthInterval, brokerUrl, seed);
    }

    public SimulationOptions withFailingVersions(Set<String> versions) {
        return new SimulationOptions(devices, idPrefix, labels, platform, downloadTime, applyTime, versions, failRate,
                offlineRate, flapInterval, offlineTime, healthInterval, brokerUrl, seed);
    }

    public SimulationOptions withFailRate(double rate) {
        return new SimulationOptions(devices, idPrefix, labels, platform, downloadTime, applyTime, failingVersions, rate,
                offlineRate, flapInterval, offlineTime, healthInterval, brokerUrl, seed);
    }

    public SimulationOptions withFlapping(double rate, Duration interval, Duration away) {
        return new SimulationOptions(devices, idPrefix, labels, platform, downloadTime, applyTime, failingVersions, failRate,
                rate, interval, away, healthInterval, brokerUrl, seed);
    }

    public SimulationOptions withHealthInterval(Duration d) {
        return new SimulationOptions(devices, idPrefix, labels, platform, downloadTime, applyTime, failingVersions, failRate,
                offlineRate, flapInterval, offlineTime, d, brokerUrl, seed);
    }

    public SimulationOptions withBrokerUrl(String url) {
        return new SimulationOptions(devices, idPrefix, labels, platform, downloadTime, applyTime, failingVersions, failRate,
                offlineRate, flapInterval, offlineTime, healthInterval, url, seed);
    }

    public SimulationOptions withPlatform(String p) {
        return new SimulationOptions(devices, idPrefix, labels, p, downloadTime, applyTime, failingVersions, failRate,
                offlineRate, flapInterval, offlineTime, healthInterval, brokerUrl, seed);
    }

    /** The id of the {@code index}-th device (1-based). */
    public String deviceId(int index) {
        return String.format("%s-%04d", idPrefix, index);
    }

    private static void requireRate(String what, double rate) {
        if (!(rate >= 0 && rate <= 1)) {
            throw new IllegalArgumentException(what + " must be between 0 and 1, got " + rate);
        }
    }
}
