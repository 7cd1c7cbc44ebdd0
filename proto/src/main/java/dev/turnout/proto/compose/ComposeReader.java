package dev.turnout.proto.compose;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.turnout.proto.compose.ComposeFile.Condition;
import dev.turnout.proto.compose.ComposeFile.Healthcheck;
import dev.turnout.proto.compose.ComposeFile.Logging;
import dev.turnout.proto.compose.ComposeFile.Mount;
import dev.turnout.proto.compose.ComposeFile.Network;
import dev.turnout.proto.compose.ComposeFile.Service;
import dev.turnout.proto.compose.ComposeFile.Volume;

import java.io.IOException;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a Compose file in the subset Turnout runs (docs/compose.md) and checks it the way {@code docker compose
 * config} does: unknown {@code depends_on} targets, dependency cycles, a service without an image, undeclared
 * volumes and networks, bad durations, sizes, ports. A key outside the subset is refused with the file, the service
 * and the key named, never ignored. Used by the orchestrator when a release is made and by the edge daemon when it
 * applies one, so both judge a file alike.
 */
public final class ComposeReader {

    /** A key given twice is refused, as Compose does ("mapping key already defined"). */
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private static final String UNSUPPORTED = "not supported by Turnout (supported keys: docs/compose.md)";
    private static final Set<String> TOP_KEYS = Set.of("name", "version", "services", "volumes", "networks");
    private static final Set<String> SERVICE_KEYS = Set.of("image", "command", "entrypoint", "environment", "env_file",
            "ports", "volumes", "networks", "network_mode", "devices", "privileged", "cap_add", "cap_drop", "user",
            "working_dir", "restart", "healthcheck", "depends_on", "mem_limit", "cpus", "deploy", "logging", "labels");
    private static final Set<String> HEALTH_KEYS = Set.of("test", "interval", "timeout", "retries", "start_period",
            "start_interval", "disable");
    private static final Set<String> PORT_KEYS = Set.of("target", "published", "host_ip", "protocol", "mode");
    private static final Set<String> MOUNT_KEYS = Set.of("type", "source", "target", "read_only", "bind", "volume");
    private static final Set<String> DEPENDS_KEYS = Set.of("condition", "restart", "required");
    private static final Set<String> VOLUME_KEYS = Set.of("driver", "name", "labels");
    private static final Set<String> NETWORK_KEYS = Set.of("driver", "name", "internal", "labels");
    private static final Set<String> LOG_DRIVERS = Set.of("local", "json-file");
    private static final Set<String> VOLUME_OPTIONS = Set.of("ro", "rw", "z", "Z", "nocopy",
            "private", "rprivate", "shared", "rshared", "slave", "rslave");

    /** Linux capabilities by Docker's names (without "CAP_"), as of Linux 5.9; "ALL" is also accepted. */
    public static final Set<String> CAPABILITIES = Set.of(
            "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
            "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
            "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
            "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT",
            "SYSLOG", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
            "SYS_TTY_CONFIG", "WAKE_ALARM");

    /** Docker refuses a smaller memory limit. */
    private static final long MIN_MEMORY_BYTES = 6L * 1024 * 1024;

