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
 * skipped. Nothing outside the cache changes. A delta bundle (the manifest names {@code against_version}) holds
 * {@code blobs/} and {@code deltas/} entries instead: the device builds the archive from the blobs it holds of that
 * release plus these, or refuses, naming what it lacks, before it writes anything.
 */
public final class BundleImport {

    /** Name of the signed manifest entry, which must come first. */
    public static final String MANIFEST = "manifest.bin";
    /** Directory of the archive entries, each named {@code sha256-<hex>}. */
    public static final String ARTIFACTS = "artifacts/";
    /** In a delta bundle: a blob of the release, whole, named {@code sha256-<hex>}. */
    public static final String BLOBS = "blobs/";
    /** In a delta bundle: the delta that makes blob {@code sha256-<hex>} of its signed delta base. */
    public static final String DELTAS = "deltas/";

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
            if (!manifest.getAgainstVersion().isEmpty()) {
                tar.close();
                return importDelta(bundle, manifest, mine);
            }
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

    /**
     * A delta bundle: {@code blobs/} and {@code deltas/} entries that, with the blobs of the release it is against that
     * this device holds, make the archive of {@code mine}. A first pass reads the entry names and checks that the device
     * holds all the rest (else it refuses, naming the release and the blobs, before anything is written); the second
     * stages the entries for this platform beside the cache, where {@link ArtifactCache#importFromBlobs} checks them.
     */
    private Imported importDelta(Path bundle, BundleManifest manifest, ImageArtifact mine) throws IOException, UpdateFailure {
        String against = manifest.getApp() + " " + manifest.getAgainstVersion();
        if (mine.getBlobsCount() == 0) {
            throw new UpdateFailure(Reason.MALFORMED, "delta bundle against " + against + " signs no blob list for " + platform);
        }
        java.util.Set<String> signed = new java.util.HashSet<>();
        manifest.getRelease().getImagesList().forEach(i -> i.getBlobsList().forEach(b -> signed.add(b.getDigest())));
        java.util.Set<String> whole = new java.util.HashSet<>();
        java.util.Set<String> deltas = new java.util.HashSet<>();
        forEachDeltaEntry(bundle, signed, (entry, named, tar) -> (named[0].equals(BLOBS) ? whole : deltas).add(named[1]));
        if (cache.isCached(mine)) {
            cache.importFromBlobs(mine, java.util.Map.of(), java.util.Map.of());
            return new Imported(manifest.getApp(), manifest.getRelease().getVersion(), mine, manifest.getCreatedAtMs());
        }
        java.util.List<String> lacking = cache.lacking(mine, whole, deltas);
        if (!lacking.isEmpty()) {
            throw new UpdateFailure(Reason.LAYER_MISMATCH, "bundle " + manifest.getApp() + " " + manifest.getRelease().getVersion()
                    + " holds only what changed since " + against + ", and this device lacks " + lacking.size() + " blob(s) of it: "
                    + String.join(", ", lacking.subList(0, Math.min(3, lacking.size()))) + (lacking.size() > 3 ? ", ..." : "")
                    + "; import " + against + " first (or a full bundle, without --against); nothing changed");
        }
        java.util.Set<String> mineBlobs = new java.util.HashSet<>();
        mine.getBlobsList().forEach(b -> mineBlobs.add(b.getDigest()));
        long cap = mine.getBlobsList().stream().mapToLong(dev.turnout.proto.Blob::getSize).max().orElse(0);
        Path staging = cache.importStaging(mine);
        try {
            java.util.Map<String, Path> wholeFiles = new java.util.HashMap<>();
            java.util.Map<String, Path> deltaFiles = new java.util.HashMap<>();
            forEachDeltaEntry(bundle, signed, (entry, named, tar) -> {
                if (!mineBlobs.contains(named[1])) {
                    return; // another platform's
                }
                if (entry.getSize() > cap) {
                    throw new UpdateFailure(Reason.SIZE_MISMATCH, "bundle entry '" + printable(entry.getName())
                            + "' is larger than any blob the release signs");
                }
                Path to = staging.resolve((named[0].equals(BLOBS) ? "blob-" : "delta-") + named[1].substring("sha256:".length()));
                try (java.io.OutputStream out = Files.newOutputStream(to)) {
                    long copied = tar.transferTo(out);
                    if (copied != entry.getSize()) {
                        throw new UpdateFailure(Reason.SIZE_MISMATCH, "bundle entry '" + printable(entry.getName()) + "' ended after "
                                + copied + " of " + entry.getSize() + " bytes");
                    }
                }
                (named[0].equals(BLOBS) ? wholeFiles : deltaFiles).put(named[1], to);
            });
            cache.importFromBlobs(mine, wholeFiles, deltaFiles);
        } finally {
            cache.dropStaging(staging);
        }
        return new Imported(manifest.getApp(), manifest.getRelease().getVersion(), mine, manifest.getCreatedAtMs());
    }

    /** What to do with one entry of a delta bundle, its content next in {@code tar}. */
    @FunctionalInterface
    private interface DeltaEntryVisitor {
        void visit(TarArchiveEntry entry, String[] named, TarArchiveInputStream tar) throws IOException, UpdateFailure;
    }

    /** Reads a delta bundle past its manifest and hands each file entry, named by {@link #deltaEntry}, to {@code visitor}. */
    private void forEachDeltaEntry(Path bundle, java.util.Set<String> signed, DeltaEntryVisitor visitor) throws IOException, UpdateFailure {
        try (InputStream file = new BufferedInputStream(Files.newInputStream(bundle), 1 << 16);
             TarArchiveInputStream tar = new TarArchiveInputStream(file)) {
            readManifest(tar);
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                if (!entry.isDirectory()) {
                    visitor.visit(entry, deltaEntry(entry, signed), tar);
                }
            }
        }
    }

    /** {@code {BLOBS or DELTAS, "sha256:<hex>"}} of an entry of a delta bundle; anything else, or a blob the release does not sign, is MALFORMED. */
    private static String[] deltaEntry(TarArchiveEntry entry, java.util.Set<String> signed) throws UpdateFailure {
        String name = normalize(entry.getName());
        String dir = name.startsWith(BLOBS) ? BLOBS : name.startsWith(DELTAS) ? DELTAS : null;
        if (!entry.isFile() || dir == null || !name.substring(dir.length()).matches("sha256-[0-9a-f]{64}")) {
            throw new UpdateFailure(Reason.MALFORMED, "unexpected entry '" + printable(name) + "' in a delta bundle");
        }
        String digest = "sha256:" + name.substring(dir.length() + "sha256-".length());
        if (!signed.contains(digest)) {
            throw new UpdateFailure(Reason.MALFORMED, "bundle entry '" + printable(name) + "' is not in the signed manifest");
        }
        return new String[] {dir, digest};
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
