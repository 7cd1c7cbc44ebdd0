package dev.turnout.proto.crypto;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.proto.Reason;
import dev.turnout.proto.SignedEnvelope;

import java.util.Collection;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Checks the signature of an envelope against a fixed set of trusted keys, before anything inside
 * the payload is parsed.
 */
public final class EnvelopeVerifier {

    /** Largest envelope accepted on the wire; bigger ones are refused unparsed. */
    public static final int MAX_ENVELOPE_BYTES = 1 << 20;

    private final Map<String, PublicKey> trusted;

    public EnvelopeVerifier(Collection<PublicKey> trustedKeys) {
        this.trusted = trustedKeys.stream().collect(Collectors.toUnmodifiableMap(PublicKey::keyId, Function.identity(), (a, b) -> a));
    }

    public Collection<PublicKey> trustedKeys() {
        return trusted.values();
    }

    /** Parses the envelope from wire bytes and verifies it; returns the verified payload bytes. */
    public byte[] open(byte[] wire) throws VerificationException {
        if (wire == null || wire.length > MAX_ENVELOPE_BYTES) {
            throw new VerificationException(Reason.MALFORMED, "envelope larger than " + MAX_ENVELOPE_BYTES + " bytes");
        }
        SignedEnvelope envelope;
        try {
            envelope = SignedEnvelope.parseFrom(wire);
        } catch (InvalidProtocolBufferException e) {
            throw new VerificationException(Reason.MALFORMED, "not a signed envelope: " + e.getMessage());
        }
        return open(envelope);
    }

    /** Verifies the envelope; returns the verified payload bytes. */
    public byte[] open(SignedEnvelope envelope) throws VerificationException {
        if (envelope.getPayload().isEmpty() || envelope.getSignature().isEmpty()) {
            throw new VerificationException(Reason.MALFORMED, "envelope has no payload or no signature");
        }
        PublicKey key = trusted.get(envelope.getKeyId());
        if (key == null) {
            throw new VerificationException(Reason.UNKNOWN_KEY, "signed by unknown key '" + printable(envelope.getKeyId()) + "'");
        }
        byte[] payload = envelope.getPayload().toByteArray();
        if (!key.verify(payload, envelope.getSignature().toByteArray())) {
            throw new VerificationException(Reason.BAD_SIGNATURE, "signature does not verify with key " + key.keyId());
        }
        return payload;
    }

    private static String printable(String s) {
        String cut = s.length() > 32 ? s.substring(0, 32) + "..." : s;
        return cut.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
