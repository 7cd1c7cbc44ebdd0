package dev.turnout.edge.domain;

/**
 * One sample of what a container uses, as the engine's stats report it.
 *
 * @param memoryBytes      memory in use, as {@code docker stats} counts it: the cgroup's usage less its inactive file cache
 * @param memoryLimitBytes the cgroup's memory limit: the container's own, or the host's memory when it has none
 * @param cpuNanos         CPU time the container used since it started, in nanoseconds (all its CPUs together)
 * @param systemCpuNanos   CPU time of the whole host at the same moment, in nanoseconds (all CPUs together)
 * @param onlineCpus       the host's CPUs
 */
public record ContainerUsage(long memoryBytes, long memoryLimitBytes, long cpuNanos, long systemCpuNanos, int onlineCpus) {
}
