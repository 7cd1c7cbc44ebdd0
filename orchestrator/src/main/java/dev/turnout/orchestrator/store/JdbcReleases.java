package dev.turnout.orchestrator.store;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.ImageBlob;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseCompose;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Optional;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/** Image archives, the releases made of them and the apps' rollback floors: tables {@code artifacts}, {@code releases}, {@code app_floors}. */
final class JdbcReleases implements ReleaseCatalog {

    private final JdbcSession session;

    JdbcReleases(JdbcSession session) {
        this.session = session;
    }

    @Override
    public void saveArtifact(Artifact a) {
        session.update("INSERT INTO artifacts (digest, size, image_id, image_ref, created_at, platform, manifest_digest,"
                        + " diff_ids, blobs) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (digest) DO NOTHING",
                a.digest(), a.size(), a.imageId(), a.imageRef(), System.currentTimeMillis(), a.platform(), a.manifestDigest(),
                a.diffIds().isEmpty() ? null : String.join(",", a.diffIds()), a.blobs().isEmpty() ? null : StoredJson.write(a.blobs()));
    }

    @Override
    public Optional<Artifact> findArtifact(String digest) {
        return session.query("SELECT * FROM artifacts WHERE digest = ?", rs -> new Artifact(rs.getString("digest"),
                rs.getLong("size"), rs.getString("image_id"), rs.getString("image_ref"), rs.getString("platform"),
                rs.getString("manifest_digest"),
                rs.getString("diff_ids") == null ? List.of() : List.of(rs.getString("diff_ids").split(",")),
                rs.getString("blobs") == null ? List.of() : StoredJson.read(rs.getString("blobs"), new TypeReference<List<ImageBlob>>() { })),
                digest).stream().findFirst();
    }

    @Override
    public void insertRelease(Release r) {
        synchronized (session) {
            if (findRelease(r.app(), r.version()).isPresent()) {
                throw new ConflictException("release " + r.key() + " exists already");
            }
            if (session.update("INSERT INTO releases (app, version, created_at, images, spec, compose) VALUES (?,?,?,?,?,?)"
                            + " ON CONFLICT (app, version) DO NOTHING",
                    r.app(), r.version(), millis(r.createdAt()), StoredJson.write(r.images()), StoredJson.write(r.spec()),
                    r.compose() == null ? null : StoredJson.write(r.compose())) == 0) {
                throw new ConflictException("release " + r.key() + " exists already");
            }
        }
    }

    @Override
    public Optional<Release> findRelease(String app, String version) {
        return session.query("SELECT * FROM releases WHERE app = ? AND version = ?", JdbcReleases::release, app, version)
                .stream().findFirst();
    }

    @Override
    public List<Release> listReleases() {
        return session.query("SELECT * FROM releases ORDER BY app, created_at", JdbcReleases::release);
    }

    @Override
    public Optional<String> findFloor(String app) {
        return session.query("SELECT version FROM app_floors WHERE app = ?", rs -> rs.getString("version"), app).stream().findFirst();
    }

    @Override
    public void saveFloor(String app, String version, java.time.Instant at, String actor) {
        session.update("INSERT INTO app_floors (app, version, set_at, set_by) VALUES (?,?,?,?) ON CONFLICT (app) DO UPDATE SET"
                + " version = excluded.version, set_at = excluded.set_at, set_by = excluded.set_by", app, version, millis(at), actor);
    }

    private static Release release(ResultSet rs) throws SQLException {
        return new Release(rs.getString("app"), rs.getString("version"), instant(rs, "created_at"),
                StoredJson.read(rs.getString("images"), new TypeReference<List<ReleaseImage>>() { }),
                StoredJson.read(rs.getString("spec"), new TypeReference<ReleaseSpec>() { }),
                rs.getString("compose") == null ? null : StoredJson.read(rs.getString("compose"), new TypeReference<ReleaseCompose>() { }));
    }
}
