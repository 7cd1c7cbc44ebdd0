package dev.turnout.orchestrator.webhook;

import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEvent;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The stable event vocabulary of webhooks (docs/operations.md, "Webhooks") and how the orchestrator's
 * rollout events and device presence map onto it. Names are {@code <subject>.<what>}; new names may be
 * added, existing ones keep their meaning and their {@code data} fields.
 */
public final class WebhookEvents {

    public static final String ROLLOUT_STARTED = "rollout.started";
    public static final String ROLLOUT_WAVE_STARTED = "rollout.wave_started";
    public static final String ROLLOUT_WAVE_COMPLETED = "rollout.wave_completed";
    public static final String ROLLOUT_PAUSED = "rollout.paused";
    public static final String ROLLOUT_RESUMED = "rollout.resumed";
    public static final String ROLLOUT_COMPLETED = "rollout.completed";
    public static final String ROLLOUT_FAILED = "rollout.failed";
    public static final String ROLLOUT_ROLLING_BACK = "rollout.rolling_back";
    public static final String ROLLOUT_ROLLED_BACK = "rollout.rolled_back";
    public static final String ROLLOUT_ABORTED = "rollout.aborted";
    public static final String DEVICE_UPDATED = "device.updated";
    public static final String DEVICE_FAILED = "device.failed";
    public static final String DEVICE_JOINED = "device.joined";
    public static final String DEVICE_SKIPPED = "device.skipped";
    public static final String DEVICE_ONLINE = "device.online";
    public static final String DEVICE_OFFLINE = "device.offline";
    /** Sent by {@code turnout webhook test}; delivered whatever the webhook's patterns. */
    public static final String PING = "ping";

    /** Every event name, in the order docs/operations.md lists them. */
    public static final List<String> NAMES = List.of(ROLLOUT_STARTED, ROLLOUT_WAVE_STARTED, ROLLOUT_WAVE_COMPLETED,
            ROLLOUT_PAUSED, ROLLOUT_RESUMED, ROLLOUT_COMPLETED, ROLLOUT_FAILED, ROLLOUT_ROLLING_BACK, ROLLOUT_ROLLED_BACK,
            ROLLOUT_ABORTED, DEVICE_UPDATED, DEVICE_FAILED, DEVICE_JOINED, DEVICE_SKIPPED, DEVICE_ONLINE, DEVICE_OFFLINE, PING);

    /** An event to deliver: its name, when it happened and its {@code data} object. */
    public record Event(String name, Instant time, Map<String, Object> data) {
    }

    private WebhookEvents() {
    }

    /** The webhook event a rollout event is, if any (a state change to RUNNING after a pause is {@code rollout.resumed}). */
    public static Optional<Event> of(RolloutEvent e) {
        String name = switch (e.getType()) {
            case CREATED -> ROLLOUT_STARTED;
            case WAVE_STARTED -> ROLLOUT_WAVE_STARTED;
            case WAVE_COMPLETED -> ROLLOUT_WAVE_COMPLETED;
            case DEVICE_SUCCEEDED -> DEVICE_UPDATED;
            case DEVICE_FAILED -> DEVICE_FAILED;
            case DEVICE_JOINED -> DEVICE_JOINED;
            case DEVICE_SKIPPED -> DEVICE_SKIPPED;
            case STATE_CHANGED -> switch (e.getState()) {
                case ROLLOUT_RUNNING -> ROLLOUT_RESUMED;
                case ROLLOUT_PAUSED -> ROLLOUT_PAUSED;
                case ROLLOUT_SUCCEEDED -> ROLLOUT_COMPLETED;
                case ROLLOUT_FAILED -> ROLLOUT_FAILED;
                case ROLLOUT_ROLLING_BACK -> ROLLOUT_ROLLING_BACK;
                case ROLLOUT_ROLLED_BACK -> ROLLOUT_ROLLED_BACK;
                case ROLLOUT_ABORTED -> ROLLOUT_ABORTED;
                default -> null;
            };
            default -> null;
        };
        if (name == null) {
            return Optional.empty();
        }
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("rolloutId", e.getRolloutId());
        data.put("app", e.getApp());
        data.put("version", e.getVersion());
        data.put("state", e.getState().name().replaceFirst("^ROLLOUT_", ""));
        data.put("wave", e.getWave());
        if (!e.getDeviceId().isEmpty()) {
            data.put("deviceId", e.getDeviceId());
        }
        data.put("message", e.getMessage());
        return Optional.of(new Event(name, Instant.ofEpochMilli(e.getTimestampMs()), data));
    }

    /** {@code device.online} or {@code device.offline} for a device's presence. */
    public static Event of(String deviceId, Presence p, Instant at) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("deviceId", deviceId);
        data.put("online", p.getOnline());
        if (p.getOnline()) {
            data.put("agentVersion", p.getAgentVersion());
            data.put("platform", p.getPlatform());
        }
        return new Event(p.getOnline() ? DEVICE_ONLINE : DEVICE_OFFLINE, at, data);
    }
}
