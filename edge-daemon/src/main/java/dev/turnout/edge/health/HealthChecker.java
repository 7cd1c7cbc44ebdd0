package dev.turnout.edge.health;

import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Reason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.function.Function;

/**
 * Probes a container every interval through the soak. Fails after {@code retries} consecutive failed
 * probes, or at once when the container stops (HEALTH_CHECK_FAILED) or restarts (CRASH_LOOP). Passes
 * once the soak has elapsed and the last probe succeeded.
 */
public final class HealthChecker implements HealthVerifier {

    /** Reads a container's state; throws like the runtime does. */
    @FunctionalInterface
    public interface StatusSource {
        ContainerStatus status(String containerId) throws UpdateFailure;
    }

    static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(1);
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);
    static final int DEFAULT_RETRIES = 3;

    private static final Logger log = LoggerFactory.getLogger(HealthChecker.class);

    private final StatusSource containers;
    private final Function<HealthCheck, Probe> probes;
    private final MonotonicClock clock;

    public HealthChecker(StatusSource containers, Function<HealthCheck, Probe> probes, MonotonicClock clock) {
        this.containers = containers;
        this.probes = probes;
        this.clock = clock;
    }

    @Override
    public void verify(String containerId, HealthCheck check) throws UpdateFailure {
        Duration interval = check.getIntervalMs() > 0 ? Duration.ofMillis(check.getIntervalMs()) : DEFAULT_INTERVAL;
        Duration timeout = check.getTimeoutMs() > 0 ? Duration.ofMillis(check.getTimeoutMs()) : DEFAULT_TIMEOUT;
        int retries = check.getRetries() > 0 ? check.getRetries() : DEFAULT_RETRIES;
        long soakNanos = Duration.ofMillis(Math.max(0, check.getSoakMs())).toNanos();
        // a probe that keeps flapping must not hold the update forever
        long giveUpNanos = soakNanos + interval.plus(timeout).multipliedBy(retries + 2L).toNanos();
        Probe probe = probes.apply(check);

        long start = clock.nanoTime();
        int initialRestarts = containers.status(containerId).restartCount();
        int consecutiveFailures = 0;
        while (true) {
            requireRunning(containerId, initialRestarts);
            boolean healthy = probe.check(containerId, timeout);
            consecutiveFailures = healthy ? 0 : consecutiveFailures + 1;
            if (consecutiveFailures >= retries) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "health check failed " + consecutiveFailures + " times in a row");
            }
            long elapsed = clock.nanoTime() - start;
            if (healthy && elapsed >= soakNanos) {
                requireRunning(containerId, initialRestarts);
                log.debug("container {} healthy after {} ms", containerId, Duration.ofNanos(elapsed).toMillis());
                return;
            }
            if (elapsed >= giveUpNanos) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "not healthy at the end of the soak");
            }
            try {
                clock.sleep(interval);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new UpdateFailure(Reason.INTERRUPTED, "health check interrupted");
            }
        }
    }

    private void requireRunning(String containerId, int initialRestarts) throws UpdateFailure {
        ContainerStatus status = containers.status(containerId);
        if (status.restarting() || status.restartCount() > initialRestarts) {
            throw new UpdateFailure(Reason.CRASH_LOOP, "container restarted during the soak (" + status.restartCount() + " restarts)");
        }
        if (!status.running()) {
            throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "container is " + status.state() + ", not running");
        }
    }
}
