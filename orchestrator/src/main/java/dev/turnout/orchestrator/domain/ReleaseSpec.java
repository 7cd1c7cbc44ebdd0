package dev.turnout.orchestrator.domain;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.turnout.proto.compose.ComposeReader;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a release runs (container), how its health is judged (health) and what it may use while it is judged (limits).
 */
public record ReleaseSpec(Container container, Health health, Limits limits) {

    /** A spec without resource limits. */
    public ReleaseSpec(Container container, Health health) {
        this(container, health, null);
    }

    private static final Set<String> RESTART_POLICIES = Set.of("no", "always", "unless-stopped", "on-failure");

    /** Log drivers whose files the engine rotates on the device's own disk. */
    public static final Set<String> LOG_DRIVERS = Set.of("json-file", "local");

    /** Linux capabilities by Docker's names (without "CAP_"), as of Linux 5.9; "ALL" is also accepted. */
    public static final Set<String> CAPABILITIES = ComposeReader.CAPABILITIES;

    /** Docker refuses a smaller memory limit. */
    public static final long MIN_MEMORY_BYTES = 6L * 1024 * 1024;

    private static final Pattern USER_PART = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}");
    private static final Pattern VOLUME_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]+");
    private static final Set<String> VOLUME_OPTIONS = Set.of("ro", "rw", "nocopy", "z", "Z",
            "private", "rprivate", "shared", "rshared", "slave", "rslave");
    private static final Pattern PORT = Pattern.compile("(?:(\\d{1,3}(?:\\.\\d{1,3}){3}):)?(?:(\\d*):)?(\\d+)(?:/(tcp|udp|sctp))?");
    private static final Pattern CPUS = Pattern.compile("\\d{1,4}(?:\\.\\d{1,9})?");

    /**
     * Container settings, mirroring the wire {@code ContainerSpec}. Sizes and the CPU limit are kept as written
     * ({@code "256m"}, {@code "1.5"}) and converted when the release is signed.
     *
     * @param volumes {@code SOURCE:TARGET[:OPTIONS]}: a SOURCE starting with {@code /} is a host path (bind mount),
     *                any other names a volume the engine creates and keeps
     * @param memory  memory limit, {@code docker run --memory} style: {@code 256m} is 256 MiB
     * @param cpus    CPU limit as a decimal number of CPUs, {@code docker run --cpus} style
     * @param logging log driver and rotation; null: the device's default rotation
     */
    public record Container(List<String> command, Map<String, String> env, String network, List<String> ports,
                            List<String> volumes, List<String> devices, Boolean privileged, String restart,
                            String user, @JsonProperty("cap_add") List<String> capAdd,
                            @JsonProperty("cap_drop") List<String> capDrop, String memory, String cpus, Logging logging) {

        /** The settings every release had before users, capabilities, limits and logging. */
        public Container(List<String> command, Map<String, String> env, String network, List<String> ports,
                         List<String> volumes, List<String> devices, Boolean privileged, String restart) {
            this(command, env, network, ports, volumes, devices, privileged, restart, null, null, null, null, null, null);
        }

        /** The memory limit in bytes; 0 when none is set. */
        public long memoryBytes() {
            return memory == null ? 0 : ByteSizes.binary(memory, "spec.container.memory");
        }

        /** The CPU limit in billionths of a CPU (Docker's NanoCpus); 0 when none is set. */
        public long nanoCpus() {
            if (cpus == null) {
                return 0;
            }
            if (!CPUS.matcher(cpus.trim()).matches()) {
                throw new InvalidInputException("spec.container.cpus '" + cpus + "' must be a number of CPUs such as 0.5, 1 or 1.5");
            }
            return new BigDecimal(cpus.trim()).movePointRight(9).longValueExact();
        }
    }

    /**
     * How the container's output is kept on the device. A key left out takes the device's default: driver
     * {@code local}, {@code max_size} 10m, {@code max_file} 3.
     *
     * @param driver  {@code json-file} or {@code local}
     * @param maxSize size of one log file before it is rotated, {@code --log-opt max-size} style: {@code 10m} is
     *                10,000,000 bytes
     * @param maxFile files kept, the one being written included; at least 1
     */
    public record Logging(String driver, @JsonProperty("max_size") String maxSize, @JsonProperty("max_file") Integer maxFile) {

        /** The rotation size in bytes; 0 when left to the device. */
        public long maxSizeBytes() {
            return maxSize == null ? 0 : ByteSizes.decimal(maxSize, "spec.container.logging.max_size");
        }
    }

    /** A capability as Docker names it: upper case, without "CAP_" ({@code cap_sys_rawio} is {@code SYS_RAWIO}). */
    public static String capability(String name) {
        String upper = name.trim().toUpperCase(Locale.ROOT);
        return upper.startsWith("CAP_") ? upper.substring(4) : upper;
    }

    /** Health probe settings; at most one probe kind. */
    public record Health(List<String> exec, String http, String tcp, Boolean docker, String interval,
                         String timeout, Integer retries, String soak) {
    }

    /**
     * Resource limits watched through the health check and soak; exceeding one fails the release on the device, which
     * rolls back (docs/release-spec.md). A key left out is not watched.
     *
     * @param memory   the container's memory use as a share of its memory limit ({@code container.memory}), or of the
     *                 host's memory when it has none: {@code 90%}
     * @param cpu      CPU use above a share of its CPU limit ({@code container.cpus}, or all the host's CPUs) for a while
     * @param disk     how full the filesystem holding Docker's data may be: {@code 95%}
     * @param restarts restarts by the container's restart policy tolerated during the check; one more is CRASH_LOOP
     */
    public record Limits(String memory, Cpu cpu, String disk, Integer restarts) {

        /** The memory limit in percent; 0 when none is set. */
        public double memoryPercent() {
            return memory == null ? 0 : Percent.parse(memory, "spec.limits.memory");
        }

        /** The disk limit in percent; 0 when none is set. */
        public double diskPercent() {
            return disk == null ? 0 : Percent.parse(disk, "spec.limits.disk");
        }
    }

    /**
     * CPU use that fails the release: above {@code percent} for {@code for} without a break.
     *
     * @param percent  share of the container's CPU limit, or of all the host's CPUs when it has none: {@code 95} or
     *                 {@code 95%}
     * @param duration how long (YAML key {@code for}): {@code 30s}
     */
    public record Cpu(String percent, @JsonProperty("for") String duration) {

        /** The CPU limit in percent. */
        public double percentValue() {
            if (percent == null) {
                throw new InvalidInputException("spec.limits.cpu.percent is missing: write cpu: {percent: 95, for: 30s}");
            }
            return Percent.parse(percent, "spec.limits.cpu.percent");
        }

        /** How long the use must stay above the limit. */
        public Duration forDuration() {
            if (duration == null) {
                throw new InvalidInputException("spec.limits.cpu.for is missing: write cpu: {percent: 95, for: 30s}");
            }
            Duration d = Durations.parse(duration, "spec.limits.cpu.for");
            if (d.isZero()) {
                throw new InvalidInputException("spec.limits.cpu.for must be longer than 0s");
            }
            return d;
        }
    }

    /** Percentages as a limit is written: {@code 90%}, {@code 92.5%} or a bare {@code 90}; above 0, at most 100. */
    static final class Percent {

        private static final Pattern FORM = Pattern.compile("(\\d{1,3}(?:\\.\\d{1,2})?)\\s*%?");

        private Percent() {
        }

        static double parse(String text, String field) {
            Matcher m = FORM.matcher(text.trim());
            double value = m.matches() ? Double.parseDouble(m.group(1)) : -1;
            if (value <= 0 || value > 100) {
                throw new InvalidInputException(field + " '" + text + "' must be a percentage above 0 and at most 100, such as 90%");
            }
            return value;
        }
    }

    /** Checks every field; the message of the exception names the first bad one. */
    public void validate() {
        checkLimits();
        if (container != null) {
            if (container.command() != null) {
                for (int i = 0; i < container.command().size(); i++) {
                    String part = container.command().get(i);
                    if (part == null || part.isEmpty()) {
                        throw new InvalidInputException("spec.container.command[" + i + "] must be a non-empty string");
                    }
                }
            }
            if (container.restart() != null && !RESTART_POLICIES.contains(container.restart())) {
                throw new InvalidInputException("spec.container.restart must be one of no, always, unless-stopped, on-failure; got '"
                        + container.restart() + "'");
            }
            checkEntries(container.ports(), "spec.container.ports");
            checkEntries(container.volumes(), "spec.container.volumes");
            checkEntries(container.devices(), "spec.container.devices");
            checkEnv(container.env());
            checkPorts(container.ports());
            checkVolumes(container.volumes());
            checkDevices(container.devices());
            checkUser(container.user());
            checkCapabilities(container.capAdd(), container.capDrop());
            if (container.memory() != null && container.memoryBytes() < MIN_MEMORY_BYTES) {
                throw new InvalidInputException("spec.container.memory '" + container.memory() + "' is below Docker's minimum of 6m");
            }
            if (container.cpus() != null && container.nanoCpus() <= 0) {
                throw new InvalidInputException("spec.container.cpus must be more than 0; leave it out for no limit");
            }
            checkLogging(container.logging());
        }
        if (health == null) {
            return;
        }
        int probes = 0;
        if (health.exec() != null && !health.exec().isEmpty()) {
            probes++;
            for (int i = 0; i < health.exec().size(); i++) {
                if (health.exec().get(i) == null || health.exec().get(i).isEmpty()) {
                    throw new InvalidInputException("spec.health.exec[" + i + "] must be a non-empty string");
                }
            }
        }
        if (health.http() != null && !health.http().isBlank()) {
            probes++;
        }
        if (health.tcp() != null && !health.tcp().isBlank()) {
            probes++;
        }
        if (Boolean.TRUE.equals(health.docker())) {
            probes++;
        }
        if (probes > 1) {
            throw new InvalidInputException("spec.health must name at most one probe (exec, http, tcp or docker)");
        }
        if (health.interval() != null) {
            Durations.parse(health.interval(), "spec.health.interval");
        }
        if (health.timeout() != null) {
            Durations.parse(health.timeout(), "spec.health.timeout");
        }
        if (health.soak() != null) {
            Durations.parse(health.soak(), "spec.health.soak");
        }
        if (health.retries() != null && health.retries() < 0) {
            throw new InvalidInputException("spec.health.retries must not be negative");
        }
    }

    private void checkLimits() {
        if (limits == null) {
            return;
        }
        limits.memoryPercent();
        limits.diskPercent();
        if (limits.cpu() != null) {
            limits.cpu().percentValue();
            Duration sustained = limits.cpu().forDuration();
            Duration soak = health == null || health.soak() == null ? Duration.ZERO : Durations.parse(health.soak(), "spec.health.soak");
            if (sustained.compareTo(soak) > 0) {
                throw new InvalidInputException("spec.limits.cpu.for " + limits.cpu().duration() + " is longer than spec.health.soak ("
                        + Durations.format(soak) + "): limits are watched through the soak only, so this one could never be reached;"
                        + " make the soak longer or `for` shorter");
            }
        }
        if (limits.restarts() != null) {
            if (limits.restarts() < 0) {
                throw new InvalidInputException("spec.limits.restarts must not be negative; got " + limits.restarts());
            }
            String restart = container == null || container.restart() == null ? "no" : container.restart();
            if (restart.equals("no")) {
                throw new InvalidInputException("spec.limits.restarts counts restarts by the container's restart policy, and"
                        + " spec.container.restart is 'no': set it to always, unless-stopped or on-failure (with 'no' the first"
                        + " exit already fails the check)");
            }
        }
    }

    private static void checkEnv(Map<String, String> env) {
        if (env == null) {
            return;
        }
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (e.getKey() == null || e.getKey().isEmpty() || e.getKey().contains("=")) {
                throw new InvalidInputException("spec.container.env name '" + e.getKey() + "' must be non-empty and without '='");
            }
            if (e.getValue() == null) {
                throw new InvalidInputException("spec.container.env." + e.getKey() + " must have a value (\"\" for an empty one)");
            }
        }
    }

    private static void checkPorts(List<String> ports) {
        if (ports == null) {
            return;
        }
        for (int i = 0; i < ports.size(); i++) {
            Matcher m = PORT.matcher(ports.get(i).trim());
            boolean valid = m.matches() && port(m.group(3)) && (m.group(2) == null || m.group(2).isEmpty() || port(m.group(2)));
            if (!valid) {
                throw new InvalidInputException("spec.container.ports[" + i + "] '" + ports.get(i)
                        + "' must be [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp|/sctp], e.g. 8080:80 or 127.0.0.1:8080:80");
            }
        }
    }

    private static boolean port(String digits) {
        return digits.length() <= 5 && Integer.parseInt(digits) >= 1 && Integer.parseInt(digits) <= 65535;
    }

    /** Where the device mounts each app's update lock directory: no release may mount anything else there. */
    static final String UPDATE_LOCK_DIR = "/run/turnout";

    private static void checkVolumes(List<String> volumes) {
        if (volumes == null) {
            return;
        }
        for (int i = 0; i < volumes.size(); i++) {
            String field = "spec.container.volumes[" + i + "] '" + volumes.get(i) + "'";
            String[] parts = volumes.get(i).split(":", -1);
            if (parts.length < 2 || parts.length > 3) {
                throw new InvalidInputException(field + " must be SOURCE:TARGET or SOURCE:TARGET:OPTIONS");
            }
            if (!parts[0].startsWith("/") && !VOLUME_NAME.matcher(parts[0]).matches()) {
                throw new InvalidInputException(field + ": the source must be a host path starting with / (a bind mount)"
                        + " or a volume name of two or more letters, digits, '_', '.' or '-' (a named volume)");
            }
            if (!parts[1].startsWith("/") || parts[1].length() < 2) {
                throw new InvalidInputException(field + ": the target must be an absolute path inside the container");
            }
            if (parts[1].replaceAll("/+$", "").equals(UPDATE_LOCK_DIR)) {
                throw new InvalidInputException(field + ": " + UPDATE_LOCK_DIR + " is the app's update lock directory, which the"
                        + " device mounts itself (docs/edge-daemon.md); choose another target");
            }
            if (parts.length == 3) {
                for (String option : parts[2].split(",", -1)) {
                    if (!VOLUME_OPTIONS.contains(option)) {
                        throw new InvalidInputException(field + ": unknown option '" + option
                                + "'; known: ro, rw, nocopy, z, Z, private, rprivate, shared, rshared, slave, rslave");
                    }
                }
            }
        }
    }

    private static void checkDevices(List<String> devices) {
        if (devices == null) {
            return;
        }
        for (int i = 0; i < devices.size(); i++) {
            String[] parts = devices.get(i).split(":", -1);
            boolean valid = parts.length <= 3 && parts[0].startsWith("/")
                    && (parts.length < 2 || parts[1].startsWith("/"))
                    && (parts.length < 3 || parts[2].matches("[rwm]{1,3}"));
            if (!valid) {
                throw new InvalidInputException("spec.container.devices[" + i + "] '" + devices.get(i)
                        + "' must be HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]], e.g. /dev/ttyACM0 or /dev/ttyACM0:/dev/ttyACM0:rw");
            }
        }
    }

    private static void checkUser(String user) {
        if (user == null) {
            return;
        }
        String[] parts = user.split(":", -1);
        boolean valid = parts.length <= 2;
        for (String part : parts) {
            valid &= USER_PART.matcher(part).matches();
        }
        if (!valid) {
            throw new InvalidInputException("spec.container.user '" + user
                    + "' must be USER or USER:GROUP, each a name or a numeric id (e.g. 1000:1000 or trains:dialout)");
        }
    }

    private static void checkCapabilities(List<String> add, List<String> drop) {
        Set<String> added = capabilities(add, "spec.container.cap_add");
        Set<String> dropped = capabilities(drop, "spec.container.cap_drop");
        for (String capability : added) {
            if (dropped.contains(capability)) {
                throw new InvalidInputException("spec.container: " + capability + " is both in cap_add and cap_drop");
            }
        }
    }

    private static Set<String> capabilities(List<String> names, String field) {
        Set<String> seen = new HashSet<>();
        if (names == null) {
            return seen;
        }
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            String capability = name == null ? "" : capability(name);
            if (!capability.equals("ALL") && !CAPABILITIES.contains(capability)) {
                throw new InvalidInputException(field + "[" + i + "] '" + name + "' is not a Linux capability;"
                        + " write Docker's names such as SYS_RAWIO, NET_ADMIN (CAP_ prefix optional) or ALL");
            }
            seen.add(capability);
        }
        return seen;
    }

    private static void checkLogging(Logging logging) {
        if (logging == null) {
            return;
        }
        if (logging.driver() != null && !LOG_DRIVERS.contains(logging.driver())) {
            throw new InvalidInputException("spec.container.logging.driver '" + logging.driver()
                    + "' must be json-file or local: drivers whose files the engine rotates on the device");
        }
        if (logging.maxSize() != null && logging.maxSizeBytes() < 1) {
            throw new InvalidInputException("spec.container.logging.max_size must be more than 0");
        }
        if (logging.maxFile() != null && logging.maxFile() < 1) {
            throw new InvalidInputException("spec.container.logging.max_file must be at least 1; got " + logging.maxFile());
        }
    }

    private static void checkEntries(List<String> entries, String field) {
        if (entries == null) {
            return;
        }
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i) == null || entries.get(i).isBlank()) {
                throw new InvalidInputException(field + "[" + i + "] must be a non-empty string");
            }
        }
    }
}
