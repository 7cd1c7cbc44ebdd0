package dev.turnout.edge.health;

import dev.turnout.edge.domain.ContainerStatus;
import dev.turnout.edge.domain.ContainerUsage;
import dev.turnout.edge.domain.DiskUse;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.HealthVerifier;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Optional;
import java.util.function.Function;

/**
 * Probes a container every interval through the soak. Fails after {@code retries} consecutive failed
 * probes, at once when the container stops (HEALTH_CHECK_FAILED), when Docker's own HEALTHCHECK says
 * unhealthy, when it restarts more than {@code maxRestarts} times (or the release's {@code restarts} limit: CRASH_LOOP),
 * when the kernel OOM-killed it (OOM_KILLED), or when a sample taken at the same pace exceeds one of the release's
 * resource limits (MEMORY_LIMIT, CPU_LIMIT, DISK_LIMIT; see {@link ResourceWatch}). Passes once the soak has
 * elapsed and the last probe succeeded.
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
    /** One sample of a container's memory and CPU; throws like the runtime does. */
    @FunctionalInterface
    public interface UsageSource {
        ContainerUsage usage(String containerId) throws UpdateFailure;
    }

    /** How full the engine's disk is now; empty when it cannot be told. */
    @FunctionalInterface
    public interface DiskSource {
        Optional<DiskUse> measure();
    }

    private final int maxRestarts;
    private final UsageSource usage;
    private final DiskSource disk;

    public HealthChecker(StatusSource containers, Function<HealthCheck, Probe> probes, MonotonicClock clock) {
        this(containers, probes, clock, 0);
    }

    /**
     * @param maxRestarts restarts of the container within the soak that are still tolerated; one more is a crash
     *                    loop (0: any restart fails the check)
     */
    public HealthChecker(StatusSource containers, Function<HealthCheck, Probe> probes, MonotonicClock clock, int maxRestarts) {
        this(containers, probes, clock, maxRestarts, id -> {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "no measurements");
        }, Optional::empty);
    }

    /**
     * @param usage samples a container's memory and CPU (one engine call each interval, only for a release that limits them)
     * @param disk  measures the engine's disk (only for a release that limits it)
     */
    public HealthChecker(StatusSource containers, Function<HealthCheck, Probe> probes, MonotonicClock clock, int maxRestarts,
                         UsageSource usage, DiskSource disk) {
        this.containers = containers;
        this.probes = probes;
        this.clock = clock;
        this.maxRestarts = maxRestarts;
        this.usage = usage;
        this.disk = disk;
    }

    @Override
    public void verify(String containerId, HealthCheck check) throws UpdateFailure {
        verify(containerId, check, ResourceWatch.none(), 0, false);
    }

    @Override
    public void verify(String containerId, Release release) throws UpdateFailure {
        verify(containerId, release.getHealth(), ResourceWatch.of(release), 0, false);
    }

    @Override
    public void resume(String containerId, Release release, Duration soaked) throws UpdateFailure {
        verify(containerId, release.getHealth(), ResourceWatch.of(release), Math.max(0, soaked.toNanos()), true);
    }

    /**
     * The rest of the soak only; the restart count is judged from 0: the daemon created and started this container
     * on this boot (a fresh container counts no restarts, and {@code docker start} resets the count), so every restart
     * Docker counted happened during the soak, also while no daemon watched.
     */
    @Override
    public void resume(String containerId, HealthCheck check, Duration soaked) throws UpdateFailure {
        verify(containerId, check, ResourceWatch.none(), Math.max(0, soaked.toNanos()), true);
    }

    private void verify(String containerId, HealthCheck check, ResourceWatch watch, long soakedNanos, boolean resumed)
            throws UpdateFailure {
        int allowedRestarts = watch.maxRestarts(maxRestarts);
        Duration interval = check.getIntervalMs() > 0 ? Duration.ofMillis(check.getIntervalMs()) : DEFAULT_INTERVAL;
        Duration timeout = check.getTimeoutMs() > 0 ? Duration.ofMillis(check.getTimeoutMs()) : DEFAULT_TIMEOUT;
        int retries = check.getRetries() > 0 ? check.getRetries() : DEFAULT_RETRIES;
        long soakNanos = Math.max(0, Duration.ofMillis(Math.max(0, check.getSoakMs())).toNanos() - soakedNanos);
        // a probe that keeps flapping (or a Docker health check that keeps "starting") must not hold the update forever
        long giveUpNanos = soakNanos + interval.plus(timeout).multipliedBy(retries + 2L).toNanos();
        Probe probe = probes.apply(check);

        long start = clock.nanoTime();
        ContainerStatus read = containers.status(containerId); // the first round judges the state it starts from
        int initialRestarts = resumed ? 0 : read.restartCount();
        int consecutiveFailures = 0;
        while (true) {
            ContainerStatus status = requireRunning(read, initialRestarts, allowedRestarts, watch);
            if (status.running()) {
                sample(containerId, watch);
            }
            Boolean healthy = status.running() ? judge(check, status, probe, containerId, timeout) : null;
            if (healthy != null) {
                consecutiveFailures = healthy ? 0 : consecutiveFailures + 1;
            }
            if (consecutiveFailures >= retries) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "health check failed " + consecutiveFailures + " times in a row");
            }
            long elapsed = clock.nanoTime() - start;
            if (Boolean.TRUE.equals(healthy) && elapsed >= soakNanos) {
                requireRunning(containers.status(containerId), initialRestarts, allowedRestarts, watch);
                log.debug("container {} healthy after {} ms", containerId, Duration.ofNanos(elapsed).toMillis());
                return;
            }
            if (elapsed >= giveUpNanos) {
                throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "not healthy at the end of the soak"
                        + (healthy == null ? " (still " + (status.restarting() ? "restarting" : "starting") + ")" : ""));
            }
            try {
                clock.sleep(interval);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new UpdateFailure(Reason.INTERRUPTED, "health check interrupted");
            }
            read = containers.status(containerId);
        }
    }

    /** True or false from the probe; null while Docker's own health check is still starting (not a failure yet). */
    private static Boolean judge(HealthCheck check, ContainerStatus status, Probe probe, String containerId, Duration timeout)
            throws UpdateFailure {
        if (check.getDocker()) {
            switch (status.health()) {
                case "" -> throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "the release asks for the image's HEALTHCHECK and the image has none");
                case "unhealthy" -> throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "Docker reports the container unhealthy");
                case "starting" -> {
                    return null;
                }
                default -> {
                    // "healthy": the probe below confirms it
                }
            }
        }
        return probe.check(containerId, timeout);
    }

    /** Measures what the release limits, at the check's pace; a sample the engine cannot give is skipped. */
    private void sample(String containerId, ResourceWatch watch) throws UpdateFailure {
        if (watch.watchesUsage()) {
            ContainerUsage measured = null;
            try {
                measured = usage.usage(containerId);
            } catch (UpdateFailure e) {
                if (e.reason() == Reason.INTERRUPTED) {
                    throw e;
                }
                log.debug("no usage sample of {}: {}", containerId, e.getMessage());
            }
            if (measured != null) {
                watch.judge(measured, clock.nanoTime());
            }
        }
        if (watch.watchesDisk()) {
            Optional<DiskUse> measured = disk.measure();
            if (measured.isPresent()) {
                watch.judge(measured.get());
            }
        }
    }

    private static ContainerStatus requireRunning(ContainerStatus status, int initialRestarts, int maxRestarts, ResourceWatch watch)
            throws UpdateFailure {
        if (status.oomKilled()) {
            throw new UpdateFailure(Reason.OOM_KILLED, watch.oomMessage());
        }
        int restarts = status.restartCount() - initialRestarts;
        if (restarts > maxRestarts || (maxRestarts == 0 && status.restarting())) {
            throw new UpdateFailure(Reason.CRASH_LOOP, "container restarted " + Math.max(restarts, 1) + " times during the soak (more than "
                    + maxRestarts + " allowed)");
        }
        if (!status.running() && !(status.restarting() && maxRestarts > 0)) {
            throw new UpdateFailure(Reason.HEALTH_CHECK_FAILED, "container is " + status.state() + ", not running");
        }
        return status;
    }
}
