package dev.turnout.orchestrator.http;

/** What the API tells about this orchestrator and writes into device configs. */
public record ServerInfo(String keyId, String publicKeyBase64, String deviceBrokerUrl, String orchestratorUrl,
                         String topicPrefix, String version) {
}
