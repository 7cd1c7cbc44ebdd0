package dev.turnout.orchestrator.domain;

import java.util.List;

/**
 * A stored image archive, addressed by the sha256 of its bytes: one platform's image, in the layout devices get
 * (see {@code dev.turnout.proto.image.ImageArchive}).
 *
 * @param imageId        sha256 of the image config: the image's id on the classic image store
 * @param platform       the image's platform ("linux/arm64"); null for an archive stored before platforms were read
 * @param manifestDigest sha256 of the image manifest: the image's id on the containerd image store (null: before)
 * @param diffIds        the image's layers as an engine reports them
 * @param blobs          the archive's files, in archive order, each stored on its own too; empty for an archive stored
 *                       before blobs were (devices then download it whole)
 */
public record Artifact(String digest, long size, String imageId, String imageRef, String platform, String manifestDigest,
                       List<String> diffIds, List<ImageBlob> blobs) {

    public Artifact {
        diffIds = diffIds == null ? List.of() : List.copyOf(diffIds);
        blobs = blobs == null ? List.of() : List.copyOf(blobs);
    }

    /** An artifact offered only whole (no blobs). */
    public Artifact(String digest, long size, String imageId, String imageRef, String platform, String manifestDigest,
                    List<String> diffIds) {
        this(digest, size, imageId, imageRef, platform, manifestDigest, diffIds, List.of());
    }
}
