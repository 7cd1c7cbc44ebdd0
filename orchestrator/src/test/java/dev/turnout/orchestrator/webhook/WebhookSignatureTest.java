package dev.turnout.orchestrator.webhook;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class WebhookSignatureTest {

    private static final String SECRET = "whsec-0123456789abcdef";
    private static final byte[] BODY = "{\"id\":\"d1\",\"event\":\"ping\"}".getBytes(StandardCharsets.UTF_8);

    @Test
    void isTheHexHmacSha256OfTimestampDotBody() {
        // python3: hmac.new(b'whsec-0123456789abcdef', b'1700000000.{"id":"d1","event":"ping"}', hashlib.sha256).hexdigest()
        assertThat(WebhookSignature.sign(SECRET, 1_700_000_000L, BODY))
                .isEqualTo("sha256=a9a4af290379cec75c8999e0688248f91f711f2a3b5a7a784071daf2bc73deb3");
    }

    @Test
    void verifiesOnlyTheSameSecretTimestampAndBody() {
        String header = WebhookSignature.sign(SECRET, 1_700_000_000L, BODY);
        assertThat(WebhookSignature.verify(SECRET, 1_700_000_000L, BODY, header)).isTrue();
        assertThat(WebhookSignature.verify(SECRET + "x", 1_700_000_000L, BODY, header)).isFalse();
        assertThat(WebhookSignature.verify(SECRET, 1_700_000_001L, BODY, header)).isFalse();
        assertThat(WebhookSignature.verify(SECRET, 1_700_000_000L, "{\"id\":\"d2\",\"event\":\"ping\"}".getBytes(StandardCharsets.UTF_8),
                header)).isFalse();
        assertThat(WebhookSignature.verify(SECRET, 1_700_000_000L, BODY, null)).isFalse();
    }
}
