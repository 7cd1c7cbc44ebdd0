package dev.turnout.orchestrator.domain;

/**
 * One content-addressed file of a stored image archive (a layer, the config, the manifest or a small layout file),
 * which a device fetches on its own when it does not hold it yet.
 *
 * @param path   the file's name in the archive
 * @param digest {@code sha256:<hex>} of its bytes
 * @param size   its length in bytes
 */
public record ImageBlob(String path, String digest, long size) {
}
