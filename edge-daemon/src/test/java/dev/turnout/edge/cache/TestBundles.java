package dev.turnout.edge.cache;

import dev.turnout.proto.BundleManifest;
import dev.turnout.proto.Release;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.crypto.SigningKey;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes offline bundles the way {@code turnout bundle export} does: an uncompressed tar with
 * {@code manifest.bin} first, then {@code artifacts/sha256-<hex>} per archive.
 */
public final class TestBundles {

    private TestBundles() {
    }

    /** "sha256:<hex>" of the bytes. */
    public static String digest(byte[] bytes) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The signed manifest of a release. */
    public static SignedEnvelope manifest(SigningKey key, Release release, long createdAtMs) {
        return key.seal(BundleManifest.newBuilder().setApp(release.getApp()).setRelease(release).setCreatedAtMs(createdAtMs).build());
    }

    /** A bundle: the manifest entry, then one entry per archive, named by the archive's digest. */
    public static Path write(Path file, SignedEnvelope manifest, Map<String, byte[]> archivesByDigest) throws IOException {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put(BundleImport.MANIFEST, manifest.toByteArray());
        archivesByDigest.forEach((digest, bytes) -> entries.put(BundleImport.ARTIFACTS + digest.replace(':', '-'), bytes));
        return writeEntries(file, entries);
    }

    /** A tar with exactly these entries, in this order (for malformed bundles too). */
    public static Path writeEntries(Path file, Map<String, byte[]> entries) throws IOException {
        try (OutputStream out = Files.newOutputStream(file); TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey());
                entry.setSize(e.getValue().length);
                tar.putArchiveEntry(entry);
                tar.write(e.getValue());
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
        return file;
    }
}
