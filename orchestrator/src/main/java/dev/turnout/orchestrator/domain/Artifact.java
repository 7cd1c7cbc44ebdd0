package dev.turnout.orchestrator.domain;

/** A stored {@code docker save} archive, addressed by the sha256 of its bytes. */
public record Artifact(String digest, long size, String imageId, String imageRef) {
}
