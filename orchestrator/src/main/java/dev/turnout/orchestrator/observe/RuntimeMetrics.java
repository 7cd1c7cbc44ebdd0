package dev.turnout.orchestrator.observe;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;

import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;

/**
 * The orchestrator's own JVM, process and system meters, named as Prometheus' linter
 * ({@code promtool check metrics}) wants them. Micrometer's {@link ProcessorMetrics} writes two
 * names it flags:
 * <ul>
 *   <li>{@code process_cpu_time_ns_total} (nanoseconds, an abbreviated unit): replaced by
 *       {@code process_cpu_seconds_total}, the same CPU time in seconds, the name every Prometheus
 *       client library uses for it;</li>
 *   <li>{@code system_cpu_count}, a gauge with a suffix Prometheus keeps for histograms and
 *       summaries: renamed {@code system_cpu_processors}, same value and help text.</li>
 * </ul>
 */
final class RuntimeMetrics {

    /** Micrometer's name of the CPU time counter in nanoseconds, replaced by {@value #CPU_SECONDS}. */
    static final String CPU_TIME_NANOS = "process.cpu.time";
    /** The CPU time of this process in seconds: {@code process_cpu_seconds_total}. */
    static final String CPU_SECONDS = "process.cpu";
    /** Micrometer's name of the available processors gauge, renamed {@value #PROCESSORS}. */
    static final String CPU_COUNT = "system.cpu.count";
    /** Processors available to the JVM: {@code system_cpu_processors}. */
    static final String PROCESSORS = "system.cpu.processors";

    private RuntimeMetrics() {
    }

    /** Binds JVM memory and threads, processor and uptime meters to {@code registry}, under lint-clean names. */
    static void bindTo(MeterRegistry registry) {
        registry.config()
                .meterFilter(MeterFilter.deny(id -> id.getName().equals(CPU_TIME_NANOS)))
                .meterFilter(new MeterFilter() {
                    @Override
                    public Meter.Id map(Meter.Id id) {
                        return id.getName().equals(CPU_COUNT) ? id.withName(PROCESSORS) : id;
                    }
                });
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean hotspot && hotspot.getProcessCpuTime() >= 0) {
            FunctionCounter.builder(CPU_SECONDS, hotspot, b -> b.getProcessCpuTime() / 1e9)
                    .description("The CPU time used by the Java virtual machine process")
                    .baseUnit("seconds")
                    .register(registry);
        }
    }
}
