package dev.turnout.orchestrator.domain;

/**
 * One content-addressed file of a stored image archive (a layer, the config, the manifest or a small layout file),
 * which a device fetches on its own when it does not hold it yet.
 *
 * @param path      the file's name in the archive
 * @param digest    {@code sha256:<hex>} of its bytes
 * @param size      its length in bytes
 * @param deltaBase a changed layer of a release: the layer at the same position of the app's previous release, which
 *                  a device holding it may turn into this one with a binary delta; null: none
 */
public record ImageBlob(String path, String digest, long size,
                        @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
                        String deltaBase) {

    /** A blob offered whole only. */
    public ImageBlob(String path, String digest, long size) {
        this(path, digest, size, null);
    }

    /** This blob, with {@code base} as the layer a delta may be made against. */
    public ImageBlob withDeltaBase(String base) {
        return new ImageBlob(path, digest, size, base);
    }
}
