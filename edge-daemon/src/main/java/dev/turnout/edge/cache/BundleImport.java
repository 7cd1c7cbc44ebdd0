package dev.turnout.edge.cache;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.BundleManifest;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Reason;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.VerificationException;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Imports an offline bundle into the artifact cache (docs/edge-daemon.md, "Offline bundles"). A bundle is an
 * uncompressed tar: first {@code manifest.bin}, a SignedEnvelope of a {@link BundleManifest} signed by a
 * trusted key, then {@code artifacts/sha256-<hex>} entries with the {@code docker save} archives the release
 * names. The signature is checked before the manifest is parsed; the archive for this device's platform is
 * checked against the signed size and digest exactly like a download; archives for other platforms are
 * skipped. Nothing outside the cache changes.
 */
public final class BundleImport {

    /** Name of the signed manifest entry, which must come first. */
    public static final String MANIFEST = "manifest.bin";
    /** Directory of the archive entries, each named {@code sha256-<hex>}. */
    public static final String ARTIFACTS = "artifacts/";

    /**
     * What was imported.
     *
     * @param app the app the bundle is for
     * @param version the release version
     * @param artifact the archive for this device's platform, now in the cache
     * @param createdAtMs when the bundle was made (orchestrator clock)
     */
    public record Imported(String app, String version, ImageArtifact artifact, long createdAtMs) {
    }

    private final EnvelopeVerifier keys;
    private final String platform;
    private final ArtifactCache cache;

    public BundleImport(EnvelopeVerifier keys, String platform, ArtifactCache cache) {
        this.keys = keys;
        this.platform = platform;
        this.cache = cache;
    }

    /** Imports the bundle; throws with the reason (BAD_SIGNATURE, DIGEST_MISMATCH, SIZE_MISMATCH, ...) when it is refused. */
    public Imported importFile(Path bundle) throws UpdateFailure {
        try (InputStream file = new BufferedInputStream(Files.newInputStream(bundle), 1 << 16);
             TarArchiveInputStream tar = new TarArchiveInputStream(file)) {
            BundleManifest manifest = readManifest(tar);
            ImageArtifact mine = manifest.getRelease().getImagesList().stream().filter(i -> platform.equals(i.getPlatform())).findFirst()
                    .orElseThrow(() -> new UpdateFailure(Reason.NO_IMAGE_FOR_PLATFORM, "bundle " + manifest.getApp() + " "
                            + manifest.getRelease().getVersion() + " has no image for " + platform));
            boolean imported = false;
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                if (entry.isDirectory()) {
                    continue;
                }
                String name = normalize(entry.getName());
                if (!entry.isFile() || !name.startsWith(ARTIFACTS)) {
                    throw new UpdateFailure(Reason.MALFORMED, "unexpected bundle entry '" + printable(name) + "'");
                }
                String digest = name.substring(ARTIFACTS.length()).replaceFirst("^sha256-", "sha256:");
                Optional<ImageArtifact> signed = manifest.getRelease().getImagesList().stream()
                        .filter(i -> i.getArchiveDigest().equals(digest)).findFirst();
                if (signed.isEmpty()) {
                    throw new UpdateFailure(Reason.MALFORMED, "bundle entry '" + printable(name) + "' is not in the signed manifest");
                }
                if (signed.get().equals(mine)) {
                    cache.importArchive(mine, tar, entry.getSize());
                    imported = true;
                }
            }
            if (!imported) {
                throw new UpdateFailure(Reason.NO_IMAGE_FOR_PLATFORM, "bundle holds no archive for " + platform + " (manifest names "
                        + mine.getArchiveDigest() + ")");
            }
            return new Imported(manifest.getApp(), manifest.getRelease().getVersion(), mine, manifest.getCreatedAtMs());
        } catch (NoSuchFileException e) {
            throw new UpdateFailure(Reason.MALFORMED, "no such file: " + bundle);
        } catch (IOException | IllegalArgumentException e) {
            throw new UpdateFailure(Reason.MALFORMED, "not a readable bundle: " + e.getMessage());
        }
    }

    private BundleManifest readManifest(TarArchiveInputStream tar) throws IOException, UpdateFailure {
        TarArchiveEntry first = tar.getNextEntry();
        while (first != null && first.isDirectory()) {
            first = tar.getNextEntry();
        }
        if (first == null || !MANIFEST.equals(normalize(first.getName()))) {
            throw new UpdateFailure(Reason.MALFORMED, "bundle must start with " + MANIFEST);
        }
        if (first.getSize() > EnvelopeVerifier.MAX_ENVELOPE_BYTES) {
            throw new UpdateFailure(Reason.MALFORMED, MANIFEST + " is larger than " + EnvelopeVerifier.MAX_ENVELOPE_BYTES + " bytes");
        }
        byte[] payload;
        try {
            payload = keys.open(tar.readNBytes((int) first.getSize()));
        } catch (VerificationException e) {
            throw new UpdateFailure(e.reason(), "bundle manifest refused: " + e.getMessage());
        }
        BundleManifest manifest;
        try {
            manifest = BundleManifest.parseFrom(payload);
        } catch (InvalidProtocolBufferException e) {
            throw new UpdateFailure(Reason.MALFORMED, "signed " + MANIFEST + " is not a bundle manifest");
        }
        if (manifest.getApp().isEmpty() || !manifest.hasRelease() || manifest.getRelease().getVersion().isEmpty()) {
            throw new UpdateFailure(Reason.MALFORMED, "bundle manifest names no app, release or version");
        }
        return manifest;
    }

    private static String normalize(String name) {
        return name.startsWith("./") ? name.substring(2) : name;
    }

    private static String printable(String s) {
        String cut = s.length() > 80 ? s.substring(0, 80) + "..." : s;
        return cut.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
