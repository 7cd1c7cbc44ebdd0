package dev.turnout.orchestrator.observe;

import dev.turnout.proto.AppHealth;
import dev.turnout.proto.AppSummary;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.StatusEvent;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON mirror of the wire messages: field names are the proto fields in lowerCamelCase, enums
 * their names, 64-bit numbers plain JSON numbers (unlike the proto3 JSON mapping, which quotes them).
 */
public final class ProtoJson {

    private ProtoJson() {
    }

    public static Map<String, Object> status(StatusEvent e) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("deviceId", e.getDeviceId());
        v.put("app", e.getApp());
        v.put("version", e.getVersion());
        v.put("state", e.getState().name());
        v.put("reason", e.getReason().name());
        v.put("message", e.getMessage());
        v.put("sequence", e.getSequence());
        v.put("rolloutId", e.getRolloutId());
        v.put("runningVersion", e.getRunningVersion());
        v.put("timestampMs", e.getTimestampMs());
        v.put("logTail", e.getLogTail());
        v.put("fetchNote", e.getFetchNote());
        if (e.hasDownload()) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("bytesDone", e.getDownload().getBytesDone());
            d.put("bytesTotal", e.getDownload().getBytesTotal());
            d.put("bytesPerSecond", e.getDownload().getRateBps());
            d.put("bytesMoved", e.getDownload().getBytesMoved());
            v.put("download", d);
        }
        return v;
    }

    public static Map<String, Object> health(HealthReport h) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("deviceId", h.getDeviceId());
        v.put("timestampMs", h.getTimestampMs());
        v.put("cpuPercent", h.getCpuPercent());
        v.put("memoryUsedBytes", h.getMemoryUsedBytes());
        v.put("memoryTotalBytes", h.getMemoryTotalBytes());
        v.put("diskFreeBytes", h.getDiskFreeBytes());
        v.put("diskTotalBytes", h.getDiskTotalBytes());
        v.put("temperatureCelsius", h.hasTemperatureCelsius() ? h.getTemperatureCelsius() : null);
        List<Map<String, Object>> apps = h.getAppsList().stream().map(ProtoJson::appHealth).toList();
        v.put("apps", apps);
        return v;
    }

    private static Map<String, Object> appHealth(AppHealth a) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("app", a.getApp());
        v.put("version", a.getVersion());
        v.put("healthy", a.getHealthy());
        v.put("containerState", a.getContainerState());
        v.put("restartCount", a.getRestartCount());
        return v;
    }

    public static Map<String, Object> presence(Presence p) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("deviceId", p.getDeviceId());
        v.put("online", p.getOnline());
        v.put("timestampMs", p.getTimestampMs());
        v.put("agentVersion", p.getAgentVersion());
        v.put("platform", p.getPlatform());
        v.put("apps", p.getAppsList().stream().map(ProtoJson::appSummary).toList());
        v.put("lastSequence", p.getLastSequence());
        return v;
    }

    private static Map<String, Object> appSummary(AppSummary a) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("app", a.getApp());
        v.put("runningVersion", a.getRunningVersion());
        v.put("state", a.getState().name());
        return v;
    }

    public static Map<String, Object> rollout(RolloutEvent e) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("rolloutId", e.getRolloutId());
        v.put("app", e.getApp());
        v.put("version", e.getVersion());
        v.put("type", e.getType().name());
        v.put("wave", e.getWave());
        v.put("deviceId", e.getDeviceId());
        v.put("message", e.getMessage());
        v.put("timestampMs", e.getTimestampMs());
        // ROLLOUT_PAUSED on the wire; PAUSED as in the HTTP API
        v.put("state", e.getState().name().replaceFirst("^ROLLOUT_", ""));
        if (e.hasActivationMs()) {
            v.put("activationMs", e.getActivationMs());
        }
        return v;
    }
}
