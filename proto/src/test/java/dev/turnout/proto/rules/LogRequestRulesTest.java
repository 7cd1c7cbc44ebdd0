package dev.turnout.proto.rules;

import com.google.protobuf.ByteString;
import dev.turnout.proto.LogRequest;
import dev.turnout.proto.Reason;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A device answers a log request only when the orchestrator signed it for this device, and it is still fresh. */
class LogRequestRulesTest {

    private static final long NOW = 1_800_000_000_000L;

    private final SigningKey orchestrator = SigningKey.generate();
    private final EnvelopeVerifier trusted = new EnvelopeVerifier(List.of(orchestrator.publicKey()));
    private final LogRequestRules rules = new LogRequestRules("pi-1");

    private static LogRequest.Builder request() {
        return LogRequest.newBuilder().setRequestId("req-1").setDeviceId("pi-1").setApp("web").setTailLines(50)
                .setIssuedAtMs(NOW).setExpiresAtMs(NOW + 30_000);
    }

    private LogRequestRules.Verdict judge(byte[] wire) {
        return rules.judge(wire, trusted, NOW + 1_000, true);
    }

    private static Reason refusedFor(LogRequestRules.Verdict verdict) {
        assertThat(verdict).isInstanceOf(LogRequestRules.Refused.class);
        return ((LogRequestRules.Refused) verdict).reason();
    }

    @Test
    void aRequestTheOrchestratorSignedForThisDeviceIsAnswered() {
        LogRequestRules.Verdict verdict = judge(orchestrator.seal(request().build()).toByteArray());
        assertThat(verdict).isInstanceOfSatisfying(LogRequestRules.Accepted.class, a -> {
            assertThat(a.request().getApp()).isEqualTo("web");
            assertThat(a.tail()).isEqualTo(50);
        });
        assertThat(judge(orchestrator.seal(request().setTailLines(0).build()).toByteArray()))
                .isInstanceOfSatisfying(LogRequestRules.Accepted.class, a -> assertThat(a.tail()).isEqualTo(100));
    }

    @Test
    void aBadSignatureAnUnknownKeyOrNoEnvelopeIsRefused() {
        SignedEnvelope good = orchestrator.seal(request().build());
        byte[] altered = good.toBuilder().setPayload(ByteString.copyFrom(request().setApp("db").build().toByteArray())).build().toByteArray();
        assertThat(refusedFor(judge(altered))).isEqualTo(Reason.BAD_SIGNATURE);
        SigningKey attacker = SigningKey.generate();
        assertThat(refusedFor(judge(attacker.seal(request().build()).toByteArray()))).isEqualTo(Reason.UNKNOWN_KEY);
        byte[] claimsTheRealKey = attacker.seal(request().build()).toBuilder().setKeyId(orchestrator.keyId()).build().toByteArray();
        assertThat(refusedFor(judge(claimsTheRealKey))).isEqualTo(Reason.BAD_SIGNATURE);
        assertThat(refusedFor(judge(request().build().toByteArray()))).as("an unsigned request").isIn(Reason.UNKNOWN_KEY, Reason.MALFORMED);
        assertThat(refusedFor(judge(new byte[] {1, 2, 3}))).isEqualTo(Reason.MALFORMED);
    }

    @Test
    void aRequestForAnotherDeviceIsRefused() {
        assertThat(refusedFor(judge(orchestrator.seal(request().setDeviceId("pi-2").build()).toByteArray()))).isEqualTo(Reason.WRONG_DEVICE);
        assertThat(refusedFor(judge(orchestrator.seal(request().clearDeviceId().build()).toByteArray()))).isEqualTo(Reason.WRONG_DEVICE);
    }

    @Test
    void malformedRequestsAreRefused() {
        for (LogRequest bad : List.of(request().clearRequestId().build(), request().setRequestId("a/b").build(),
                request().clearApp().build(), request().setApp("we b").build(), request().setTailLines(1001).build(),
                request().setTailLines(-1).build(), request().setSinceNs(-5).build(), request().clearExpiresAtMs().build(),
                request().setExpiresAtMs(NOW + LogRequestRules.MAX_LIFETIME_MS + 1).build())) {
            assertThat(refusedFor(judge(orchestrator.seal(bad).toByteArray()))).as(bad.toString()).isEqualTo(Reason.MALFORMED);
        }
    }

    @Test
    void anExpiredRequestIsRefusedOnlyByASynchronisedClock() {
        byte[] wire = orchestrator.seal(request().build()).toByteArray();
        assertThat(refusedFor(rules.judge(wire, trusted, NOW + 31_000, true))).isEqualTo(Reason.EXPIRED);
        assertThat(rules.judge(wire, trusted, NOW + 31_000, false)).isInstanceOf(LogRequestRules.Accepted.class);
    }
}
