package dev.turnout.orchestrator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.turnout.orchestrator.domain.Device;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The edge daemon configuration written at enrollment (docs/device-config.md). */
final class DeviceConfigYaml {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .enable(YAMLGenerator.Feature.LITERAL_BLOCK_STYLE)
            .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS));

    private DeviceConfigYaml() {
    }

    /** The config of {@code device}, with its broker secret (shown once: it is not stored). */
    static String of(Device device, ServerInfo server, String mqttPassword) {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("deviceId", device.id());
        config.put("labels", new TreeMap<>(device.labels()));
        config.put("brokerUrl", server.deviceBrokerUrl());
        config.put("orchestratorUrl", server.orchestratorUrl());
        config.put("topicPrefix", server.topicPrefix());
        List<Map<String, Object>> keys = new java.util.ArrayList<>(); // during a key rotation: the announced key too
        for (dev.turnout.proto.crypto.PublicKey trusted : server.trustedKeys()) {
            Map<String, Object> key = new LinkedHashMap<>();
            key.put("keyId", trusted.keyId());
            key.put("publicKey", trusted.toBase64());
            keys.add(key);
        }
        config.put("trustedKeys", keys);
        config.put("mqttUsername", device.id());
        config.put("mqttPassword", mqttPassword);
        if (server.caPem() != null) {
            config.put("ca", server.caPem()); // the CA(s) the device pins for the broker and the orchestrator
        }
        try {
            return YAML.writeValueAsString(config);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the device config: " + e.getMessage(), e);
        }
    }
}
