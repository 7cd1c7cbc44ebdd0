package dev.turnout.edge.app;

import com.fasterxml.jackson.annotation.JsonAlias;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.turnout.edge.domain.UpdateWindow;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.tls.PinnedTrust;
import dev.turnout.proto.transfer.ByteRate;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The edge daemon's configuration (docs/device-config.md). Build it in code or {@link #load(Path)} it
 * from YAML; unknown keys are an error.
 *
 * @param deviceId the device id, also the MQTT client id
 * @param labels informational labels
 * @param brokerUrl MQTT broker, e.g. {@code tcp://host:1883}
 * @param orchestratorUrl base URL that relative artifact URLs resolve against (may be null)
 * @param topicPrefix MQTT topic prefix (default {@code turnout/v1})
 * @param trustedKeys keys whose signatures on desired states are accepted (at least one)
 * @param dataDir state and cache directory (null: must be given on the command line)
 * @param dockerHost Docker engine address (default {@code unix:///var/run/docker.sock})
 * @param platform image platform (null: detected from the engine, else {@code os.arch})
 * @param mqttUsername MQTT user name (null: none)
 * @param mqttPassword MQTT password (null: none); never logged
 * @param healthReportInterval period of health reports (default 30 s)
 * @param updateWindow daily window for ACTIVATE in device local time (null: any time)
 * @param maxRollbackAttempts failed attempts (rolled back or failed after APPLYING) at one version before the
 *                            device stops trying it and reports TOO_MANY_ATTEMPTS (default 3)
 * @param clockTrust when the wall clock counts as right for expiry (default {@link ClockTrust#AUTO})
 * @param crashLoopRestarts restarts of a new container tolerated during its soak; one more is a crash loop (default 0)
 * @param checkInterval how often drift and the update window are checked (default 30 s)
 * @param ca PEM CA certificate(s) the broker's and the orchestrator's TLS certificates must chain to (pinned: the
 *           system trust store is not used); null: the system trust store for {@code ssl://} and {@code https://}
 * @param lockTimeout how long an update waits for the running app to release its update lock before it fails with
 *                    LOCK_TIMEOUT, unless the desired state names its own (default 10 min)
 * @param agentStartTimeout how long a new version of this daemon (an agent release) has, from its start, to connect
 *                          to the broker and report before its launcher stops it and starts the previous version again
 *                          (default 60 s; docs/edge-daemon.md, "Agent releases")
 * @param variables this device's values for the {@code ${VAR}}s of Compose releases (docs/compose.md); they win over
 *                  the release's own, and never leave the device: secrets such as a broker password belong here
 * @param downloadRateLimit the device's download rate limit in bytes per second ({@code download.rateLimit: 500KiB/s});
 *                          0: none. A desired state's own limit applies where it is lower.
 * @param retryTimes how long the daemon waits between attempts to reach the broker and the orchestrator, and how long
 *                   it retries a download the orchestrator answers with errors ({@link RetryTimes#DEFAULTS}: 30 s, 15 s,
 *                   2 min); shorter values only for tests that compress time
 */
public record EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                         List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                         String mqttUsername, String mqttPassword, Duration healthReportInterval, UpdateWindow updateWindow,
                         int maxRollbackAttempts, ClockTrust clockTrust, int crashLoopRestarts, Duration checkInterval,
                         String ca, Duration lockTimeout, Duration agentStartTimeout, Map<String, String> variables,
                         long downloadRateLimit, RetryTimes retryTimes) {

    /** With the default {@link RetryTimes}. */
    public EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                      List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                      String mqttUsername, String mqttPassword, Duration healthReportInterval, UpdateWindow updateWindow,
                      int maxRollbackAttempts, ClockTrust clockTrust, int crashLoopRestarts, Duration checkInterval,
                      String ca, Duration lockTimeout, Duration agentStartTimeout, Map<String, String> variables,
                      long downloadRateLimit) {
        this(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform, mqttUsername,
                mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts, checkInterval, ca,
                lockTimeout, agentStartTimeout, variables, downloadRateLimit, null);
    }

    /**
     * The waits of a device that cannot reach the broker or the orchestrator (a partition, a restart).
     *
     * @param reconnectBackoffMax the longest wait between two attempts to reach the broker ({@code reconnectBackoffMax},
     *                            default 30 s; the first waits at most 1 s or this, whichever is shorter)
     * @param downloadBackoffMax the longest wait between two download attempts ({@code download.maxBackoff}, default
     *                           15 s; the first waits 2 s or this, whichever is shorter)
     * @param downloadRetryWindow how long a download the orchestrator answers with errors (5xx) is retried before the
     *                            update fails ({@code download.retryWindow}, default 2 min). An orchestrator that cannot
     *                            be reached at all is waited for without end (until a newer desired state arrives).
     */
    public record RetryTimes(Duration reconnectBackoffMax, Duration downloadBackoffMax, Duration downloadRetryWindow) {

        /** 30 s, 15 s, 2 min. */
        public static final RetryTimes DEFAULTS = new RetryTimes(Duration.ofSeconds(30), Duration.ofSeconds(15), Duration.ofMinutes(2));

        public RetryTimes {
            reconnectBackoffMax = positive(reconnectBackoffMax, Duration.ofSeconds(30), "reconnectBackoffMax");
            downloadBackoffMax = positive(downloadBackoffMax, Duration.ofSeconds(15), "download.maxBackoff");
            downloadRetryWindow = downloadRetryWindow == null ? Duration.ofMinutes(2) : downloadRetryWindow;
            if (downloadRetryWindow.isNegative()) {
                throw new IllegalArgumentException("download.retryWindow must not be negative");
            }
        }

        /** Every wait divided by {@code factor}: the same device with time compressed (tests). */
        public RetryTimes compressedBy(long factor) {
            return new RetryTimes(reconnectBackoffMax.dividedBy(factor), downloadBackoffMax.dividedBy(factor),
                    downloadRetryWindow.dividedBy(factor));
        }

        private static Duration positive(Duration value, Duration otherwise, String key) {
            Duration d = value == null ? otherwise : value;
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(key + " must be positive");
            }
            return d;
        }
    }

    /** Without a download rate limit. */
    public EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                      List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                      String mqttUsername, String mqttPassword, Duration healthReportInterval, UpdateWindow updateWindow,
                      int maxRollbackAttempts, ClockTrust clockTrust, int crashLoopRestarts, Duration checkInterval,
                      String ca, Duration lockTimeout, Duration agentStartTimeout, Map<String, String> variables) {
        this(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform, mqttUsername,
                mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts, checkInterval, ca,
                lockTimeout, agentStartTimeout, variables, 0);
    }

    /** Without Compose variables of its own. */
    public EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                      List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                      String mqttUsername, String mqttPassword, Duration healthReportInterval, UpdateWindow updateWindow,
                      int maxRollbackAttempts, ClockTrust clockTrust, int crashLoopRestarts, Duration checkInterval,
                      String ca, Duration lockTimeout, Duration agentStartTimeout) {
        this(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform, mqttUsername,
                mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts, checkInterval, ca,
                lockTimeout, agentStartTimeout, null);
    }

    /** With the default agent start timeout. */
    public EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                      List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                      String mqttUsername, String mqttPassword, Duration healthReportInterval, UpdateWindow updateWindow,
                      int maxRollbackAttempts, ClockTrust clockTrust, int crashLoopRestarts, Duration checkInterval,
                      String ca, Duration lockTimeout) {
        this(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform, mqttUsername,
                mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts, checkInterval, ca,
                lockTimeout, null);
    }

    /** With the default lock timeout. */
    public EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                      List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                      String mqttUsername, String mqttPassword, Duration healthReportInterval, UpdateWindow updateWindow,
                      int maxRollbackAttempts, ClockTrust clockTrust, int crashLoopRestarts, Duration checkInterval, String ca) {
        this(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform, mqttUsername,
                mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts, checkInterval, ca, null);
    }

    /** Without a pinned CA. */
    public EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                      List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                      String mqttUsername, String mqttPassword, Duration healthReportInterval, UpdateWindow updateWindow,
                      int maxRollbackAttempts, ClockTrust clockTrust, int crashLoopRestarts, Duration checkInterval) {
        this(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform, mqttUsername,
                mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts, checkInterval, null, null);
    }

    /** Default {@link #lockTimeout()}. */
    public static final Duration DEFAULT_LOCK_TIMEOUT = Duration.ofMinutes(10);
    /** Default {@link #agentStartTimeout()}. */
    public static final Duration DEFAULT_AGENT_START_TIMEOUT = Duration.ofSeconds(60);

    /** Default {@link #checkInterval()}. */
    public static final Duration DEFAULT_CHECK_INTERVAL = Duration.ofSeconds(30);
    /** Default {@link #maxRollbackAttempts()}. */
    public static final int DEFAULT_MAX_ROLLBACK_ATTEMPTS = 3;

    /** When the wall clock may expire a payload on its own and move the persisted time floor. */
    public enum ClockTrust {
        /** Trusted once systemd-timesyncd reports it synchronised ({@code /run/systemd/timesync/synchronized}). */
        AUTO,
        /** Always trusted (a device with a battery-backed real-time clock). */
        ALWAYS,
        /** Never trusted: only the newest signed issued_at moves the time floor. */
        NEVER
    }

    /** The configuration without the optional update settings (any-time window, defaults). */
    public EdgeConfig(String deviceId, Map<String, String> labels, String brokerUrl, String orchestratorUrl, String topicPrefix,
                      List<TrustedKeyConfig> trustedKeys, Path dataDir, String dockerHost, String platform,
                      String mqttUsername, String mqttPassword, Duration healthReportInterval) {
        this(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform, mqttUsername,
                mqttPassword, healthReportInterval, null, 0, null, 0, null);
    }

    /** Default Docker engine address. */
    public static final String DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";
    /** Default period of health reports. */
    public static final Duration DEFAULT_HEALTH_REPORT_INTERVAL = Duration.ofSeconds(30);

    /**
     * One trusted signing key.
     *
     * @param keyId the key id the orchestrator puts into envelopes
     * @param publicKey Base64 of the raw 32-byte Ed25519 public key
     */
    public record TrustedKeyConfig(String keyId, String publicKey) {
    }

    public EdgeConfig {
        if (deviceId == null || !Topics.isValidId(deviceId)) {
            throw new IllegalArgumentException("deviceId must be 1-64 printable characters without whitespace, '+', '#' or '/'"
                    + (deviceId == null ? " (missing)" : ""));
        }
        if (brokerUrl == null || brokerUrl.isBlank()) {
            throw new IllegalArgumentException("brokerUrl is required");
        }
        if (trustedKeys == null || trustedKeys.isEmpty()) {
            throw new IllegalArgumentException("trustedKeys needs at least one key");
        }
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        topicPrefix = topicPrefix == null || topicPrefix.isBlank() ? Topics.DEFAULT_PREFIX : topicPrefix;
        trustedKeys = List.copyOf(trustedKeys);
        dockerHost = dockerHost == null || dockerHost.isBlank() ? DEFAULT_DOCKER_HOST : dockerHost;
        platform = platform == null || platform.isBlank() ? null : platform;
        healthReportInterval = healthReportInterval == null ? DEFAULT_HEALTH_REPORT_INTERVAL : healthReportInterval;
        if (healthReportInterval.isNegative() || healthReportInterval.isZero()) {
            throw new IllegalArgumentException("healthReportInterval must be positive");
        }
        maxRollbackAttempts = maxRollbackAttempts == 0 ? DEFAULT_MAX_ROLLBACK_ATTEMPTS : maxRollbackAttempts;
        if (maxRollbackAttempts < 1) {
            throw new IllegalArgumentException("maxRollbackAttempts must be at least 1");
        }
        clockTrust = clockTrust == null ? ClockTrust.AUTO : clockTrust;
        checkInterval = checkInterval == null ? DEFAULT_CHECK_INTERVAL : checkInterval;
        if (checkInterval.toMillis() < 100) {
            throw new IllegalArgumentException("checkInterval must be at least 100ms");
        }
        lockTimeout = lockTimeout == null ? DEFAULT_LOCK_TIMEOUT : lockTimeout;
        if (lockTimeout.isNegative() || lockTimeout.isZero()) {
            throw new IllegalArgumentException("lockTimeout must be positive");
        }
        agentStartTimeout = agentStartTimeout == null ? DEFAULT_AGENT_START_TIMEOUT : agentStartTimeout;
        if (agentStartTimeout.toSeconds() < 5) {
            throw new IllegalArgumentException("agentStartTimeout must be at least 5s (a JVM needs a few seconds to start)");
        }
        if (crashLoopRestarts < 0) {
            throw new IllegalArgumentException("crashLoopRestarts must not be negative");
        }
        variables = variables == null ? Map.of() : Map.copyOf(new java.util.TreeMap<>(variables));
        for (Map.Entry<String, String> v : variables.entrySet()) {
            if (!VARIABLE.matcher(v.getKey()).matches()) {
                throw new IllegalArgumentException("variables: '" + v.getKey() + "' is not a variable name (letters, digits and _,"
                        + " not starting with a digit)");
            }
            if (v.getValue() == null) {
                throw new IllegalArgumentException("variables: " + v.getKey() + " has no value (write \"\" for an empty one)");
            }
        }
        if (downloadRateLimit < 0) {
            throw new IllegalArgumentException("download.rateLimit must not be negative");
        }
        retryTimes = retryTimes == null ? RetryTimes.DEFAULTS : retryTimes;
        new Topics(topicPrefix);
        publicKeys(trustedKeys);
        ca = ca == null || ca.isBlank() ? null : ca;
        if (ca != null) {
            PinnedTrust.fromPem(ca, "ca"); // refuses a value that holds no certificate
        }
    }

    /** Trust in exactly the CA(s) of {@link #ca()}; null when no CA is configured. */
    public PinnedTrust pinnedTrust() {
        return ca == null ? null : PinnedTrust.fromPem(ca, "the CA in your config (ca)");
    }

    /** This configuration with {@code pem} as its pinned CA (null: none). */
    public EdgeConfig withCa(String pem) {
        return new EdgeConfig(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform,
                mqttUsername, mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts,
                checkInterval, pem, lockTimeout, agentStartTimeout, variables, downloadRateLimit, retryTimes);
    }

    /** A configuration with the required values only; everything else defaults. */
    public static EdgeConfig of(String deviceId, String brokerUrl, String orchestratorUrl, List<TrustedKeyConfig> trustedKeys) {
        return new EdgeConfig(deviceId, Map.of(), brokerUrl, orchestratorUrl, null, trustedKeys, null, null, null, null, null, null);
    }

    /** This configuration with another update window (null: any time). */
    public EdgeConfig withUpdateWindow(UpdateWindow window) {
        return new EdgeConfig(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform,
                mqttUsername, mqttPassword, healthReportInterval, window, maxRollbackAttempts, clockTrust, crashLoopRestarts, checkInterval, ca,
                lockTimeout, agentStartTimeout, variables, downloadRateLimit, retryTimes);
    }

    /** This configuration with another {@link #checkInterval()}. */
    public EdgeConfig withCheckInterval(Duration interval) {
        return new EdgeConfig(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform,
                mqttUsername, mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts, interval, ca,
                lockTimeout, agentStartTimeout, variables, downloadRateLimit, retryTimes);
    }

    /** This configuration with another {@link #lockTimeout()}. */
    public EdgeConfig withLockTimeout(Duration timeout) {
        return new EdgeConfig(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform,
                mqttUsername, mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts,
                checkInterval, ca, timeout, agentStartTimeout, variables, downloadRateLimit, retryTimes);
    }

    /** This configuration with another {@link #agentStartTimeout()}. */
    public EdgeConfig withAgentStartTimeout(Duration timeout) {
        return new EdgeConfig(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform,
                mqttUsername, mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts,
                checkInterval, ca, lockTimeout, timeout, variables, downloadRateLimit, retryTimes);
    }

    /** This configuration with another {@link #downloadRateLimit()} (bytes per second, 0: none). */
    public EdgeConfig withDownloadRateLimit(long bytesPerSecond) {
        return new EdgeConfig(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform,
                mqttUsername, mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts,
                checkInterval, ca, lockTimeout, agentStartTimeout, variables, bytesPerSecond, retryTimes);
    }

    /** This configuration with other {@link #retryTimes()} (null: the defaults). */
    public EdgeConfig withRetryTimes(RetryTimes times) {
        return new EdgeConfig(deviceId, labels, brokerUrl, orchestratorUrl, topicPrefix, trustedKeys, dataDir, dockerHost, platform,
                mqttUsername, mqttPassword, healthReportInterval, updateWindow, maxRollbackAttempts, clockTrust, crashLoopRestarts,
                checkInterval, ca, lockTimeout, agentStartTimeout, variables, downloadRateLimit, times);
    }

    /** Reads the YAML file; errors are one sentence naming the file and the problem. */
    public static EdgeConfig load(Path file) throws IOException {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory()).enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        Raw raw;
        try {
            raw = yaml.readValue(Files.readAllBytes(file), Raw.class);
        } catch (NoSuchFileException e) {
            throw new IOException("config file " + file + " does not exist");
        } catch (UnrecognizedPropertyException e) {
            throw new IOException("config file " + file + ": unknown key '" + e.getPropertyName() + "' (known: " + e.getKnownPropertyIds() + ")");
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException("config file " + file + " is not valid: " + e.getOriginalMessage(), e);
        }
        if (raw == null) {
            throw new IOException("config file " + file + " is empty");
        }
        try {
            List<TrustedKeyConfig> keys = new ArrayList<>();
            if (raw.trustedKeys != null) {
                for (RawKey k : raw.trustedKeys) {
                    keys.add(new TrustedKeyConfig(k.keyId, k.publicKey));
                }
            }
            return new EdgeConfig(raw.deviceId, raw.labels, raw.brokerUrl, raw.orchestratorUrl, raw.topicPrefix, keys,
                    raw.dataDir == null || raw.dataDir.isBlank() ? null : Path.of(raw.dataDir), raw.dockerHost, raw.platform,
                    raw.mqttUsername, raw.mqttPassword, raw.healthReportInterval == null ? null : parseDuration(raw.healthReportInterval),
                    raw.updateWindow == null || raw.updateWindow.isBlank() ? null : UpdateWindow.parse(raw.updateWindow),
                    raw.maxRollbackAttempts == null ? 0 : raw.maxRollbackAttempts, clockTrust(raw.clockTrust),
                    raw.crashLoopRestarts == null ? 0 : raw.crashLoopRestarts,
                    raw.checkInterval == null ? null : parseDuration(raw.checkInterval), raw.ca,
                    raw.lockTimeout == null ? null : parseDuration(raw.lockTimeout),
                    raw.agentStartTimeout == null ? null : parseDuration(raw.agentStartTimeout), raw.variables,
                    raw.download == null || raw.download.rateLimit == null ? 0 : ByteRate.parse(raw.download.rateLimit, "download.rateLimit"),
                    new RetryTimes(durationOrNull(raw.reconnectBackoffMax), raw.download == null ? null : durationOrNull(raw.download.maxBackoff),
                            raw.download == null ? null : durationOrNull(raw.download.retryWindow)));
        } catch (IllegalArgumentException e) {
            throw new IOException("config file " + file + ": " + e.getMessage(), e);
        }
    }

    private static Duration durationOrNull(String text) {
        return text == null || text.isBlank() ? null : parseDuration(text);
    }

    private static ClockTrust clockTrust(String text) {
        if (text == null || text.isBlank()) {
            return null;
        }
        try {
            return ClockTrust.valueOf(text.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("clockTrust must be auto, always or never, not '" + text + "'");
        }
    }

    /** The trusted keys, parsed; a key id that does not match its key is an error. */
    public List<PublicKey> publicKeys() {
        return publicKeys(trustedKeys);
    }

    private static List<PublicKey> publicKeys(List<TrustedKeyConfig> keys) {
        List<PublicKey> parsed = new ArrayList<>();
        for (TrustedKeyConfig k : keys) {
            Objects.requireNonNull(k, "trusted key");
            if (k.publicKey() == null) {
                throw new IllegalArgumentException("trusted key '" + k.keyId() + "' has no publicKey");
            }
            PublicKey key = PublicKey.fromBase64(k.publicKey());
            if (k.keyId() != null && !k.keyId().isBlank() && !k.keyId().equals(key.keyId())) {
                throw new IllegalArgumentException("trusted key id '" + k.keyId() + "' does not match its public key (id " + key.keyId() + ")");
            }
            parsed.add(key);
        }
        return parsed;
    }

    private static final Pattern VARIABLE = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h)");

    /** Parses "500ms", "30s", "5m", "1h" or an ISO-8601 duration. */
    public static Duration parseDuration(String text) {
        String t = text.trim();
        Matcher m = DURATION.matcher(t);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            return switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofHours(n);
            };
        }
        try {
            return Duration.parse(t);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a duration: '" + text + "' (use e.g. 30s, 500ms, 5m)");
        }
    }

    @Override
    public String toString() {
        return "EdgeConfig[deviceId=" + deviceId + ", brokerUrl=" + brokerUrl + ", orchestratorUrl=" + orchestratorUrl
                + ", topicPrefix=" + topicPrefix + ", keys=" + trustedKeys.size() + ", dataDir=" + dataDir + ", dockerHost=" + dockerHost
                + ", platform=" + platform + ", mqttUsername=" + mqttUsername + ", mqttPassword=" + (mqttPassword == null ? "none" : "***")
                + ", updateWindow=" + (updateWindow == null ? "any time" : updateWindow) + ", maxRollbackAttempts=" + maxRollbackAttempts
                + ", clockTrust=" + clockTrust + ", crashLoopRestarts=" + crashLoopRestarts + ", checkInterval=" + checkInterval
                + ", lockTimeout=" + lockTimeout + ", agentStartTimeout=" + agentStartTimeout + ", variables=" + variables.keySet()
                + ", download.rateLimit=" + (downloadRateLimit == 0 ? "none" : ByteRate.format(downloadRateLimit)) + ", retryTimes=" + retryTimes + ", ca=" + (ca == null ? "none (system trust store)" : "pinned") + "]";
    }

    /** The YAML form, field for field. */
    static final class Raw {
        @JsonProperty public String deviceId;
        @JsonProperty public Map<String, String> labels;
        @JsonProperty public String brokerUrl;
        @JsonProperty public String orchestratorUrl;
        @JsonProperty public String topicPrefix;
        @JsonProperty public List<RawKey> trustedKeys;
        @JsonProperty public String dataDir;
        @JsonProperty public String dockerHost;
        @JsonProperty public String platform;
        @JsonProperty public String mqttUsername;
        @JsonProperty public String mqttPassword;
        @JsonProperty public String healthReportInterval;
        @JsonProperty @JsonAlias("update-window") public String updateWindow;
        @JsonProperty @JsonAlias("max-rollback-attempts") public Integer maxRollbackAttempts;
        @JsonProperty @JsonAlias("clock-trust") public String clockTrust;
        @JsonProperty @JsonAlias("crash-loop-restarts") public Integer crashLoopRestarts;
        @JsonProperty @JsonAlias("check-interval") public String checkInterval;
        @JsonProperty public String ca;
        @JsonProperty @JsonAlias("lock-timeout") public String lockTimeout;
        @JsonProperty @JsonAlias("agent-start-timeout") public String agentStartTimeout;
        @JsonProperty public Map<String, String> variables;
        @JsonProperty public RawDownload download;
        @JsonProperty @JsonAlias("reconnect-backoff-max") public String reconnectBackoffMax;
    }

    static final class RawDownload {
        @JsonProperty @JsonAlias("rate-limit") public String rateLimit;
        @JsonProperty @JsonAlias("max-backoff") public String maxBackoff;
        @JsonProperty @JsonAlias("retry-window") public String retryWindow;
    }

    static final class RawKey {
        @JsonProperty public String keyId;
        @JsonProperty public String publicKey;
    }
}
