package dev.turnout.proto.crypto;

import com.google.protobuf.MessageLite;
import dev.turnout.proto.SignedEnvelope;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.edec.EdECObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;
import org.bouncycastle.util.io.pem.PemWriter;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;

/**
 * An Ed25519 private key that signs envelopes. Stored as PKCS#8 v1 PEM ("PRIVATE KEY"), which
 * both Bouncy Castle and OpenSSL read.
 */
public final class SigningKey {

    private final Ed25519PrivateKeyParameters privateKey;
    private final PublicKey publicKey;

    private SigningKey(Ed25519PrivateKeyParameters privateKey) {
        this.privateKey = privateKey;
        this.publicKey = PublicKey.of(privateKey.generatePublicKey().getEncoded());
    }

    public static SigningKey generate() {
        return new SigningKey(new Ed25519PrivateKeyParameters(new SecureRandom()));
    }

    public static SigningKey fromSeed(byte[] seed) {
        return new SigningKey(new Ed25519PrivateKeyParameters(seed, 0));
    }

    public PublicKey publicKey() {
        return publicKey;
    }

    public String keyId() {
        return publicKey.keyId();
    }

    /** Ed25519 signature over exactly {@code data}. */
    public byte[] sign(byte[] data) {
        Ed25519Signer signer = new Ed25519Signer();
        signer.init(true, privateKey);
        signer.update(data, 0, data.length);
        return signer.generateSignature();
    }

    /** Serializes {@code message} once and signs exactly those bytes. */
    public SignedEnvelope seal(MessageLite message) {
        byte[] payload = message.toByteArray();
        return SignedEnvelope.newBuilder()
                .setPayload(com.google.protobuf.ByteString.copyFrom(payload))
                .setSignature(com.google.protobuf.ByteString.copyFrom(sign(payload)))
                .setKeyId(keyId())
                .build();
    }

    public String toPem() {
        try {
            PrivateKeyInfo info = new PrivateKeyInfo(new AlgorithmIdentifier(EdECObjectIdentifiers.id_Ed25519),
                    new DEROctetString(privateKey.getEncoded()));
            StringWriter out = new StringWriter();
            try (PemWriter writer = new PemWriter(out)) {
                writer.writeObject(new PemObject("PRIVATE KEY", info.getEncoded()));
            }
            return out.toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static SigningKey fromPem(String pem) {
        try (PemReader reader = new PemReader(new StringReader(pem))) {
            PemObject obj = reader.readPemObject();
            if (obj == null || !"PRIVATE KEY".equals(obj.getType())) {
                throw new IllegalArgumentException("not a PEM 'PRIVATE KEY'");
            }
            PrivateKeyInfo info = PrivateKeyInfo.getInstance(obj.getContent());
            if (!EdECObjectIdentifiers.id_Ed25519.equals(info.getPrivateKeyAlgorithm().getAlgorithm())) {
                throw new IllegalArgumentException("not an Ed25519 private key");
            }
            ASN1Primitive inner = info.parsePrivateKey().toASN1Primitive();
            byte[] seed = ASN1OctetString.getInstance(inner).getOctets();
            return fromSeed(seed);
        } catch (IOException e) {
            throw new IllegalArgumentException("unreadable private key: " + e.getMessage(), e);
        }
    }

    /** Writes the key owner-readable only (0600), atomically. */
    public void save(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, ".key", ".tmp");
        try {
            try {
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException ignored) {
                // non-POSIX file system
            }
            Files.writeString(tmp, toPem(), StandardCharsets.US_ASCII);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    public static SigningKey load(Path file) throws IOException {
        return fromPem(Files.readString(file, StandardCharsets.US_ASCII));
    }

    /** Loads the key in {@code file}, or generates and saves one if the file does not exist. */
    public static SigningKey loadOrCreate(Path file) throws IOException {
        if (Files.exists(file)) {
            return load(file);
        }
        SigningKey key = generate();
        key.save(file);
        return key;
    }

    @Override
    public String toString() {
        return "SigningKey[" + keyId() + "]"; // never the secret
    }
}
