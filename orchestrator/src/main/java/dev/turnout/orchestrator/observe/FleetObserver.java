package dev.turnout.orchestrator.observe;

import dev.turnout.proto.transfer.DownloadReports;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.port.FleetEvents;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.RolloutEvent;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sees what monitors see on MQTT: device reports on their way into the engine and rollout events
 * on their way out. Mirrors each into {@link LiveEvents} as JSON and counts it in {@link FleetMetrics}.
 * Reports whose payload names another device than their topic are dropped, as the engine drops them.
 */
public final class FleetObserver {

    private static final Logger LOG = LoggerFactory.getLogger(FleetObserver.class);
    private static final DateTimeFormatter TIMESTAMP =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);

    private final Topics topics;
    private final LiveEvents live;
    private final FleetMetrics metrics;
    private final Clock clock;
    private final ObjectMapper json = new ObjectMapper();
    private final Map<String, Map<String, Object>> latestHealth = new ConcurrentHashMap<>();

    public FleetObserver(Topics topics, LiveEvents live, FleetMetrics metrics, Clock clock) {
        this.topics = topics;
        this.live = live;
        this.metrics = metrics;
        this.clock = clock;
    }

    /** Device reports go to {@code engine} first, then to monitors. */
    public FleetEvents observe(FleetEvents engine) {
        return new FleetEvents() {
            @Override
            public void onStatus(String topicDeviceId, StatusEvent event) {
                engine.onStatus(topicDeviceId, event);
                status(topicDeviceId, event);
            }

            @Override
            public void onPresence(String topicDeviceId, Presence presence) {
                engine.onPresence(topicDeviceId, presence);
                presence(topicDeviceId, presence);
            }

            @Override
            public void onHealth(String topicDeviceId, HealthReport report) {
                engine.onHealth(topicDeviceId, report);
                health(topicDeviceId, report);
            }
        };
    }

    /** Rollout events go out through {@code transport} and to monitors. */
    public FleetTransport observe(FleetTransport transport) {
        return new FleetTransport() {
            @Override
            public void publishDesired(String deviceId, byte[] signedEnvelope) {
                transport.publishDesired(deviceId, signedEnvelope);
            }

            @Override
            public void publishDesiredInBackground(String deviceId, byte[] signedEnvelope) {
                transport.publishDesiredInBackground(deviceId, signedEnvelope);
            }

            @Override
            public void publishRolloutEvent(RolloutEvent event) {
                transport.publishRolloutEvent(event);
                rollout(event);
            }
        };
    }

    /** The newest health report of every device that sent one since this process started, by device id. */
    public Map<String, Map<String, Object>> latestHealth() {
        return new TreeMap<>(latestHealth);
    }

    void status(String deviceId, StatusEvent e) {
        if (!e.getDeviceId().equals(deviceId)) {
            return;
        }
        if (DownloadReports.isTotal(e)) {
            metrics.downloaded(e.getDownload().getBytesMoved(), e.getDownload().getBytesTotal());
        }
        if (!DownloadReports.isProgress(e)) { // a progress report is no transition: shown live, not counted
            metrics.statusReceived(e.getState().name(), e.getReason().name());
        }
        publish("status", deviceId, topics.status(deviceId), ProtoJson.status(e));
    }

    void presence(String deviceId, Presence p) {
        if (!p.getDeviceId().isEmpty() && !p.getDeviceId().equals(deviceId)) {
            return;
        }
        Map<String, Object> payload = ProtoJson.presence(p);
        payload.put("deviceId", deviceId);
        publish("presence", deviceId, topics.presence(deviceId), payload);
    }

    void health(String deviceId, HealthReport h) {
        if (!h.getDeviceId().isEmpty() && !h.getDeviceId().equals(deviceId)) {
            return;
        }
        Map<String, Object> payload = ProtoJson.health(h);
        payload.put("deviceId", deviceId);
        Map<String, Object> kept = new LinkedHashMap<>(payload);
        kept.put("receivedAt", TIMESTAMP.format(clock.instant()));
        latestHealth.put(deviceId, kept);
        publish("health", deviceId, topics.health(deviceId), payload);
    }

    void rollout(RolloutEvent e) {
        metrics.rolloutEvent(e);
        publish("rollout", e.getRolloutId(), topics.rolloutEvents(e.getRolloutId()), ProtoJson.rollout(e));
    }

    private void publish(String kind, String subject, String topic, Map<String, Object> payload) {
        Instant now = clock.instant();
        live.publish(kind, subject, id -> {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("id", id);
            v.put("kind", kind);
            v.put("topic", topic);
            v.put("receivedAt", TIMESTAMP.format(now));
            v.put("payload", payload);
            try {
                return json.writeValueAsString(v);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        });
    }
}
