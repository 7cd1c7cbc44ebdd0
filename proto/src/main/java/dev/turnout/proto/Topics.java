package dev.turnout.proto;

import java.util.Objects;
import java.util.Optional;

/**
 * Topic names of the wire contract, under a configurable prefix (default {@value #DEFAULT_PREFIX}).
 *
 * <pre>
 * {prefix}/devices/{deviceId}/desired|status|health|presence
 * {prefix}/devices/{deviceId}/logs/request|response
 * {prefix}/rollouts/{rolloutId}/events
 * </pre>
 */
public final class Topics {

    /** The prefix used when none is configured. */
    public static final String DEFAULT_PREFIX = "turnout/v1";
    /** MQTT 5 content type of every payload. */
    public static final String CONTENT_TYPE = "application/x-protobuf";

    /** The levels after {@code devices/{id}/} of a log request and of its answer ({@link #kindOf}). */
    public static final String LOG_REQUEST = "logs/request";
    public static final String LOG_RESPONSE = "logs/response";

    private final String prefix;

    public Topics(String prefix) {
        Objects.requireNonNull(prefix, "prefix");
        String p = prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix;
        if (p.isEmpty() || p.contains("+") || p.contains("#")) {
            throw new IllegalArgumentException("topic prefix must be non-empty and hold no wildcards: '" + prefix + "'");
        }
        this.prefix = p;
    }

    public static Topics defaults() {
        return new Topics(DEFAULT_PREFIX);
    }

    public String prefix() {
        return prefix;
    }

    public String desired(String deviceId) {
        return device(deviceId) + "/desired";
    }

    public String status(String deviceId) {
        return device(deviceId) + "/status";
    }

    public String health(String deviceId) {
        return device(deviceId) + "/health";
    }

    public String presence(String deviceId) {
        return device(deviceId) + "/presence";
    }

    /** Where the orchestrator asks a device for a container's log (a signed {@code LogRequest}). */
    public String logRequest(String deviceId) {
        return device(deviceId) + "/" + LOG_REQUEST;
    }

    /** Where a device answers a log request ({@code LogResponse}); only the orchestrator reads it. */
    public String logResponse(String deviceId) {
        return device(deviceId) + "/" + LOG_RESPONSE;
    }

    /** Filter matching the log answers of every device. */
    public String allLogResponses() {
        return prefix + "/devices/+/" + LOG_RESPONSE;
    }

    public String rolloutEvents(String rolloutId) {
        requireValidId(rolloutId);
        return prefix + "/rollouts/" + rolloutId + "/events";
    }

    /** Filter matching the status topic of every device. */
    public String allStatus() {
        return prefix + "/devices/+/status";
    }

    public String allHealth() {
        return prefix + "/devices/+/health";
    }

    public String allPresence() {
        return prefix + "/devices/+/presence";
    }

    public String allRolloutEvents() {
        return prefix + "/rollouts/+/events";
    }

    /** The device id in a {@code {prefix}/devices/{id}/...} topic, if the topic is one. */
    public Optional<String> deviceIdOf(String topic) {
        String head = prefix + "/devices/";
        if (topic == null || !topic.startsWith(head)) {
            return Optional.empty();
        }
        int end = topic.indexOf('/', head.length());
        if (end <= head.length()) {
            return Optional.empty();
        }
        return Optional.of(topic.substring(head.length(), end));
    }

    /** The last level of a device topic ("status", "health", ...), if the topic is one. */
    public Optional<String> kindOf(String topic) {
        return deviceIdOf(topic).map(id -> topic.substring(prefix.length() + "/devices/".length() + id.length() + 1));
    }

    private String device(String deviceId) {
        requireValidId(deviceId);
        return prefix + "/devices/" + deviceId;
    }

    /**
     * An id may be used as a topic level and an MQTT client id: 1-64 printable ASCII characters,
     * none of {@code + # /}, no whitespace.
     */
    public static boolean isValidId(String id) {
        if (id == null || id.isEmpty() || id.length() > 64) {
            return false;
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c <= 0x20 || c >= 0x7f || c == '+' || c == '#' || c == '/') {
                return false;
            }
        }
        return true;
    }

    public static String requireValidId(String id) {
        if (!isValidId(id)) {
            throw new IllegalArgumentException("invalid id '" + id
                    + "': use 1-64 printable characters without whitespace, '+', '#' or '/'");
        }
        return id;
    }
}
