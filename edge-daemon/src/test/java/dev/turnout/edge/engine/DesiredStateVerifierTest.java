package dev.turnout.edge.engine;

import com.google.protobuf.ByteString;
import dev.turnout.proto.rules.TrustMark;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.KeyRotation;
import dev.turnout.proto.TrustedKey;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static dev.turnout.edge.engine.Fixtures.PLATFORM;
import static dev.turnout.edge.engine.Fixtures.activate;
import static org.assertj.core.api.Assertions.assertThat;

class DesiredStateVerifierTest {

    @TempDir
    Path dir;

    private final SigningKey key = SigningKey.generate();
    private final AtomicLong wallClock = new AtomicLong(NOW);
    private final Map<String, String> running = new HashMap<>();
    private FileStateStore store;
    private DesiredStateVerifier verifier;

    @BeforeEach
    void setUp() {
        store = new FileStateStore(dir);
        verifier = new DesiredStateVerifier(DEVICE, PLATFORM, new EnvelopeVerifier(List.of(key.publicKey())), store, wallClock::get,
                app -> running.getOrDefault(app, ""));
    }

    @Test
    void acceptsAndPersistsTheHighWaterMarkFirst() {
        assertThat(verifier.verify(wire(activate(5, "1.0.0")))).isInstanceOf(DesiredStateVerifier.Accepted.class);
        assertThat(new FileStateStore(dir).loadTrust()).isEqualTo(new TrustMark(5, NOW));
    }

    @Test
    void sameSequenceAgainIsARepeatNotAChange() {
        verifier.verify(wire(activate(5, "1.0.0")));
        assertThat(verifier.verify(wire(activate(5, "1.0.0")))).isInstanceOf(DesiredStateVerifier.Repeated.class);
        assertThat(store.loadTrust().lastSequence()).isEqualTo(5);
    }

    @Test
    void aRepeatedSequenceStillObeysThePerAppRules() {
        // found by the fuzz test: the same sequence with other content skipped the platform and downgrade checks
        verifier.verify(wire(activate(5, "1.0.0")));
        DesiredState state = activate(5, "1.0.0");
        DesiredState otherPlatform = state.toBuilder().setApps(0, state.getApps(0).toBuilder().setApp("db")
                .setRelease(state.getApps(0).getRelease().toBuilder().setImages(0, state.getApps(0).getRelease().getImages(0).toBuilder()
                        .setPlatform("linux/amd64")))).build();
        assertRefused(wire(otherPlatform), Reason.NO_IMAGE_FOR_PLATFORM);
        running.put("web", "2.0.0");
        assertRefused(wire(activate(5, "1.0.0")), Reason.DOWNGRADE);
    }

    @Test
    void olderSequenceIsAReplay() {
        verifier.verify(wire(activate(5, "1.0.0")));
        assertRefused(wire(activate(4, "1.0.0")), Reason.REPLAY);
        assertThat(store.loadTrust().lastSequence()).isEqualTo(5);
    }

    @Test
    void unknownKey() {
        assertRefused(SigningKey.generate().seal(activate(1, "1.0.0")).toByteArray(), Reason.UNKNOWN_KEY);
    }

    @Test
    void badSignatureIsRefusedBeforeParsing() {
        SignedEnvelope envelope = key.seal(activate(1, "1.0.0"));
        byte[] sig = envelope.getSignature().toByteArray();
        sig[10] ^= 0x40;
        assertRefused(envelope.toBuilder().setSignature(ByteString.copyFrom(sig)).build().toByteArray(), Reason.BAD_SIGNATURE);
        assertThat(store.loadTrust()).isEqualTo(TrustMark.NONE);
    }

    @Test
    void malformedEnvelopeAndPayload() {
        assertRefused(new byte[] {1, 2, 3, 4}, Reason.MALFORMED);
        byte[] notDesired = {(byte) 0xff, (byte) 0xff, (byte) 0xff};
        SignedEnvelope envelope = SignedEnvelope.newBuilder().setPayload(ByteString.copyFrom(notDesired))
                .setSignature(ByteString.copyFrom(key.sign(notDesired))).setKeyId(key.keyId()).build();
        assertRefused(envelope.toByteArray(), Reason.MALFORMED);
    }

