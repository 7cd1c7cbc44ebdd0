package dev.turnout.proto.image;

import dev.turnout.proto.ImageArtifact;

import java.util.List;

/** The image part of a signed release, as a test needs it. */
final class Signed {

    private Signed() {
    }

    static ImageArtifact of(String configDigest, String manifestDigest, List<String> diffIds) {
        return ImageArtifact.newBuilder().setPlatform("linux/amd64").setImageId(configDigest)
                .setManifestDigest(manifestDigest == null ? "" : manifestDigest).addAllDiffIds(diffIds).build();
    }
}
