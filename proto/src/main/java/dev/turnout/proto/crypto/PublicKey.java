package dev.turnout.proto.crypto;

import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;

/**
 * An Ed25519 public key and its key id (first 8 bytes of SHA-256 of the raw key, in hex).
 * Its text form is the Base64 of the raw 32 bytes.
 */
public final class PublicKey {

    private final byte[] raw;
    private final String keyId;
    private final Ed25519PublicKeyParameters params;

    private PublicKey(byte[] raw) {
        if (raw.length != Ed25519PublicKeyParameters.KEY_SIZE) {
            throw new IllegalArgumentException("an Ed25519 public key is 32 bytes, got " + raw.length);
        }
        this.raw = raw.clone();
        this.params = new Ed25519PublicKeyParameters(this.raw, 0);
        this.keyId = computeKeyId(this.raw);
    }

    public static PublicKey of(byte[] raw) {
        return new PublicKey(raw);
    }

    public static PublicKey fromBase64(String text) {
        try {
            return new PublicKey(Base64.getDecoder().decode(text.trim()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a Base64 Ed25519 public key: " + e.getMessage(), e);
        }
    }

    public String keyId() {
        return keyId;
    }

    public byte[] raw() {
        return raw.clone();
    }

    public String toBase64() {
        return Base64.getEncoder().encodeToString(raw);
    }

    public boolean verify(byte[] data, byte[] signature) {
        if (signature == null || signature.length != 64) {
            return false;
        }
        Ed25519Signer verifier = new Ed25519Signer();
        verifier.init(false, params);
        verifier.update(data, 0, data.length);
        return verifier.verifySignature(signature);
    }

    static String computeKeyId(byte[] raw) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(raw);
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PublicKey other && Arrays.equals(raw, other.raw);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(raw);
    }

    @Override
    public String toString() {
        return "PublicKey[" + keyId + "]";
    }
}
