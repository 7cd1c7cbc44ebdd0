package dev.turnout.proto.rules;

import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.PublicKey;

import java.util.Collection;

/**
 * What a device trusts when a desired state arrives: the keys it must be signed with and the
 * high-water mark of what it accepted before. A value: {@link TrustRules} returns the next one.
 *
 * @param keys the trusted keys (the enrolled ones, or the last signed rotation)
 * @param mark the highest sequence accepted and the device's time floor
 */
public record DeviceTrust(EnvelopeVerifier keys, TrustMark mark) {

    /** A device that trusts {@code keys} and has accepted nothing yet. */
    public static DeviceTrust of(Collection<PublicKey> keys) {
        return new DeviceTrust(new EnvelopeVerifier(keys), TrustMark.NONE);
    }
}
