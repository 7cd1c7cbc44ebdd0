package dev.turnout.orchestrator.artifacts;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.store.FleetStore;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Image archives, content-addressed under {@code {data}/artifacts/sha256/<hex>}. Blocking: call
 * from a worker thread.
 */
public final class ArtifactRepository {

    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");

    /** An ingested artifact; {@code created} is false when the same bytes were stored before. */
    public record Ingested(Artifact artifact, boolean created) {
    }

    private final Path root;
    private final FleetStore store;

    public ArtifactRepository(Path root, FleetStore store) throws IOException {
        this.root = root;
        this.store = store;
        Files.createDirectories(root.resolve("sha256"));
        Files.createDirectories(root.resolve("incoming"));
    }

    /** A fresh temp file inside the artifact folder (same file system, so the final move is a rename). */
    public Path newIncomingFile() throws IOException {
        return Files.createTempFile(root.resolve("incoming"), "upload-", ".tar");
    }

    /**
     * Hashes and inspects an uploaded file, then keeps it under its digest. The temp file is
     * gone afterwards whether it was accepted or not.
     */
    public Ingested ingest(Path incoming) throws IOException {
        try {
            String hex;
            try (InputStream in = Files.newInputStream(incoming)) {
                hex = DockerArchive.sha256Hex(in);
            }
            String digest = "sha256:" + hex;
            Optional<Artifact> known = store.findArtifact(digest);
            if (known.isPresent() && Files.exists(pathOf(hex))) {
                return new Ingested(known.get(), false);
            }
            DockerArchive.Image image = DockerArchive.inspect(incoming);
            long size = Files.size(incoming);
            Files.move(incoming, pathOf(hex), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Artifact artifact = new Artifact(digest, size, image.imageId(), image.imageRef());
            store.saveArtifact(artifact);
            return new Ingested(artifact, known.isEmpty());
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

    private Path pathOf(String hex) {
        return root.resolve("sha256").resolve(hex);
    }
}
