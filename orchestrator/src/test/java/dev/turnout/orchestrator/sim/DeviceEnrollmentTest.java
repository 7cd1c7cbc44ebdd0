package dev.turnout.orchestrator.sim;

import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DeviceEnrollmentTest {

    private final SigningKey key = SigningKey.generate();

    @Test
    void readsTheConfigTheOrchestratorHandsOutIncludingBrokerCredentials() {
        DeviceEnrollment e = DeviceEnrollment.parse("""
                deviceId: pi-1
                labels: {site: attic}
                brokerUrl: tcp://10.0.0.5:1883
                orchestratorUrl: http://10.0.0.5:8080
                topicPrefix: trains/v1
                mqttUsername: pi-1
                mqttPassword: s3cret
                trustedKeys:
                - keyId: %s
                  publicKey: %s
                """.formatted(key.keyId(), key.publicKey().toBase64()));
        assertThat(e.deviceId()).isEqualTo("pi-1");
        assertThat(e.brokerUrl()).isEqualTo("tcp://10.0.0.5:1883");
        assertThat(e.topicPrefix()).isEqualTo("trains/v1");
        assertThat(e.trustedKeys()).containsExactly(key.publicKey());
        assertThat(e.mqttUsername()).isEqualTo("pi-1");
        assertThat(e.mqttPassword()).isEqualTo("s3cret");
        assertThat(e.toString()).doesNotContain("s3cret");
        assertThat(e.withBrokerUrl("tcp://127.0.0.1:1883").brokerUrl()).isEqualTo("tcp://127.0.0.1:1883");
    }

    @Test
    void withoutCredentialsTheDeviceConnectsAnonymouslyAndTheDefaultPrefixApplies() {
        DeviceEnrollment e = DeviceEnrollment.parse("deviceId: pi-2\nbrokerUrl: tcp://h:1883\ntrustedKeys:\n- publicKey: "
                + key.publicKey().toBase64() + "\n");
        assertThat(e.mqttUsername()).isNull();
        assertThat(e.mqttPassword()).isNull();
        assertThat(e.topicPrefix()).isEqualTo("turnout/v1");
    }

    @Test
    void aConfigWithoutTrustedKeyIsRefused() {
        assertThatThrownBy(() -> DeviceEnrollment.parse("deviceId: pi-3\nbrokerUrl: tcp://h:1883\n"))
                .hasMessageContaining("trustedKeys");
    }
}
