package dev.turnout.orchestrator.domain;

import java.util.List;

/**
 * The image of a release for one platform: the archive a device downloads and what identifies the image on either
 * image store (config digest on the classic store, manifest digest on the containerd store, the layers on both).
 */
public record ReleaseImage(String platform, String digest, long size, String imageId, String imageRef, String manifestDigest,
                           List<String> diffIds, List<ImageBlob> blobs) {

    public ReleaseImage {
        diffIds = diffIds == null ? List.of() : List.copyOf(diffIds);
        blobs = blobs == null ? List.of() : List.copyOf(blobs);
    }

    /** An image offered only whole (a release made before blobs were stored). */
    public ReleaseImage(String platform, String digest, long size, String imageId, String imageRef, String manifestDigest,
                        List<String> diffIds) {
        this(platform, digest, size, imageId, imageRef, manifestDigest, diffIds, List.of());
    }

    /** An image known by its config digest alone (a release made before archives were normalized). */
    public ReleaseImage(String platform, String digest, long size, String imageId, String imageRef) {
        this(platform, digest, size, imageId, imageRef, null, List.of());
    }

    /** {@code artifact} as the image of a release for {@code platform}. */
    public static ReleaseImage of(String platform, Artifact artifact) {
        return new ReleaseImage(platform, artifact.digest(), artifact.size(), artifact.imageId(), artifact.imageRef(),
                artifact.manifestDigest(), artifact.diffIds(), artifact.blobs());
    }
}
