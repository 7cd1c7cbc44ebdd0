package dev.turnout.edge.health;

import dev.turnout.edge.domain.ContainerUsage;
import dev.turnout.edge.domain.DiskUse;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.ResourceLimits;

import java.time.Duration;
import java.util.Locale;

/**
 * Judges one release's resource limits ({@code Release.limits}) from the samples its health check takes: memory above
 * its share of the container's limit (MEMORY_LIMIT), CPU above its share for the whole {@code cpu_for_ms}
 * (CPU_LIMIT), the engine's disk fuller than allowed (DISK_LIMIT). Pure: no I/O, no clock of its own; one instance per
 * check, because CPU use is judged from the difference between consecutive samples.
 */
public final class ResourceWatch {

    private static final double MIB = 1024.0 * 1024.0;

    private final ResourceLimits limits;
    /** The container's own memory limit (0: none, the host's memory is the base). */
    private final long memoryLimitBytes;
    /** The container's own CPU limit in billionths of a CPU (0: none, all the host's CPUs are the base). */
    private final long nanoCpus;

    private long lastSampleNanos = -1;
    private long lastCpuNanos;
    private long lastSystemNanos;
    /** When the CPU use went above the limit and stayed there; -1: it is not above. */
    private long aboveSinceNanos = -1;

    public ResourceWatch(ResourceLimits limits, ContainerSpec container) {
        this.limits = limits;
        this.memoryLimitBytes = Math.max(0, container.getMemoryBytes());
        this.nanoCpus = Math.max(0, container.getNanoCpus());
    }

    /** The limits a release signs, for its own container. */
    public static ResourceWatch of(Release release) {
        return new ResourceWatch(release.getLimits(), release.getContainer());
    }

    /** No limits: nothing is measured. */
    public static ResourceWatch none() {
        return new ResourceWatch(ResourceLimits.getDefaultInstance(), ContainerSpec.getDefaultInstance());
    }

    /** Whether the container's memory or CPU must be sampled. */
    public boolean watchesUsage() {
        return limits.getMemoryPercent() > 0 || limits.getCpuPercent() > 0;
    }

    /** Whether the engine's disk must be measured. */
    public boolean watchesDisk() {
        return limits.getDiskPercent() > 0;
    }

    /** The restarts the release tolerates during its check, or {@code deviceDefault} when it sets none. */
    public int maxRestarts(int deviceDefault) {
        return limits.hasRestarts() ? Math.max(0, limits.getRestarts()) : deviceDefault;
    }

    /**
     * Judges a sample of the container's memory and CPU taken at {@code nowNanos} (the check's monotonic clock).
     *
     * @throws UpdateFailure MEMORY_LIMIT or CPU_LIMIT, with the figure measured and the limit
     */
    public void judge(ContainerUsage usage, long nowNanos) throws UpdateFailure {
        judgeMemory(usage);
        judgeCpu(usage, nowNanos);
    }

    /** @throws UpdateFailure DISK_LIMIT when the filesystem is fuller than the release allows */
    public void judge(DiskUse disk) throws UpdateFailure {
        double limit = limits.getDiskPercent();
        if (limit > 0 && disk.percent() > limit) {
            throw new UpdateFailure(Reason.DISK_LIMIT, "disk " + disk.path() + " is " + percent(disk.percent()) + " full ("
                    + size(disk.usedBytes()) + " used, " + size(disk.availableBytes()) + " available) (limit " + limitPercent(limit) + ")");
        }
    }

    /** The words for a container the kernel OOM-killed. */
    public String oomMessage() {
        return "the kernel killed the container for lack of memory (OOM)"
                + (memoryLimitBytes > 0 ? ": it reached its " + size(memoryLimitBytes) + " limit" : "");
    }

    private void judgeMemory(ContainerUsage usage) throws UpdateFailure {
        double limit = limits.getMemoryPercent();
        long base = memoryLimitBytes > 0 ? memoryLimitBytes : usage.memoryLimitBytes();
        if (limit <= 0 || base <= 0) {
            return;
        }
        double used = 100.0 * usage.memoryBytes() / base;
        if (used > limit) {
            throw new UpdateFailure(Reason.MEMORY_LIMIT, "memory " + size(usage.memoryBytes()) + " is " + percent(used) + " of "
                    + (memoryLimitBytes > 0 ? "its " + size(base) + " limit" : "the host's " + size(base)) + " (limit " + limitPercent(limit) + ")");
        }
    }

    private void judgeCpu(ContainerUsage usage, long nowNanos) throws UpdateFailure {
        double limit = limits.getCpuPercent();
        if (limit <= 0) {
            return;
        }
        long cpuDelta = usage.cpuNanos() - lastCpuNanos;
        long systemDelta = usage.systemCpuNanos() - lastSystemNanos;
        boolean comparable = lastSampleNanos >= 0 && cpuDelta >= 0 && systemDelta > 0 && nowNanos > lastSampleNanos;
        long previousSample = lastSampleNanos;
        lastSampleNanos = nowNanos;
        lastCpuNanos = usage.cpuNanos();
        lastSystemNanos = usage.systemCpuNanos();
        if (!comparable) {
            aboveSinceNanos = -1; // the first sample, or the container's counter began again (it restarted)
            return;
        }
        double cpusUsed = (double) cpuDelta / systemDelta * usage.onlineCpus();
        double capacity = nanoCpus > 0 ? nanoCpus / 1e9 : usage.onlineCpus();
        double used = 100.0 * cpusUsed / capacity;
        if (used <= limit) {
            aboveSinceNanos = -1;
            return;
        }
        if (aboveSinceNanos < 0) {
            aboveSinceNanos = previousSample; // above through the whole interval this sample measured
        }
        long sustained = nowNanos - aboveSinceNanos;
        if (sustained >= Duration.ofMillis(limits.getCpuForMs()).toNanos()) {
            throw new UpdateFailure(Reason.CPU_LIMIT, "CPU " + percent(used) + " of " + (nanoCpus > 0 ? "its " + cpus(capacity) + " limit"
                    : "the host's " + cpus(capacity)) + " (" + String.format(Locale.ROOT, "%.2f", cpusUsed) + " CPUs), above the limit for "
                    + seconds(sustained) + " (limit " + limitPercent(limit) + " for " + seconds(Duration.ofMillis(limits.getCpuForMs()).toNanos()) + ")");
        }
    }

    /** "64 MiB", "61.2 MiB", "1.5 GiB". */
    static String size(long bytes) {
        double mib = bytes / MIB;
        return mib >= 1024 ? trim(mib / 1024) + " GiB" : trim(mib) + " MiB";
    }

    /** "96%", "92.5%". */
    static String percent(double value) {
        return trim(value) + "%";
    }

    /** A limit as the release wrote it: "90%", "92.5%", "0.01%". */
    static String limitPercent(double value) {
        String text = String.format(Locale.ROOT, "%.2f", value).replaceAll("0+$", "");
        return (text.endsWith(".") ? text.substring(0, text.length() - 1) : text) + "%";
    }

    private static String cpus(double cpus) {
        return trim(cpus) + (cpus == 1 ? " CPU" : " CPUs");
    }

    private static String seconds(long nanos) {
        return trim(nanos / 1e9) + " s";
    }

    private static String trim(double value) {
        String text = String.format(Locale.ROOT, "%.1f", value);
        return text.endsWith(".0") ? text.substring(0, text.length() - 2) : text;
    }
}
