package dev.turnout.orchestrator.app;

import java.time.Duration;
import java.util.regex.Pattern;

/**
 * Where the orchestrator keeps its store and, with a shared one, how it works next to other
 * orchestrator instances.
 *
 * @param storeUrl      {@code jdbc:postgresql://host:port/database}; null: the embedded SQLite store in the data directory
 * @param storeUser     database user; null: the {@code user} of the URL
 * @param storePassword database password (from {@code TURNOUT_STORE_PASSWORD} or a file, never the command line); null: none
 * @param shareGroup    MQTT shared-subscription group of the instances (with a shared store)
 * @param instanceId    this instance's name: lease owner and MQTT client id suffix
 * @param leaseTtl      how long a rollout's lease lasts without renewal: the longest a rollout waits for a takeover
 */
public record ClusterOptions(String storeUrl, String storeUser, String storePassword, String shareGroup, String instanceId,
                             Duration leaseTtl) {

    public static final String DEFAULT_SHARE_GROUP = "turnout";
    public static final Duration DEFAULT_LEASE = Duration.ofSeconds(10);
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,32}");

    public ClusterOptions {
        storeUrl = storeUrl == null || storeUrl.isBlank() ? null : storeUrl.strip();
        storeUser = storeUser == null || storeUser.isBlank() ? null : storeUser;
        shareGroup = shareGroup == null || shareGroup.isBlank() ? DEFAULT_SHARE_GROUP : shareGroup;
        instanceId = instanceId == null || instanceId.isBlank() ? defaultInstanceId() : instanceId;
        leaseTtl = leaseTtl == null ? DEFAULT_LEASE : leaseTtl;
        if (storeUrl != null && !storeUrl.startsWith("jdbc:postgresql://")) {
            throw new IllegalArgumentException("--store must be jdbc:postgresql://HOST:PORT/DATABASE (without it: the embedded SQLite store)");
        }
        if (storeUrl != null && Pattern.compile("(?i)[?&]password=").matcher(storeUrl).find()) {
            throw new IllegalArgumentException("the --store URL must not hold the password: put it in $TURNOUT_STORE_PASSWORD"
                    + " or a file (--store-password-file)");
        }
        if (!NAME.matcher(shareGroup).matches()) {
            throw new IllegalArgumentException("--share-group must be 1-32 letters, digits, '.', '_' or '-'");
        }
        if (!NAME.matcher(instanceId).matches()) {
            throw new IllegalArgumentException("--instance-id must be 1-32 letters, digits, '.', '_' or '-'");
        }
        if (leaseTtl.compareTo(Duration.ofSeconds(2)) < 0) {
            throw new IllegalArgumentException("--rollout-lease must be at least 2s (the engine renews it every 0.5 s)");
        }
    }

    /** The embedded SQLite store: one orchestrator. */
    public static ClusterOptions single() {
        return new ClusterOptions(null, null, null, null, null, null);
    }

    /** True when the store is shared with other orchestrator instances. */
    public boolean shared() {
        return storeUrl != null;
    }

    /** {@code <host name>-<pid>}, cut to the allowed characters. */
    static String defaultInstanceId() {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            host = "orchestrator";
        }
        String id = host.replaceAll("[^A-Za-z0-9_.-]", "-") + "-" + ProcessHandle.current().pid();
        return id.length() <= 32 ? id : id.substring(id.length() - 32);
    }

    @Override
    public String toString() { // never the password
        return "ClusterOptions[store=" + (storeUrl == null ? "sqlite" : storeUrl) + ", user=" + storeUser + ", shareGroup="
                + shareGroup + ", instance=" + instanceId + ", lease=" + leaseTtl + "]";
    }
}
