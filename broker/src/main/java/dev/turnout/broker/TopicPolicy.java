package dev.turnout.broker;

import dev.turnout.proto.Topics;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The topic rules of every Turnout identity, deny by default:
 * <ul>
 *   <li>a device publishes only {@code {prefix}/devices/{itself}/status|health|presence} and
 *       {@code {prefix}/devices/{itself}/logs/response} (its answers to log requests), retained only on presence,
 *       and subscribes only to {@code {prefix}/devices/{itself}/desired} and {@code .../logs/request};</li>
 *   <li>the orchestrator publishes and subscribes anywhere under {@code {prefix}/};</li>
 *   <li>a monitor subscribes to status, health, presence (any device) and rollout events and
 *       publishes nothing: neither log requests nor log answers are its to read.</li>
 * </ul>
 * Topics outside the prefix are denied to every Turnout identity. {@link #mayPublish} and {@link #maySubscribe}
 * state the rules; {@link #grants} gives the same rules as topic filters for a broker to check itself.
 */
public final class TopicPolicy {

    private static final List<String> DEVICE_REPORTS = List.of("status", "health", "presence");
    /** What a device publishes besides its reports: its answers to log requests (never retained). */
    private static final List<String> DEVICE_PUBLISHES = List.of("status", "health", "presence", Topics.LOG_RESPONSE);
    /** What a device reads, each of its own only. */
    private static final List<String> DEVICE_READS = List.of("desired", Topics.LOG_REQUEST);
    /** What a device may retain: its presence (also its will). */
    private static final String DEVICE_RETAINS = "presence";

    private final Topics topics;
    private final String prefix;

    public TopicPolicy(Topics topics) {
        this.topics = Objects.requireNonNull(topics, "topics");
        this.prefix = topics.prefix();
    }

    public Topics topics() {
        return topics;
    }

    /** Whether {@code user} in {@code role} may publish to {@code topic} (a topic name, no wildcards). */
    public boolean mayPublish(Role role, String user, String topic, boolean retained) {
        if (role == null || user == null || topic == null || !Topics.isValidId(user)
                || topic.contains("+") || topic.contains("#") || topic.indexOf('\0') >= 0) {
            return false;
        }
        switch (role) {
            case ORCHESTRATOR:
                return topic.startsWith(prefix + "/");
            case DEVICE:
                String own = prefix + "/devices/" + user + "/";
                if (!topic.startsWith(own)) {
                    return false;
                }
                String kind = topic.substring(own.length());
                if (!DEVICE_PUBLISHES.contains(kind)) {
                    return false;
                }
                return !retained || kind.equals(DEVICE_RETAINS);
            case MONITOR:
            default:
                return false;
        }
    }

    /** Whether {@code user} in {@code role} may subscribe to {@code filter} (wildcards allowed). */
    public boolean maySubscribe(Role role, String user, String filter) {
        if (role == null || user == null || filter == null || !Topics.isValidId(user) || filter.indexOf('\0') >= 0) {
            return false;
        }
        String f = withoutSharePrefix(filter);
        if (f == null || !validFilter(f)) {
            return false;
        }
        switch (role) {
            case ORCHESTRATOR:
                return covers(prefix + "/#", f);
            case DEVICE:
                for (String kind : DEVICE_READS) {
                    if (f.equals(prefix + "/devices/" + user + "/" + kind)) {
                        return true;
                    }
                }
                return false;
            case MONITOR:
                for (String kind : DEVICE_REPORTS) {
                    if (covers(prefix + "/devices/+/" + kind, f)) {
                        return true;
                    }
                }
                return covers(prefix + "/rollouts/+/events", f);
            default:
                return false;
        }
    }

    /**
     * The rules of {@code user} in {@code role} as topic filters, first match wins, nothing matched denied: what
     * {@link #mayPublish} and {@link #maySubscribe} say, for a broker that checks them itself on every PUBLISH and
     * SUBSCRIBE (HiveMQ's default permissions, set once at connect). Empty (deny everything) for an invalid user.
     *
     * <p>HiveMQ compares a filter without wildcards with the topic after stripping the topic's trailing {@code /}s,
     * so {@code .../status/} would pass as {@code .../status}; a device's exact grants are therefore preceded by
     * denials of every deeper topic under its own ({@code own/+/+/+/#}, then {@code own/+/+} after its two-level
     * grants), which wildcards match level by level without stripping.
     */
    public List<TopicGrant> grants(Role role, String user) {
        if (role == null || user == null || !Topics.isValidId(user)) {
            return List.of();
        }
        switch (role) {
            case ORCHESTRATOR:
                // mayPublish: anything strictly under the prefix ("prefix/+/#" matches prefix/x and deeper, not prefix)
                return List.of(TopicGrant.allow(prefix + "/+/#", TopicGrant.Action.PUBLISH, TopicGrant.Retain.ANY),
                        TopicGrant.allow(prefix + "/#", TopicGrant.Action.SUBSCRIBE, TopicGrant.Retain.ANY));
            case DEVICE:
                return deviceGrants(prefix + "/devices/" + user);
            case MONITOR:
                List<TopicGrant> reads = new ArrayList<>();
                for (String kind : DEVICE_REPORTS) {
                    reads.add(TopicGrant.allow(prefix + "/devices/+/" + kind, TopicGrant.Action.SUBSCRIBE, TopicGrant.Retain.ANY));
                }
                reads.add(TopicGrant.allow(prefix + "/rollouts/+/events", TopicGrant.Action.SUBSCRIBE, TopicGrant.Retain.ANY));
                return List.copyOf(reads);
            default:
                return List.of();
        }
    }

    /** A device's own topics, deepest first, each depth's exact grants followed by a denial of that depth's rest. */
    private static List<TopicGrant> deviceGrants(String own) {
        int deepest = 0;
        for (String kind : concat(DEVICE_PUBLISHES, DEVICE_READS)) {
            deepest = Math.max(deepest, levels(kind));
        }
        List<TopicGrant> grants = new ArrayList<>();
        grants.add(TopicGrant.deny(own + "/+".repeat(deepest + 1) + "/#"));
        for (int depth = deepest; depth >= 1; depth--) {
            for (String kind : DEVICE_PUBLISHES) {
                if (levels(kind) == depth) {
                    grants.add(TopicGrant.allow(own + "/" + kind, TopicGrant.Action.PUBLISH,
                            kind.equals(DEVICE_RETAINS) ? TopicGrant.Retain.ANY : TopicGrant.Retain.NOT_RETAINED));
                }
            }
            for (String kind : DEVICE_READS) {
                if (levels(kind) == depth) {
                    grants.add(TopicGrant.allow(own + "/" + kind, TopicGrant.Action.SUBSCRIBE, TopicGrant.Retain.ANY));
                }
            }
            if (depth > 1) {
                grants.add(TopicGrant.deny(own + "/+".repeat(depth)));
            }
        }
        return List.copyOf(grants);
    }

    private static int levels(String kind) {
        return kind.split("/", -1).length;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** {@code $share/GROUP/filter} becomes {@code filter}; null when malformed. */
    private static String withoutSharePrefix(String filter) {
        if (!filter.startsWith("$share/")) {
            return filter;
        }
        int slash = filter.indexOf('/', "$share/".length());
        return slash < 0 || slash == filter.length() - 1 ? null : filter.substring(slash + 1);
    }

    private static boolean validFilter(String filter) {
        String[] levels = filter.split("/", -1);
        for (int i = 0; i < levels.length; i++) {
            String level = levels[i];
            if (level.contains("#") && (!level.equals("#") || i != levels.length - 1)) {
                return false;
            }
            if (level.contains("+") && !level.equals("+")) {
                return false;
            }
        }
        return true;
    }

    /**
     * True when every topic {@code filter} can match is also matched by {@code allowed}: a literal
     * level is covered by the same literal or {@code +}; {@code +} only by {@code +}; {@code #}
     * only by {@code #}.
     */
    static boolean covers(String allowed, String filter) {
        String[] a = allowed.split("/", -1);
        String[] f = filter.split("/", -1);
        for (int i = 0; i < f.length; i++) {
            if (i >= a.length) {
                return false;
            }
            if (a[i].equals("#")) {
                return true;
            }
            if (f[i].equals("#")) {
                return false;
            }
            if (a[i].equals("+")) {
                continue;
            }
            if (!a[i].equals(f[i])) {
                return false;
            }
        }
        return f.length == a.length || (f.length == a.length - 1 && a[a.length - 1].equals("#"));
    }
}
