package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.Release;

import java.util.List;
import java.util.Optional;

/** The image archives the orchestrator keeps and the releases made of them. Thread-safe, blocking. */
public interface ReleaseCatalog {

    /** Adds an artifact; a second save of the same digest is ignored. */
    void saveArtifact(Artifact artifact);

    Optional<Artifact> findArtifact(String digest);

    /** Adds a release; {@link dev.turnout.orchestrator.domain.ConflictException} if app:version exists. */
    void insertRelease(Release release);

    Optional<Release> findRelease(String app, String version);

    /** Every release, by app, oldest first. */
    List<Release> listReleases();

    /**
     * The rollback floor of an app: the lowest version it may be deployed or rolled back to, signed into every desired
     * state of the app (empty: none).
     */
    Optional<String> findFloor(String app);

    /** Sets (replaces) the rollback floor of an app; the caller checks that it only rises. */
    void saveFloor(String app, String version, java.time.Instant at, String actor);
}