    private static final Pattern SERVICE_NAME = Pattern.compile("[a-zA-Z0-9][a-zA-Z0-9_.-]*");
    private static final Pattern RESOURCE_NAME = Pattern.compile("[a-zA-Z0-9][a-zA-Z0-9_.-]*");
    private static final Pattern IMAGE = Pattern.compile(
            "[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\\w][\\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?");
    private static final Pattern PORT = Pattern.compile(
            "(?:(\\d{1,3}(?:\\.\\d{1,3}){3}|\\[[0-9a-fA-F:]+\\]):)?(?:(\\d*(?:-\\d+)?):)?(\\d+(?:-\\d+)?)(?:/(tcp|udp|sctp))?");
    private static final Pattern USER_PART = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}");
    private static final Pattern DURATION_PART = Pattern.compile("(\\d+(?:\\.\\d+)?)(ns|us|µs|ms|s|m|h)");
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?) ?([bkmgt])?(?:i?b)?");
    private static final Pattern CPUS = Pattern.compile("\\d{1,4}(?:\\.\\d{1,9})?");
    private static final Pattern RESTART = Pattern.compile("no|always|unless-stopped|on-failure(?::\\d+)?");
    private static final Pattern ENV_NAME = Pattern.compile("[^=\\s]+");

    private final String file;
    private final Interpolation interpolation;
    private final Map<String, String> envFiles;

    private ComposeReader(String file, Map<String, String> variables, boolean defer, Map<String, String> envFiles) {
        this.file = file;
        this.interpolation = new Interpolation(variables, defer);
        this.envFiles = envFiles;
    }

    /**
     * Reads {@code yaml} as a device does: every {@code ${VAR}} takes its value from {@code variables} (unset: empty,
     * as in Compose; {@code ${VAR?err}} unset: refused).
     *
     * @param fileName  the file's name, for messages
     * @param envFiles  the contents of the files {@code env_file} names, by the name the Compose file gives
     */
    public static ComposeFile read(String fileName, String yaml, Map<String, String> variables, Map<String, String> envFiles)
            throws InvalidComposeException {
        return new ComposeReader(fileName, variables, false, envFiles).file(yaml);
    }

    /**
     * Reads {@code yaml} before a device's own variables are known (when a release is made): a value using a
     * variable {@code variables} does not set is left unchecked (null in the result), except an image name, which
     * must be known.
     */
    public static ComposeFile check(String fileName, String yaml, Map<String, String> variables, Map<String, String> envFiles)
            throws InvalidComposeException {
        return new ComposeReader(fileName, variables, true, envFiles).file(yaml);
    }

    /** The names of the files {@code env_file} entries name in {@code yaml}, so a caller can read them first. */
    public static List<String> envFileNames(String fileName, String yaml) throws InvalidComposeException {
        JsonNode root = new ComposeReader(fileName, Map.of(), true, Map.of()).tree(yaml);
        Set<String> names = new LinkedHashSet<>();
        root.path("services").forEach(service -> {
            JsonNode env = service.path("env_file");
            if (env.isTextual()) {
                names.add(env.asText());
            }
            env.forEach(e -> {
                if (e.isTextual()) {
                    names.add(e.asText());
                } else if (e.path("path").isTextual()) {
                    names.add(e.path("path").asText());
                }
            });
        });
        return List.copyOf(names);
    }

    /**
     * The {@code KEY=VALUE} lines of an env file (an {@code env_file} entry, or the {@code .env} beside a Compose file):
     * blank lines and {@code #} comments skipped, an {@code export } prefix and surrounding quotes dropped, a name
     * alone skipped (Compose would take it from the shell it runs in; a device has none).
     */
    public static Map<String, String> envFile(String name, String content) throws InvalidComposeException {
        Map<String, String> env = new LinkedHashMap<>();
        String[] lines = content.split("\r?\n", -1);
        for (int n = 0; n < lines.length; n++) {
            String line = lines[n].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            if (line.startsWith("export ")) {
                line = line.substring("export ".length()).strip();
            }
            int eq = line.indexOf('=');
            String key = eq < 0 ? line : line.substring(0, eq).strip();
            if (!ENV_NAME.matcher(key).matches()) {
                throw new InvalidComposeException("env file '" + name + "' line " + (n + 1) + ": '" + key + "' is not a variable name");
            }
            if (eq < 0) {
                continue;
            }
            String value = line.substring(eq + 1).strip();
            if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"") || value.startsWith("'") && value.endsWith("'"))) {
                value = value.substring(1, value.length() - 1);
            }
            env.put(key, value);
        }
        return env;
    }

    // ---- the file ----

    private JsonNode tree(String yaml) throws InvalidComposeException {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            String line = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")";
            // the parser's message spans lines (with a caret drawing); one line reads better in a CLI error and a log
            throw new InvalidComposeException(file + ": not valid YAML: " + e.getOriginalMessage().strip()
                    .replaceAll("\\s*\\n\\s*", " ") + line);
        } catch (IOException e) {
            throw new InvalidComposeException(file + ": cannot be read: " + e.getMessage());
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            throw new InvalidComposeException(file + ": empty; a Compose file needs `services:`");
        }
        if (!root.isObject()) {
            throw new InvalidComposeException(file + ": expected a mapping with `services:` at the top");
        }
        return root;
    }

    private ComposeFile file(String yaml) throws InvalidComposeException {
        JsonNode root = tree(yaml);
        keys(root, "", TOP_KEYS, true);
        if (root.has("name")) {
            String name = text(root.get("name"), "name");
            if (name != null && !name.matches("[a-z0-9][a-z0-9_-]*")) {
                throw fail("name", "'" + name + "' must be lower-case letters, digits, '_' or '-', starting with a letter or digit");
            }
        }
        Map<String, Volume> volumes = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : fields(root.get("volumes"), "volumes")) {
            volumes.put(resourceName(e.getKey(), "volumes"), volume(e.getValue(), "volumes." + e.getKey()));
        }
        Map<String, Network> networks = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : fields(root.get("networks"), "networks")) {
            networks.put(resourceName(e.getKey(), "networks"), network(e.getValue(), "networks." + e.getKey()));
        }
        JsonNode services = root.get("services");
        if (services == null || services.isNull() || services.isEmpty()) {
            throw fail("services", "a Compose file needs at least one service");
        }
        Map<String, Service> byName = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : fields(services, "services")) {
            if (!SERVICE_NAME.matcher(e.getKey()).matches()) {
                throw fail("services." + e.getKey(), "a service name must be letters, digits, '_', '.' or '-', starting with a letter or digit");
            }
            byName.put(e.getKey(), service(e.getKey(), e.getValue(), volumes, networks));
        }
        checkDependencies(byName);
        return new ComposeFile(file, byName, volumes, networks);
    }

    private Volume volume(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return new Volume(null, Map.of());
        }
        keys(node, path, VOLUME_KEYS, false);
        String driver = node.has("driver") ? text(node.get("driver"), path + ".driver") : null;
        if (driver != null && !driver.equals("local")) {
            throw fail(path + ".driver", "'" + driver + "': only the engine's `local` driver is supported");
        }
        String name = node.has("name") ? text(node.get("name"), path + ".name") : null;
        return new Volume(name, labels(node.get("labels"), path + ".labels"));
    }

    private Network network(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return new Network(null, false, Map.of());
        }
        keys(node, path, NETWORK_KEYS, false);
        String driver = node.has("driver") ? text(node.get("driver"), path + ".driver") : null;
        if (driver != null && !driver.equals("bridge")) {
            throw fail(path + ".driver", "'" + driver + "': only the `bridge` driver is supported");
        }
        String name = node.has("name") ? text(node.get("name"), path + ".name") : null;
        return new Network(name, bool(node.get("internal"), path + ".internal"), labels(node.get("labels"), path + ".labels"));
    }

    // ---- one service ----

    private Service service(String name, JsonNode node, Map<String, Volume> volumes, Map<String, Network> networks)
            throws InvalidComposeException {
        String path = "services." + name;
        if (node == null || !node.isObject()) {
            throw fail(path, "must be a mapping with at least `image:`");
        }
        keys(node, path, SERVICE_KEYS, true);
        if (!node.has("image")) {
            throw fail(path, "has no `image`; Turnout runs images from the release's archives (`build` is not supported)");
        }
        String image = image(node.get("image"), path + ".image");
        List<String> command = commandLine(node.get("command"), path + ".command");
        List<String> entrypoint = commandLine(node.get("entrypoint"), path + ".entrypoint");
        Map<String, String> environment = new LinkedHashMap<>(envFileContents(node.get("env_file"), path + ".env_file"));
        environment.putAll(keyValues(node.get("environment"), path + ".environment", true));
        List<String> ports = ports(node.get("ports"), path + ".ports");
        List<Mount> mounts = mounts(node.get("volumes"), path + ".volumes", volumes);
        List<String> serviceNetworks = serviceNetworks(node.get("networks"), path + ".networks", networks);
        String networkMode = node.has("network_mode") ? text(node.get("network_mode"), path + ".network_mode") : null;
        if (networkMode != null) {
            if (!serviceNetworks.isEmpty()) {
                throw fail(path, "declares both `network_mode` and `networks`; they are mutually exclusive");
            }
            boolean known = Set.of("host", "none", "bridge").contains(networkMode) || networkMode.startsWith("service:");
            if (!known) {
                throw fail(path + ".network_mode", "'" + networkMode + "' must be host, none, bridge or service:NAME");
            }
        }
        List<String> devices = strings(node.get("devices"), path + ".devices");
        for (int i = 0; i < devices.size(); i++) {
            String d = devices.get(i);
            if (d == null) {
                continue;
            }
            String[] parts = d.split(":", -1);
            boolean valid = parts.length <= 3 && parts[0].startsWith("/") && (parts.length < 2 || parts[1].startsWith("/"))
                    && (parts.length < 3 || parts[2].matches("[rwm]{1,3}"));
            if (!valid) {
                throw fail(path + ".devices[" + i + "]", "'" + d + "' must be HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]], e.g. /dev/gpiomem");
            }
        }
        boolean privileged = bool(node.get("privileged"), path + ".privileged");
        List<String> capAdd = capabilities(node.get("cap_add"), path + ".cap_add");
        List<String> capDrop = capabilities(node.get("cap_drop"), path + ".cap_drop");
        for (String c : capAdd) {
            if (c != null && capDrop.contains(c)) {
                throw fail(path, c + " is both in cap_add and cap_drop");
            }
        }
        String user = node.has("user") ? text(node.get("user"), path + ".user") : null;
        if (user != null) {
            String[] parts = user.split(":", -1);
            boolean valid = parts.length <= 2;
            for (String part : parts) {
                valid &= USER_PART.matcher(part).matches();
            }
            if (!valid) {
                throw fail(path + ".user", "'" + user + "' must be USER or USER:GROUP, each a name or a numeric id");
            }
        }
        String workingDir = node.has("working_dir") ? text(node.get("working_dir"), path + ".working_dir") : null;
        if (workingDir != null && !workingDir.startsWith("/")) {
            throw fail(path + ".working_dir", "'" + workingDir + "' must be an absolute path in the container");
        }
        String restart = restart(node.get("restart"), path + ".restart");
        Healthcheck health = healthcheck(node.get("healthcheck"), path + ".healthcheck");
        Map<String, Condition> dependsOn = dependsOn(node.get("depends_on"), path + ".depends_on");
        long memory = node.has("mem_limit") ? memory(node.get("mem_limit"), path + ".mem_limit") : 0;
        long cpus = node.has("cpus") ? cpus(node.get("cpus"), path + ".cpus") : 0;
        JsonNode deploy = node.get("deploy");
        if (deploy != null && !deploy.isNull()) {
            keys(deploy, path + ".deploy", Set.of("resources"), false);
            JsonNode resources = deploy.path("resources");
            if (!resources.isMissingNode() && !resources.isNull()) {
                keys(resources, path + ".deploy.resources", Set.of("limits"), false);
                JsonNode limits = resources.path("limits");
                if (!limits.isMissingNode() && !limits.isNull()) {
                    keys(limits, path + ".deploy.resources.limits", Set.of("cpus", "memory"), false);
                    if (limits.has("memory")) {
                        long m = memory(limits.get("memory"), path + ".deploy.resources.limits.memory");
                        if (node.has("mem_limit") && m != memory) {
                            throw fail(path, "mem_limit and deploy.resources.limits.memory must be equal if both are set");
                        }
                        memory = m;
                    }
                    if (limits.has("cpus")) {
                        long c = cpus(limits.get("cpus"), path + ".deploy.resources.limits.cpus");
                        if (node.has("cpus") && c != cpus) {
                            throw fail(path, "cpus and deploy.resources.limits.cpus must be equal if both are set");
                        }
                        cpus = c;
                    }
                }
            }
        }
        Logging logging = logging(node.get("logging"), path + ".logging");
        Map<String, String> labels = labels(node.get("labels"), path + ".labels");
        return new Service(name, image, command, entrypoint, environment, ports, mounts, serviceNetworks, networkMode, devices,
                privileged, capAdd, capDrop, user, workingDir, restart, health, dependsOn, memory, cpus, logging, labels);
    }

    private String image(JsonNode node, String path) throws InvalidComposeException {
        String image;
        try {
            image = interpolation.apply(scalar(node, path));
        } catch (Interpolation.Failure e) {
            throw fail(path, e.getMessage());
        } catch (Interpolation.Deferred e) {
            throw fail(path, "uses ${" + e.variable + "}, which is not set when the release is made;"
                    + " image names must be known then, so the release can carry their archives (set it in the release's"
                    + " variables: the .env beside the file, or --env)");
        }
        if (image.isEmpty() || !IMAGE.matcher(image).matches()) {
            throw fail(path, "'" + image + "' is not an image reference such as trains/controller:1.4.2");
        }
        return image;
    }

    private List<String> commandLine(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isArray()) {
            return strings(node, path);
        }
        String line = text(node, path);
        return line == null ? null : ShellWords.split(line, file + ": " + path);
    }

    private Map<String, String> envFileContents(JsonNode node, String path) throws InvalidComposeException {
        Map<String, String> env = new LinkedHashMap<>();
        if (node == null || node.isNull()) {
            return env;
        }
        List<JsonNode> entries = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(entries::add);
        } else {
            entries.add(node);
        }
        for (int i = 0; i < entries.size(); i++) {
            JsonNode entry = entries.get(i);
            String at = node.isArray() ? path + "[" + i + "]" : path;
            boolean required = true;
            String name;
            if (entry.isObject()) {
                keys(entry, at, Set.of("path", "required"), false);
                name = scalar(entry.get("path"), at + ".path");
                required = !entry.has("required") || bool(entry.get("required"), at + ".required");
            } else {
                name = scalar(entry, at);
            }
            String content = envFiles.get(name);
            if (content == null) {
                if (!required) {
                    continue;
                }
                throw fail(at, "env file '" + name + "' was not found");
            }
            try {
                env.putAll(envFile(name, content));
            } catch (InvalidComposeException e) {
                throw fail(at, e.getMessage());
            }
        }
        return env;
    }

    private List<String> ports(JsonNode node, String path) throws InvalidComposeException {
        List<String> ports = new ArrayList<>();
        for (int i = 0; node != null && !node.isNull() && i < list(node, path).size(); i++) {
            JsonNode entry = node.get(i);
            String at = path + "[" + i + "]";
            String spec;
            if (entry.isObject()) {
                keys(entry, at, PORT_KEYS, false);
                if (!entry.has("target")) {
                    throw fail(at, "needs `target`, the container port");
                }
                String target = text(entry.get("target"), at + ".target");
                String published = entry.has("published") ? text(entry.get("published"), at + ".published") : null;
                String hostIp = entry.has("host_ip") ? text(entry.get("host_ip"), at + ".host_ip") : null;
                String protocol = entry.has("protocol") ? text(entry.get("protocol"), at + ".protocol") : null;
                String mode = entry.has("mode") ? text(entry.get("mode"), at + ".mode") : null;
                if (mode != null && !mode.equals("host")) {
                    throw fail(at + ".mode", "'" + mode + "': only `host` (ingress needs a swarm)");
                }
                if (target == null || entry.has("published") && published == null || entry.has("host_ip") && hostIp == null
                        || entry.has("protocol") && protocol == null) {
                    ports.add(null);
                    continue;
                }
                spec = (hostIp == null ? "" : hostIp + ":") + (published == null ? (hostIp == null ? "" : ":") : published + ":")
                        + target + (protocol == null ? "" : "/" + protocol);
            } else {
                spec = text(entry, at);
                if (spec == null) {
                    ports.add(null);
                    continue;
                }
            }
            Matcher m = PORT.matcher(spec);
            if (!m.matches() || !portRange(m.group(3)) || m.group(2) != null && !m.group(2).isEmpty() && !portRange(m.group(2))
                    || m.group(2) != null && !m.group(2).isEmpty() && width(m.group(2)) != width(m.group(3)) && width(m.group(2)) != 1) {
                throw fail(at, "'" + spec + "' must be [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp|sctp] with ports 1-65535"
                        + " (ranges of equal length), e.g. \"8080:80\"");
            }
            ports.add(spec);
        }
        return ports;
    }

    private static boolean portRange(String text) {
        String[] ends = text.split("-");
        for (String end : ends) {
            if (end.isEmpty() || end.length() > 5 || Integer.parseInt(end) < 1 || Integer.parseInt(end) > 65535) {
                return false;
            }
        }
        return ends.length == 1 || Integer.parseInt(ends[0]) <= Integer.parseInt(ends[1]);
    }

    private static int width(String range) {
        String[] ends = range.split("-");
        return ends.length == 1 ? 1 : Integer.parseInt(ends[1]) - Integer.parseInt(ends[0]) + 1;
    }

    private List<Mount> mounts(JsonNode node, String path, Map<String, Volume> volumes) throws InvalidComposeException {
        List<Mount> mounts = new ArrayList<>();
        if (node == null || node.isNull()) {
            return mounts;
        }
        list(node, path);
        for (int i = 0; i < node.size(); i++) {
            JsonNode entry = node.get(i);
            String at = path + "[" + i + "]";
            Mount mount;
            if (entry.isObject()) {
                keys(entry, at, MOUNT_KEYS, false);
                String type = text(entry.get("type"), at + ".type");
                if (type == null && !entry.has("type")) {
                    throw fail(at, "needs `type`: bind or volume");
                }
                if (type != null && !type.equals("bind") && !type.equals("volume")) {
                    throw fail(at + ".type", "'" + type + "': only bind and volume are supported");
                }
                String source = entry.has("source") ? text(entry.get("source"), at + ".source") : null;
                String target = entry.has("target") ? text(entry.get("target"), at + ".target") : null;
                if (!entry.has("source") || !entry.has("target")) {
                    throw fail(at, "needs `source` and `target`");
                }
                if (entry.has("bind")) {
                    keys(entry.get("bind"), at + ".bind", Set.of("create_host_path", "propagation", "selinux"), false);
                }
                if (entry.has("volume")) {
                    keys(entry.get("volume"), at + ".volume", Set.of("nocopy"), false);
                }
                mount = new Mount(type, source, target, bool(entry.get("read_only"), at + ".read_only"));
            } else {
                String spec = text(entry, at);
                if (spec == null) {
                    mounts.add(null);
                    continue;
                }
                String[] parts = spec.split(":", -1);
                if (parts.length < 2 || parts.length > 3) {
                    throw fail(at, "'" + spec + "' must be SOURCE:TARGET[:OPTIONS]; an anonymous volume (TARGET alone) is not supported");
                }
                boolean readOnly = false;
                if (parts.length == 3) {
                    for (String option : parts[2].split(",", -1)) {
                        if (!VOLUME_OPTIONS.contains(option)) {
                            throw fail(at, "'" + spec + "': unknown option '" + option + "'; known: " + String.join(", ", new java.util.TreeSet<>(VOLUME_OPTIONS)));
                        }
                        readOnly |= option.equals("ro");
                    }
                }
                String type = parts[0].startsWith("/") || parts[0].startsWith(".") || parts[0].startsWith("~") ? "bind" : "volume";
                mount = new Mount(type, parts[0], parts[1], readOnly);
            }
            if (mount.type() != null && mount.source() != null) {
                if (mount.type().equals("bind") && !mount.source().startsWith("/")) {
                    throw fail(at, "bind source '" + mount.source() + "' must be an absolute path on the device;"
                            + " a path relative to the Compose file means nothing there");
                }
                if (mount.type().equals("volume") && !volumes.containsKey(mount.source())) {
                    throw fail(at, "refers to undefined volume " + mount.source() + "; declare it under the top-level `volumes:`");
                }
            }
            if (mount.target() != null && (!mount.target().startsWith("/") || mount.target().length() < 2)) {
                throw fail(at, "target '" + mount.target() + "' must be an absolute path in the container");
            }
            mounts.add(mount);
        }
        return mounts;
    }

    private List<String> serviceNetworks(JsonNode node, String path, Map<String, Network> networks) throws InvalidComposeException {
        List<String> names = new ArrayList<>();
        if (node == null || node.isNull()) {
            return names;
        }
        if (node.isArray()) {
            names.addAll(strings(node, path));
        } else if (node.isObject()) {
            for (Map.Entry<String, JsonNode> e : fields(node, path)) {
                if (e.getValue() != null && !e.getValue().isNull()) {
                    keys(e.getValue(), path + "." + e.getKey(), Set.of("aliases"), false);
                    strings(e.getValue().get("aliases"), path + "." + e.getKey() + ".aliases");
                }
                names.add(e.getKey());
            }
        } else {
            throw fail(path, "must be a list of network names or a mapping");
        }
        for (String name : names) {
            if (name != null && !networks.containsKey(name) && !name.equals("default")) {
                throw fail(path, "refers to undefined network " + name + "; declare it under the top-level `networks:`");
            }
        }
        return names;
    }

    private List<String> capabilities(JsonNode node, String path) throws InvalidComposeException {
        List<String> names = strings(node, path);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            if (name == null) {
                out.add(null);
                continue;
            }
            String upper = name.trim().toUpperCase(Locale.ROOT);
            String capability = upper.startsWith("CAP_") ? upper.substring(4) : upper;
            if (!capability.equals("ALL") && !CAPABILITIES.contains(capability)) {
                throw fail(path + "[" + i + "]", "'" + name + "' is not a Linux capability; write Docker's names such as SYS_RAWIO or ALL");
            }
            out.add(capability);
        }
        return out;
    }

    private String restart(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isBoolean() && !node.asBoolean()) {
            return "no"; // YAML 1.1 reads an unquoted `no` as false
        }
        String restart = text(node, path);
        if (restart != null && !RESTART.matcher(restart).matches()) {
            throw fail(path, "'" + restart + "' must be no, always, unless-stopped or on-failure[:MAX_RETRIES]");
        }
        return restart;
    }

    private Healthcheck healthcheck(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return null;
        }
        keys(node, path, HEALTH_KEYS, false);
        boolean disabled = bool(node.get("disable"), path + ".disable");
        List<String> test = null;
        JsonNode t = node.get("test");
        if (t != null && !t.isNull()) {
            if (t.isArray()) {
                test = strings(t, path + ".test");
                if (test.isEmpty() || !Set.of("CMD", "CMD-SHELL", "NONE").contains(test.get(0))) {
                    throw fail(path + ".test", "a list must start with CMD, CMD-SHELL or NONE");
                }
                if (!test.get(0).equals("NONE") && test.size() < 2) {
                    throw fail(path + ".test", test.get(0) + " needs a command after it");
                }
                disabled |= test.get(0).equals("NONE");
            } else {
                String line = text(t, path + ".test");
                test = line == null ? null : List.of("CMD-SHELL", line);
            }
        }
        if (disabled && node.size() > (node.has("disable") ? 1 : 0) + (node.has("test") ? 1 : 0)) {
            // Compose ignores the rest of a disabled healthcheck; so do we, but only the test and disable may be set
            throw fail(path, "a disabled healthcheck takes no interval, timeout, retries or start period");
        }
        Integer retries = null;
        if (node.has("retries")) {
            String r = text(node.get("retries"), path + ".retries");
            if (r != null) {
                if (!r.matches("\\d{1,6}")) {
                    throw fail(path + ".retries", "'" + r + "' must be a whole number, 0 or more");
                }
                retries = Integer.parseInt(r);
            }
        }
        return new Healthcheck(test, duration(node.get("interval"), path + ".interval"), duration(node.get("timeout"), path + ".timeout"),
                duration(node.get("start_period"), path + ".start_period"), duration(node.get("start_interval"), path + ".start_interval"),
                retries, disabled);
    }

    private Map<String, Condition> dependsOn(JsonNode node, String path) throws InvalidComposeException {
        Map<String, Condition> dependsOn = new LinkedHashMap<>();
        if (node == null || node.isNull()) {
            return dependsOn;
        }
        if (node.isArray()) {
            for (String name : strings(node, path)) {
                dependsOn.put(name, Condition.SERVICE_STARTED);
            }
            return dependsOn;
        }
        for (Map.Entry<String, JsonNode> e : fields(node, path)) {
            String at = path + "." + e.getKey();
            JsonNode dep = e.getValue();
            Condition condition = Condition.SERVICE_STARTED;
            if (dep != null && !dep.isNull()) {
                keys(dep, at, DEPENDS_KEYS, false);
                if (dep.has("required") && !bool(dep.get("required"), at + ".required")) {
                    throw fail(at + ".required", "false (an optional dependency) is not supported: every service of a release runs");
                }
                bool(dep.get("restart"), at + ".restart");
                String c = dep.has("condition") ? text(dep.get("condition"), at + ".condition") : null;
                if (c != null) {
                    condition = switch (c) {
                        case "service_started" -> Condition.SERVICE_STARTED;
                        case "service_healthy" -> Condition.SERVICE_HEALTHY;
                        case "service_completed_successfully" -> Condition.SERVICE_COMPLETED_SUCCESSFULLY;
                        default -> throw fail(at + ".condition", "'" + c
                                + "' must be service_started, service_healthy or service_completed_successfully");
                    };
                }
            }
            dependsOn.put(e.getKey(), condition);
        }
        return dependsOn;
    }

    private Logging logging(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return null;
        }
        keys(node, path, Set.of("driver", "options"), false);
        String driver = node.has("driver") ? text(node.get("driver"), path + ".driver") : null;
        if (driver != null && !LOG_DRIVERS.contains(driver)) {
            throw fail(path + ".driver", "'" + driver + "' must be local or json-file: drivers whose files the engine rotates on the device");
        }
        long maxSize = 0;
        int maxFile = 0;
        JsonNode options = node.get("options");
        if (options != null && !options.isNull()) {
            keys(options, path + ".options", Set.of("max-size", "max-file"), false);
            if (options.has("max-size")) {
                String s = text(options.get("max-size"), path + ".options.max-size");
                if (s != null) {
                    maxSize = size(s, 1000, path + ".options.max-size");
                    if (maxSize < 1) {
                        throw fail(path + ".options.max-size", "must be more than 0");
                    }
                }
            }
            if (options.has("max-file")) {
                String f = text(options.get("max-file"), path + ".options.max-file");
                if (f != null) {
                    if (!f.matches("\\d{1,4}") || Integer.parseInt(f) < 1) {
                        throw fail(path + ".options.max-file", "'" + f + "' must be a whole number, at least 1");
                    }
                    maxFile = Integer.parseInt(f);
                }
            }
        }
        return new Logging(driver, maxSize, maxFile);
    }

    // ---- the whole app ----

    private void checkDependencies(Map<String, Service> services) throws InvalidComposeException {
        for (Service s : services.values()) {
            for (String dependency : s.dependsOn().keySet()) {
                if (dependency == null) {
                    continue;
                }
                if (!services.containsKey(dependency)) {
                    throw fail("services." + s.name() + ".depends_on", "depends on undefined service " + dependency);
                }
                if (dependency.equals(s.name())) {
                    throw fail("services." + s.name() + ".depends_on", "a service cannot depend on itself");
                }
            }
            if (s.networkMode() != null && s.networkMode().startsWith("service:")) {
                String target = s.networkMode().substring("service:".length());
                if (!services.containsKey(target)) {
                    throw fail("services." + s.name() + ".network_mode", "refers to undefined service " + target);
                }
            }
        }
        Map<String, Integer> state = new LinkedHashMap<>(); // 1: on the path, 2: done
        for (String name : services.keySet()) {
            List<String> cycle = cycle(name, services, state, new ArrayList<>());
            if (cycle != null) {
                throw new InvalidComposeException(file + ": dependency cycle detected: " + String.join(" -> ", cycle));
            }
        }
    }

    private static List<String> cycle(String name, Map<String, Service> services, Map<String, Integer> state, List<String> path) {
        Integer s = state.get(name);
        if (s != null && s == 2) {
            return null;
        }
        if (s != null) {
            List<String> cycle = new ArrayList<>(path.subList(path.indexOf(name), path.size()));
            cycle.add(name);
            return cycle;
        }
        state.put(name, 1);
        path.add(name);
        for (String dependency : services.get(name).dependsOn().keySet()) {
            List<String> found = cycle(dependency, services, state, path);
            if (found != null) {
                return found;
            }
        }
        path.remove(path.size() - 1);
        state.put(name, 2);
        return null;
    }

    // ---- values ----

    private long memory(JsonNode node, String path) throws InvalidComposeException {
        String text = text(node, path);
        if (text == null) {
            return 0;
        }
        long bytes = size(text, 1024, path);
        if (bytes < MIN_MEMORY_BYTES) {
            throw fail(path, "'" + text + "' is below Docker's minimum of 6m");
        }
        return bytes;
    }

    private long cpus(JsonNode node, String path) throws InvalidComposeException {
        String text = text(node, path);
        if (text == null) {
            return 0;
        }
        if (!CPUS.matcher(text.trim()).matches()) {
            throw fail(path, "'" + text + "' must be a number of CPUs such as 0.5, 1 or 1.5");
        }
        long nano = new BigDecimal(text.trim()).movePointRight(9).longValueExact();
        if (nano <= 0) {
            throw fail(path, "must be more than 0; leave it out for no limit");
        }
        return nano;
    }

    private long size(String text, long base, String path) throws InvalidComposeException {
        Matcher m = SIZE.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw fail(path, "'" + text + "' is not a size such as 512k, 256m or 1g");
        }
        int power = m.group(2) == null || m.group(2).equals("b") ? 0 : "kmgt".indexOf(m.group(2)) + 1;
        BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(base).pow(power));
        if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw fail(path, "'" + text + "' is too large");
        }
        return bytes.longValue();
    }

    /** A Go duration as Compose reads it: {@code 1m30s}, {@code 500ms}, {@code 1.5s}, {@code 2h}. */
    private Duration duration(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return null;
        }
        String text = text(node, path);
        if (text == null) {
            return null;
        }
        String s = text.trim();
        Matcher m = DURATION_PART.matcher(s);
        int at = 0;
        BigDecimal nanos = BigDecimal.ZERO;
        while (at < s.length()) {
            if (!m.find(at) || m.start() != at) {
                throw fail(path, "'" + text + "' is not a duration such as 500ms, 10s, 1m30s or 2h");
            }
            long unit = switch (m.group(2)) {
                case "ns" -> 1L;
                case "us", "µs" -> 1_000L;
                case "ms" -> 1_000_000L;
                case "s" -> 1_000_000_000L;
                case "m" -> 60_000_000_000L;
                default -> 3_600_000_000_000L;
            };
            nanos = nanos.add(new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(unit)));
            at = m.end();
        }
        if (s.isEmpty()) {
            throw fail(path, "'' is not a duration such as 500ms, 10s, 1m30s or 2h");
        }
        return Duration.ofNanos(nanos.longValue());
    }

    private Map<String, String> labels(JsonNode node, String path) throws InvalidComposeException {
        return keyValues(node, path, false);
    }

    /** A list of {@code KEY=VALUE} or a mapping; with {@code nameOnly}, a list entry {@code KEY} alone is allowed. */
    private Map<String, String> keyValues(JsonNode node, String path, boolean environment) throws InvalidComposeException {
        Map<String, String> out = new LinkedHashMap<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                String entry = text(node.get(i), path + "[" + i + "]");
                if (entry == null) {
                    continue;
                }
                int eq = entry.indexOf('=');
                String key = eq < 0 ? entry : entry.substring(0, eq);
                if (key.isEmpty() || !ENV_NAME.matcher(key).matches()) {
                    throw fail(path + "[" + i + "]", "'" + entry + "' must be KEY=VALUE");
                }
                if (eq < 0) {
                    if (!environment) {
                        out.put(key, "");
                    }
                    continue; // Compose takes a name alone from the shell it runs in; a device has none
                }
                out.put(key, entry.substring(eq + 1));
            }
            return out;
        }
        for (Map.Entry<String, JsonNode> e : fields(node, path)) {
            if (!ENV_NAME.matcher(e.getKey()).matches()) {
                throw fail(path + "." + e.getKey(), "is not a valid name");
            }
            JsonNode value = e.getValue();
            if (value == null || value.isNull()) {
                if (!environment) {
                    out.put(e.getKey(), "");
                }
                continue;
            }
            String text = text(value, path + "." + e.getKey());
            if (text != null) {
                out.put(e.getKey(), text);
            }
        }
        return out;
    }

    private boolean bool(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            return false;
        }
        if (node.isBoolean()) {
            return node.asBoolean();
        }
        String text = text(node, path);
        if (text == null) {
            return false;
        }
        return switch (text) {
            case "true" -> true;
            case "false" -> false;
            default -> throw fail(path, "'" + text + "' must be true or false");
        };
    }

    private List<String> strings(JsonNode node, String path) throws InvalidComposeException {
        List<String> out = new ArrayList<>();
        if (node == null || node.isNull()) {
            return out;
        }
        list(node, path);
        for (int i = 0; i < node.size(); i++) {
            String s = text(node.get(i), path + "[" + i + "]");
            if (s != null && s.isEmpty()) {
                throw fail(path + "[" + i + "]", "must not be empty");
            }
            out.add(s);
        }
        return out;
    }

    private JsonNode list(JsonNode node, String path) throws InvalidComposeException {
        if (!node.isArray()) {
            throw fail(path, "must be a list");
        }
        return node;
    }

    /** A scalar, interpolated; null when it uses a variable left for the device. */
    private String text(JsonNode node, String path) throws InvalidComposeException {
        String raw = scalar(node, path);
        try {
            return interpolation.apply(raw);
        } catch (Interpolation.Failure e) {
            throw fail(path, e.getMessage());
        } catch (Interpolation.Deferred e) {
            return null;
        }
    }

    private String scalar(JsonNode node, String path) throws InvalidComposeException {
        if (node == null || node.isNull()) {
            throw fail(path, "must have a value");
        }
        if (!node.isValueNode()) {
            throw fail(path, "must be a " + (node.isArray() ? "single value, not a list" : "single value, not a mapping"));
        }
        return node.asText();
    }

    private List<Map.Entry<String, JsonNode>> fields(JsonNode node, String path) throws InvalidComposeException {
        List<Map.Entry<String, JsonNode>> out = new ArrayList<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (!node.isObject()) {
            throw fail(path, "must be a mapping");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }

    private String resourceName(String name, String section) throws InvalidComposeException {
        if (!RESOURCE_NAME.matcher(name).matches()) {
            throw fail(section + "." + name, "a name must be letters, digits, '_', '.' or '-', starting with a letter or digit");
        }
        return name;
    }

    /** Refuses any key of {@code node} not in {@code allowed}; {@code x-} extension keys pass where Compose allows them. */
    private void keys(JsonNode node, String path, Set<String> allowed, boolean extensions) throws InvalidComposeException {
        if (!node.isObject()) {
            throw fail(path.isEmpty() ? "(top)" : path, "must be a mapping");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (allowed.contains(key) || extensions && key.startsWith("x-")) {
                continue;
            }
            throw fail(path.isEmpty() ? key : path + "." + key, UNSUPPORTED);
        }
    }

    private InvalidComposeException fail(String path, String message) {
        return new InvalidComposeException(file + ": " + path + ": " + message);
    }
}
