package dev.turnout.edge.port;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.proto.ImageArtifact;

import java.nio.file.Path;
import java.util.Collection;

/** Image archives verified against their signed size and digest, kept in a local cache. */
public interface ArtifactSource {

    /** Whether the verified archive is already cached. */
    boolean isCached(ImageArtifact artifact);

    /** Downloads (resuming) and verifies the archive; returns the cached file. */
    Path fetch(ImageArtifact artifact) throws UpdateFailure;

    /**
     * Why the fetches since the last call did not move their releases the cheapest way (a damaged held blob fetched
     * again, a refused delta, nothing cached), in plain words; "" when nothing fell back. Clears what it returns.
     */
    default String takeFetchNote() {
        return "";
    }

    /**
     * Whether the archive (what is left to fetch of it) and the reserve the device keeps fit in its free space now; a
     * source that cannot tell says true (the fetch then says whether it fit).
     */
    default boolean hasRoomFor(ImageArtifact artifact) {
        return true;
    }

    /** Deletes every cached archive whose digest is not in {@code keepDigests}. */
    void retainOnly(Collection<String> keepDigests);

    /** Deletes the cached archive of {@code artifact} (used once, kept elsewhere: an agent release, unpacked). */
    default void discard(ImageArtifact artifact) {
    }
}
