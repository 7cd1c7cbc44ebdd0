package dev.turnout.orchestrator.webhook;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.HexFormat;

/**
 * The signature of a delivery: {@code X-Turnout-Signature: sha256=<hex>}, the lowercase hex HMAC-SHA256,
 * keyed with the webhook's secret (its UTF-8 bytes), of {@code "<X-Turnout-Timestamp>.<body>"}, the
 * timestamp being the Unix time in seconds of the attempt. Receivers recompute it over the raw body and
 * compare in constant time, and refuse timestamps too far from their clock (replays).
 */
public final class WebhookSignature {

    /** The prefix of the header value, naming the algorithm. */
    public static final String PREFIX = "sha256=";

    private WebhookSignature() {
    }

    /** {@code sha256=<hex>} for {@code body} sent at {@code timestampSeconds}. */
    public static String sign(String secret, long timestampSeconds, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            mac.update((timestampSeconds + ".").getBytes(StandardCharsets.US_ASCII));
            mac.update(body);
            return PREFIX + HexFormat.of().formatHex(mac.doFinal());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }

    /** True when {@code header} is the signature of {@code body} at {@code timestampSeconds} (constant-time comparison). */
    public static boolean verify(String secret, long timestampSeconds, byte[] body, String header) {
        if (header == null) {
            return false;
        }
        return java.security.MessageDigest.isEqual(sign(secret, timestampSeconds, body).getBytes(StandardCharsets.US_ASCII),
                header.getBytes(StandardCharsets.US_ASCII));
    }
}
