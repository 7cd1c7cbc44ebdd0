package dev.turnout.orchestrator.artifacts;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ImageBlob;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.proto.agent.AgentDistribution;
import dev.turnout.proto.agent.InvalidAgentDistributionException;
import dev.turnout.orchestrator.store.ReleaseCatalog;
import dev.turnout.proto.image.ArchiveBlobs;
import dev.turnout.proto.image.ArchiveEntries;
import dev.turnout.proto.image.ImageArchive;
import dev.turnout.proto.image.InvalidImageArchiveException;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Image archives, content-addressed under {@code {data}/artifacts/sha256/<hex>}: one archive per platform, in the
 * layout devices get ({@link ImageArchive}), whatever layout was uploaded, and each file of it (layers, config,
 * manifest: its blobs, {@link ArchiveBlobs}) beside it under its own digest. Blocking: call from a worker thread.
 */
public final class ArtifactRepository {

    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");

    /** What an upload stored: one artifact per platform; {@code created} is false when all were stored before. */
    public record Ingested(List<Artifact> artifacts, boolean created) {
    }

    private final Path root;
    private final ReleaseCatalog store;
    private final LayerDeltas deltas;

    public ArtifactRepository(Path root, ReleaseCatalog store) throws IOException {
        this.root = root;
        this.store = store;
        Files.createDirectories(root.resolve("sha256"));
        Files.createDirectories(root.resolve("incoming"));
        this.deltas = new LayerDeltas(root.resolve("deltas"), this);
    }

    /** Binary deltas between the layers of successive releases, made once per pair and kept under {@code deltas/}. */
    public LayerDeltas deltas() {
        return deltas;
    }

    /** A fresh temp file inside the artifact folder (same file system, so the final move is a rename). */
    public Path newIncomingFile() throws IOException {
        return Files.createTempFile(root.resolve("incoming"), "upload-", ".tar");
    }

    /**
     * Reads an uploaded archive (legacy {@code docker save}, OCI layout or a multi-platform OCI archive) and keeps each
     * platform's image as an archive of its own. The upload is gone afterwards whether it was accepted or not; a
     * refused upload stores nothing.
     */
    public Ingested ingest(Path incoming) throws IOException {
        List<Path> written = new ArrayList<>();
        try {
            ArchiveEntries entries = ArchiveEntries.read(incoming);
            List<ImageArchive.Image> images = ImageArchive.images(entries);
            List<Artifact> artifacts = new ArrayList<>();
            boolean created = false;
            for (ImageArchive.Image image : images) {
                Path part = newIncomingFile();
                written.add(part);
                MessageDigest sha = sha256();
                try (OutputStream out = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(part), 64 * 1024), sha)) {
                    ImageArchive.writeSinglePlatform(incoming, entries, image, out);
                }
                String hex = HexFormat.of().formatHex(sha.digest());
                Optional<Artifact> known = store.findArtifact("sha256:" + hex);
                if (known.isEmpty() || !Files.exists(pathOf(hex))) {
                    // each file of the archive on its own too, so a device fetches only the ones it lacks
                    List<ImageBlob> blobs = ArchiveBlobs.split(part, "sha256:" + hex, root.resolve("sha256")).stream()
                            .map(b -> new ImageBlob(b.path(), b.digest(), b.size())).toList();
                    Artifact artifact = new Artifact("sha256:" + hex, Files.size(part), image.configDigest(), image.ref(),
                            image.platform(), ImageArchive.manifestDigest(entries, image), image.diffIds(), blobs);
                    Files.move(part, pathOf(hex), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    store.saveArtifact(artifact);
                    created |= known.isEmpty();
                    artifacts.add(known.orElse(artifact));
                } else {
                    artifacts.add(known.get());
                }
            }
            return new Ingested(artifacts, created);
        } catch (InvalidImageArchiveException e) {
            throw new InvalidInputException("not an image archive: " + e.getMessage());
        } finally {
            Files.deleteIfExists(incoming);
            for (Path part : written) {
                Files.deleteIfExists(part);
            }
        }
    }

    /**
     * Reads an uploaded edge daemon distribution (a tar.gz, {@link AgentDistribution}) and keeps it as it is,
     * content-addressed like an image archive; the artifact's platform is {@value Release#AGENT_PLATFORM}. The upload
     * is gone afterwards whether it was accepted or not.
     */
    public Artifact ingestAgent(Path incoming) throws IOException {
        try {
            AgentDistribution.check(incoming);
            MessageDigest sha = sha256();
            try (var in = new java.security.DigestInputStream(Files.newInputStream(incoming), sha)) {
                in.transferTo(OutputStream.nullOutputStream());
            }
            String hex = HexFormat.of().formatHex(sha.digest());
            Artifact artifact = new Artifact("sha256:" + hex, Files.size(incoming), "", null, Release.AGENT_PLATFORM, null, List.of());
            Optional<Artifact> known = store.findArtifact(artifact.digest());
            if (known.isEmpty() || !Files.exists(pathOf(hex))) {
                Files.move(incoming, pathOf(hex), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                store.saveArtifact(artifact);
            }
            return known.orElse(artifact);
        } catch (InvalidAgentDistributionException e) {
            throw new InvalidInputException("not an edge daemon distribution: " + e.getMessage());
        } finally {
            Files.deleteIfExists(incoming);
        }
    }

    /** The stored file of {@code digest}, if it is a well-formed digest that is stored. */
    public Optional<Path> file(String digest) {
        if (digest == null || !DIGEST.matcher(digest).matches()) {
            return Optional.empty();
        }
        Path path = pathOf(digest.substring("sha256:".length()));
        return Files.isRegularFile(path) ? Optional.of(path) : Optional.empty();
    }

    public static boolean isDigest(String text) {
        return text != null && DIGEST.matcher(text).matches();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private Path pathOf(String hex) {
        return root.resolve("sha256").resolve(hex);
    }
}
