package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.artifacts.LayerDeltas;
import dev.turnout.orchestrator.domain.ImageBlob;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.proto.SignedEnvelope;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

/**
 * Writes an offline bundle ({@code docs/edge-daemon.md}): an uncompressed tar with the signed
 * {@code manifest.bin} first, then {@code artifacts/sha256-<hex>} for each archive of the release. A delta bundle
 * ({@link #writeDelta}) holds blobs instead of archives: none the older release has, a changed layer whose signed
 * {@code delta_base} the older release has as a delta against it ({@code deltas/sha256-<hex>}), the rest whole
 * ({@code blobs/sha256-<hex>}).
 */
final class BundleWriter {

    static final String MANIFEST = "manifest.bin";
    static final String BLOBS = "blobs/";
    static final String DELTAS = "deltas/";

    /** What a delta bundle holds: blobs left out (the device holds them), sent whole and sent as deltas. */
    record DeltaContents(int leftOut, int whole, int deltas) {
    }

    private BundleWriter() {
    }

    static void write(Release release, SignedEnvelope manifest, ArtifactRepository artifacts, Path out) throws IOException {
        try (OutputStream file = Files.newOutputStream(out); TarArchiveOutputStream tar = open(file)) {
            putBytes(tar, MANIFEST, manifest.toByteArray());
            Set<String> written = new HashSet<>();
            for (ReleaseImage image : release.images()) {
                if (!written.add(image.digest())) {
                    continue;
                }
                Path archive = artifacts.file(image.digest())
                        .orElseThrow(() -> new IOException("the archive " + image.digest() + " of " + release.key() + " is missing from the store"));
                putFile(tar, "artifacts/" + image.digest().replace(':', '-'), archive);
            }
            tar.finish();
        }
    }

    /**
     * Writes the bundle of {@code release} for a device that holds {@code against} (an older release of the app);
     * {@code manifest} must name {@code against}'s version. Every image must list its blobs.
     *
     * @throws InvalidInputException when an image of {@code release} has no blob list (made before blobs were stored)
     */
    static DeltaContents writeDelta(Release release, Release against, SignedEnvelope manifest, ArtifactRepository artifacts,
                                    LayerDeltas deltas, Path out) throws IOException {
        for (ReleaseImage image : release.images()) {
            if (image.blobs().isEmpty()) {
                throw new InvalidInputException("release " + release.key() + " was stored before Turnout kept blobs ("
                        + image.platform() + " has no blob list): export a full bundle without --against");
            }
        }
        Set<String> held = new HashSet<>();
        for (ReleaseImage image : against.images()) {
            image.blobs().forEach(b -> held.add(b.digest()));
        }
        int leftOut = 0;
        int whole = 0;
        int asDeltas = 0;
        try (OutputStream file = Files.newOutputStream(out); TarArchiveOutputStream tar = open(file)) {
            putBytes(tar, MANIFEST, manifest.toByteArray());
            Set<String> written = new HashSet<>();
            for (ReleaseImage image : release.images()) {
                for (ImageBlob blob : image.blobs()) {
                    if (!written.add(blob.digest())) {
                        continue;
                    }
                    if (held.contains(blob.digest())) {
                        leftOut++;
                        continue;
                    }
                    Optional<Path> delta = blob.deltaBase() != null && held.contains(blob.deltaBase())
                            ? deltas.delta(blob.deltaBase(), blob.digest()) : Optional.empty();
                    if (delta.isPresent()) {
                        putFile(tar, DELTAS + blob.digest().replace(':', '-'), delta.get());
                        asDeltas++;
                        continue;
                    }
                    Path stored = artifacts.file(blob.digest())
                            .orElseThrow(() -> new IOException("the blob " + blob.digest() + " of " + release.key() + " is missing from the store"));
                    putFile(tar, BLOBS + blob.digest().replace(':', '-'), stored);
                    whole++;
                }
            }
            tar.finish();
        }
        return new DeltaContents(leftOut, whole, asDeltas);
    }

    private static TarArchiveOutputStream open(OutputStream file) {
        TarArchiveOutputStream tar = new TarArchiveOutputStream(file);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        return tar;
    }

    private static void putBytes(TarArchiveOutputStream tar, String name, byte[] bytes) throws IOException {
        TarArchiveEntry head = new TarArchiveEntry(name);
        head.setSize(bytes.length);
        tar.putArchiveEntry(head);
        tar.write(bytes);
        tar.closeArchiveEntry();
    }

    private static void putFile(TarArchiveOutputStream tar, String name, Path file) throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setSize(Files.size(file));
        tar.putArchiveEntry(entry);
        Files.copy(file, tar);
        tar.closeArchiveEntry();
    }
}
