package dev.turnout.orchestrator.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.turnout.proto.crypto.PublicKey;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * What a device learns at enrollment: the edge daemon config the orchestrator returns
 * ({@code docs/device-config.md}), read the way the daemon reads it.
 *
 * @param deviceId     the device id, also its MQTT client id
 * @param brokerUrl    the broker it connects to
 * @param topicPrefix  MQTT topic prefix
 * @param trustedKeys  keys its desired states must be signed with
 * @param mqttUsername broker user name (null: none)
 * @param mqttPassword broker password (null: none)
 * @param config       the YAML as the orchestrator wrote it (what a real daemon is given)
 */
public record DeviceEnrollment(String deviceId, String brokerUrl, String topicPrefix, List<PublicKey> trustedKeys,
                               String mqttUsername, String mqttPassword, String config) {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** Reads an enrollment config; refuses one without device id, broker or trusted key. */
    public static DeviceEnrollment parse(String yaml) {
        JsonNode node;
        try {
            node = YAML.readTree(yaml);
        } catch (IOException e) {
            throw new IllegalArgumentException("the enrollment config is not YAML: " + e.getMessage(), e);
        }
        String id = text(node, "deviceId");
        String broker = text(node, "brokerUrl");
        List<PublicKey> keys = new ArrayList<>();
        for (JsonNode k : node.path("trustedKeys")) {
            keys.add(PublicKey.fromBase64(k.path("publicKey").asText()));
        }
        if (id == null || broker == null || keys.isEmpty()) {
            throw new IllegalArgumentException("the enrollment config lacks deviceId, brokerUrl or trustedKeys");
        }
        String prefix = text(node, "topicPrefix");
        return new DeviceEnrollment(id, broker, prefix == null ? dev.turnout.proto.Topics.DEFAULT_PREFIX : prefix, List.copyOf(keys),
                text(node, "mqttUsername"), text(node, "mqttPassword"), yaml);
    }

    /** The CA(s) the config pins for TLS ({@code ca}); null when it has none. */
    public dev.turnout.proto.tls.PinnedTrust trust() {
        if (config == null) {
            return null;
        }
        try {
            String ca = text(YAML.readTree(config), "ca");
            return ca == null ? null : dev.turnout.proto.tls.PinnedTrust.fromPem(ca, "the CA in the enrollment config (ca)");
        } catch (IOException e) {
            throw new IllegalArgumentException("the enrollment config is not YAML: " + e.getMessage(), e);
        }
    }

    /** The same device on another broker. */
    public DeviceEnrollment withBrokerUrl(String url) {
        return new DeviceEnrollment(deviceId, url, topicPrefix, trustedKeys, mqttUsername, mqttPassword, config);
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.path(field);
        return v.isMissingNode() || v.isNull() || v.asText().isEmpty() ? null : v.asText();
    }

    @Override
    public String toString() {
        return "DeviceEnrollment[" + deviceId + ", " + brokerUrl + ", user=" + mqttUsername + ", password="
                + (mqttPassword == null ? "none" : "***") + "]";
    }
}
