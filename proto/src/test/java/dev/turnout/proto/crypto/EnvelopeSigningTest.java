package dev.turnout.proto.crypto;

import com.google.protobuf.ByteString;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Reason;
import dev.turnout.proto.SignedEnvelope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EnvelopeSigningTest {

    private final SigningKey key = SigningKey.generate();
    private final DesiredState state = DesiredState.newBuilder().setDeviceId("pi-1").setSequence(7).build();

    @Test
    void sealedEnvelopeOpensToTheExactPayload() throws Exception {
        SignedEnvelope envelope = key.seal(state);
        byte[] payload = new EnvelopeVerifier(List.of(key.publicKey())).open(envelope.toByteArray());
        assertThat(DesiredState.parseFrom(payload)).isEqualTo(state);
        assertThat(envelope.getKeyId()).isEqualTo(key.keyId()).hasSize(16);
    }

    @Test
    void flippedPayloadBitIsABadSignature() {
        SignedEnvelope envelope = key.seal(state);
        byte[] payload = envelope.getPayload().toByteArray();
        payload[payload.length - 1] ^= 1;
        SignedEnvelope tampered = envelope.toBuilder().setPayload(ByteString.copyFrom(payload)).build();
        assertThatThrownBy(() -> new EnvelopeVerifier(List.of(key.publicKey())).open(tampered))
                .isInstanceOfSatisfying(VerificationException.class, e -> assertThat(e.reason()).isEqualTo(Reason.BAD_SIGNATURE));
    }

    @Test
    void otherKeyWithForgedKeyIdIsABadSignature() {
        SigningKey attacker = SigningKey.generate();
        SignedEnvelope forged = attacker.seal(state).toBuilder().setKeyId(key.keyId()).build();
        assertThatThrownBy(() -> new EnvelopeVerifier(List.of(key.publicKey())).open(forged))
                .isInstanceOfSatisfying(VerificationException.class, e -> assertThat(e.reason()).isEqualTo(Reason.BAD_SIGNATURE));
    }

    @Test
    void untrustedKeyIsUnknown() {
        SignedEnvelope envelope = SigningKey.generate().seal(state);
        assertThatThrownBy(() -> new EnvelopeVerifier(List.of(key.publicKey())).open(envelope))
                .isInstanceOfSatisfying(VerificationException.class, e -> assertThat(e.reason()).isEqualTo(Reason.UNKNOWN_KEY));
    }

    @Test
    void garbageIsMalformed() {
        assertThatThrownBy(() -> new EnvelopeVerifier(List.of(key.publicKey())).open(new byte[] {(byte) 0xff, 0x01, 0x02}))
                .isInstanceOfSatisfying(VerificationException.class, e -> assertThat(e.reason()).isEqualTo(Reason.MALFORMED));
        assertThatThrownBy(() -> new EnvelopeVerifier(List.of(key.publicKey())).open(new byte[0]))
                .isInstanceOfSatisfying(VerificationException.class, e -> assertThat(e.reason()).isEqualTo(Reason.MALFORMED));
    }

    @Test
    void keyRoundTripsThroughPemFileReadableOnlyByOwner(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("signing.key");
        SigningKey created = SigningKey.loadOrCreate(file);
        SigningKey loaded = SigningKey.loadOrCreate(file);
        assertThat(loaded.keyId()).isEqualTo(created.keyId());
        assertThat(Files.getPosixFilePermissions(file)).containsExactlyInAnyOrder(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
        assertThat(Files.readString(file)).startsWith("-----BEGIN PRIVATE KEY-----");
        assertThat(loaded.toString()).doesNotContain(Files.readString(file).split("\n")[1]);
        SignedEnvelope envelope = created.seal(state);
        assertThat(loaded.publicKey().verify(envelope.getPayload().toByteArray(), envelope.getSignature().toByteArray())).isTrue();
    }

    @Test
    void publicKeyTextFormRoundTrips() {
        PublicKey parsed = PublicKey.fromBase64(key.publicKey().toBase64());
        assertThat(parsed).isEqualTo(key.publicKey());
        assertThat(parsed.keyId()).isEqualTo(key.keyId());
        assertThatThrownBy(() -> PublicKey.fromBase64("AAAA")).isInstanceOf(IllegalArgumentException.class);
    }
}
