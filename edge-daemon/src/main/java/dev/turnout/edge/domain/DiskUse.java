package dev.turnout.edge.domain;

/**
 * How full one filesystem is, as {@code df} counts it.
 *
 * @param path           the directory measured (Docker's data root, or the daemon's data dir)
 * @param usedBytes      total less free
 * @param availableBytes what an unprivileged writer may still use
 */
public record DiskUse(String path, long usedBytes, long availableBytes) {

    /** {@code df}'s Use%: used / (used + available), 0 to 100. */
    public double percent() {
        long size = usedBytes + availableBytes;
        return size <= 0 ? 0 : 100.0 * usedBytes / size;
    }
}
