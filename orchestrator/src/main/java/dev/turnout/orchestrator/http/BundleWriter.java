package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.artifacts.ArtifactRepository;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.proto.SignedEnvelope;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Writes an offline bundle ({@code docs/edge-daemon.md}): an uncompressed tar with the signed
 * {@code manifest.bin} first, then {@code artifacts/sha256-<hex>} for each archive of the release.
 */
final class BundleWriter {

    static final String MANIFEST = "manifest.bin";

    private BundleWriter() {
    }

    static void write(Release release, SignedEnvelope manifest, ArtifactRepository artifacts, Path out) throws IOException {
        try (OutputStream file = Files.newOutputStream(out); TarArchiveOutputStream tar = new TarArchiveOutputStream(file)) {
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            byte[] signed = manifest.toByteArray();
            TarArchiveEntry head = new TarArchiveEntry(MANIFEST);
            head.setSize(signed.length);
            tar.putArchiveEntry(head);
            tar.write(signed);
            tar.closeArchiveEntry();
            Set<String> written = new HashSet<>();
            for (ReleaseImage image : release.images()) {
                if (!written.add(image.digest())) {
                    continue;
                }
                Path archive = artifacts.file(image.digest())
                        .orElseThrow(() -> new IOException("the archive " + image.digest() + " of " + release.key() + " is missing from the store"));
                TarArchiveEntry entry = new TarArchiveEntry("artifacts/" + image.digest().replace(':', '-'));
                entry.setSize(Files.size(archive));
                tar.putArchiveEntry(entry);
                Files.copy(archive, tar);
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
    }
}
