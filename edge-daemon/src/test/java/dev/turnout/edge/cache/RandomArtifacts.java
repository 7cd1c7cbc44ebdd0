package dev.turnout.edge.cache;

import dev.turnout.proto.ImageArtifact;

import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;

/** Archives of random bytes and the signed artifact that names them, for tests that serve downloads over HTTP. */
final class RandomArtifacts {

    private RandomArtifacts() {
    }

    /** {@code size} random bytes (the same for the same size). */
    static byte[] content(int size) {
        byte[] content = new byte[size];
        new Random(size).nextBytes(content);
        return content;
    }

    /** The artifact of {@code content}, served at /api/v1/artifacts/DIGEST. */
    static ImageArtifact of(byte[] content) throws Exception {
        String digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        return ImageArtifact.newBuilder().setPlatform("linux/arm64").setArchiveDigest(digest).setSize(content.length)
                .setUrl("/api/v1/artifacts/" + digest).setImageId("sha256:x").build();
    }
}
