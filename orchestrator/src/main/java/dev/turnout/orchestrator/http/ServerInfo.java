package dev.turnout.orchestrator.http;

/**
 * What the API tells about this orchestrator and writes into device configs.
 *
 * @param caPem the CA certificate(s), PEM, that devices pin for the broker and the orchestrator; null without TLS
 */
public record ServerInfo(String keyId, String publicKeyBase64, String deviceBrokerUrl, String orchestratorUrl,
                         String topicPrefix, String version, String caPem) {

    /** Without TLS. */
    public ServerInfo(String keyId, String publicKeyBase64, String deviceBrokerUrl, String orchestratorUrl,
                      String topicPrefix, String version) {
        this(keyId, publicKeyBase64, deviceBrokerUrl, orchestratorUrl, topicPrefix, version, null);
    }
}
