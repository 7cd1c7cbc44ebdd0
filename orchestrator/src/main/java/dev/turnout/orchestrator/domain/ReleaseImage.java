package dev.turnout.orchestrator.domain;

/** The image of a release for one platform. */
public record ReleaseImage(String platform, String digest, long size, String imageId, String imageRef) {
}