    @Test
    void wrongDevice() {
        assertRefused(wire(activate(1, "1.0.0").toBuilder().setDeviceId("pi-2").build()), Reason.WRONG_DEVICE);
    }

    @Test
    void expiredAgainstTheWallClock() {
        wallClock.set(NOW + 7_200_000);
        assertRefused(wire(activate(1, "1.0.0")), Reason.EXPIRED);
    }

    @Test
    void expiredAgainstThePersistedTimeFloorWhenTheClockIsBehind() {
        DesiredState newer = activate(1, "1.0.0").toBuilder().setIssuedAtMs(NOW + 7_200_000).setExpiresAtMs(NOW + 9_000_000).build();
        verifier.verify(wire(newer));
        wallClock.set(0); // a Pi without RTC after reboot
        assertRefused(wire(activate(2, "1.0.0")), Reason.EXPIRED);
        assertThat(new FileStateStore(dir).loadTrust().timeFloorMs()).isEqualTo(NOW + 7_200_000);
    }

    @Test
    void downgradeNeedsTheRollbackFlag() {
        running.put("web", "2.0.0");
        assertRefused(wire(activate(1, "2.10.0")), null); // 2.10.0 > 2.0.0 numerically
        assertRefused(wire(activate(2, "1.9.9")), Reason.DOWNGRADE);
        assertThat(verifier.verify(wire(Fixtures.desired(3, "1.9.9", Phase.ACTIVATE, true)))).isInstanceOf(DesiredStateVerifier.Accepted.class);
    }

    @Test
    void noImageForThePlatform() {
        DesiredState state = activate(1, "1.0.0");
        DesiredState amd64 = state.toBuilder().setApps(0, state.getApps(0).toBuilder()
                .setRelease(state.getApps(0).getRelease().toBuilder().setImages(0, state.getApps(0).getRelease().getImages(0).toBuilder()
                        .setPlatform("linux/amd64")))).build();
        assertRefused(wire(amd64), Reason.NO_IMAGE_FOR_PLATFORM);
    }

    @Test
    void aSignedKeyRotationReplacesTheTrustedKeysAndSurvivesARestart() {
        SigningKey next = SigningKey.generate();
        DesiredState rotating = activate(1, "1.0.0").toBuilder().setKeyRotation(KeyRotation.newBuilder()
                .addKeys(TrustedKey.newBuilder().setKeyId(next.keyId()).setPublicKey(ByteString.copyFrom(next.publicKey().raw())))).build();
        assertThat(verifier.verify(wire(rotating))).isInstanceOf(DesiredStateVerifier.Accepted.class);
        assertRefused(wire(activate(2, "1.0.0")), Reason.UNKNOWN_KEY);
        DesiredStateVerifier afterRestart = new DesiredStateVerifier(DEVICE, PLATFORM, new EnvelopeVerifier(List.of(key.publicKey())),
                new FileStateStore(dir), wallClock::get, app -> "");
        assertThat(afterRestart.verify(next.seal(activate(2, "1.0.0")).toByteArray())).isInstanceOf(DesiredStateVerifier.Accepted.class);
    }

    @Test
    void aRotationWithAMismatchedKeyIdIsMalformedAndChangesNothing() {
        SigningKey next = SigningKey.generate();
        DesiredState rotating = activate(1, "1.0.0").toBuilder().setKeyRotation(KeyRotation.newBuilder()
                .addKeys(TrustedKey.newBuilder().setKeyId("ffffffffffffffff").setPublicKey(ByteString.copyFrom(next.publicKey().raw())))).build();
        assertRefused(wire(rotating), Reason.MALFORMED);
        assertThat(store.loadTrust()).isEqualTo(TrustMark.NONE);
        assertThat(store.loadRotatedKeys()).isEmpty();
    }

    /** reason null: expect acceptance instead. */
    private void assertRefused(byte[] wire, Reason reason) {
        DesiredStateVerifier.Verdict verdict = verifier.verify(wire);
        if (reason == null) {
            assertThat(verdict).isInstanceOf(DesiredStateVerifier.Accepted.class);
            return;
        }
        assertThat(verdict).isInstanceOf(DesiredStateVerifier.Refused.class);
        assertThat(((DesiredStateVerifier.Refused) verdict).reason()).isEqualTo(reason);
    }

    private byte[] wire(DesiredState state) {
        return key.seal(state).toByteArray();
    }
}
