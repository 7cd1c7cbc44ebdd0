package dev.turnout.orchestrator.backup;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.store.SqliteSnapshot;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * Backs up a running orchestrator's data directory into a gzipped tar ({@code docs/operations.md},
 * "Backup and restore"): {@code manifest.json} first, then {@code turnout.db} (a {@link SqliteSnapshot},
 * never the live file), the signing key, the operator token, the orchestrator's broker secret, the
 * generated TLS material and, unless left out, every image archive. The small files are copied into
 * a private staging directory first so the manifest's hashes are of what the archive holds; image
 * archives are content-addressed (never changed once stored), their name is their SHA-256 and is
 * checked while they are written. Blocking: call from a worker thread.
 */
public final class DataBackup {

    private final Path dataDir;
    private final String signingKeyId;
    private final String fleetStore;
    private final String turnoutVersion;
    private final Clock clock;
    private final ObjectMapper json = new ObjectMapper();

    /** @param fleetStore {@link BackupManifest#SQLITE} or {@link BackupManifest#POSTGRESQL} */
    public DataBackup(Path dataDir, String signingKeyId, String fleetStore, String turnoutVersion, Clock clock) {
        this.dataDir = dataDir.toAbsolutePath();
        this.signingKeyId = signingKeyId;
        this.fleetStore = fleetStore;
        this.turnoutVersion = turnoutVersion;
        this.clock = clock;
    }

    /**
     * A backup of {@code dataDir}; deletes what a backup cut short by a crash left there
     * ({@code .backup-*}: a staging directory, an unsent archive).
     */
    public static DataBackup open(Path dataDir, String signingKeyId, String fleetStore, String turnoutVersion, Clock clock)
            throws IOException {
        try (Stream<Path> files = Files.list(dataDir)) {
            for (Path left : files.filter(p -> p.getFileName().toString().startsWith(".backup-")).toList()) {
                deleteTree(left);
            }
        }
        return new DataBackup(dataDir, signingKeyId, fleetStore, turnoutVersion, clock);
    }

    /** Where temporary files go: inside the data directory (same disk, never world-readable). */
    public Path newArchiveFile() throws IOException {
        try {
            return Files.createTempFile(dataDir, ".backup-", ".tar.gz",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException e) {
            return Files.createTempFile(dataDir, ".backup-", ".tar.gz");
        }
    }

    /** Writes a backup to {@code out} (replaced) and returns its manifest. */
    public BackupManifest writeTo(Path out, boolean withArtifacts) throws IOException {
        Instant now = clock.instant();
        Path staging = Files.createTempDirectory(dataDir, ".backup-staging-");
        try {
            List<Source> sources = new ArrayList<>();
            Path db = staging.resolve(BackupLayout.DATABASE);
            SqliteSnapshot.write(dataDir.resolve(BackupLayout.DATABASE), db);
            sources.add(staged(BackupLayout.DATABASE, db));
            if (!Files.isRegularFile(dataDir.resolve(BackupLayout.SIGNING_KEY))) {
                throw new IOException("there is no signing key in " + dataDir);
            }
            for (String path : BackupLayout.FILES) {
                Path file = dataDir.resolve(path);
                if (Files.isRegularFile(file)) {
                    Path copy = staging.resolve(path.replace('/', '_'));
                    Files.copy(file, copy);
                    sources.add(staged(path, copy));
                }
            }
            if (withArtifacts) {
                sources.addAll(artifacts());
            }
            List<BackupManifest.FileEntry> entries = sources.stream()
                    .map(s -> new BackupManifest.FileEntry(s.path, s.size, s.sha256)).toList();
            BackupManifest manifest = new BackupManifest(BackupManifest.FORMAT, BackupManifest.VERSION, turnoutVersion,
                    now.toString(), signingKeyId, fleetStore, withArtifacts, entries);
            write(out, manifest, sources, now);
            return manifest;
        } finally {
            deleteTree(staging);
        }
    }

    private record Source(String path, Path file, long size, String sha256) {
    }

    private static Source staged(String path, Path file) throws IOException {
        MessageDigest sha = BackupArchive.sha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return new Source(path, file, Files.size(file), HexFormat.of().formatHex(sha.digest()));
    }

    private List<Source> artifacts() throws IOException {
        Path dir = dataDir.resolve(BackupLayout.ARTIFACTS);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Source> found = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : files.sorted().toList()) {
                String path = BackupLayout.ARTIFACTS + file.getFileName();
                String digest = BackupLayout.artifactDigest(path);
                if (digest != null && Files.isRegularFile(file)) {
                    found.add(new Source(path, file, Files.size(file), digest));
                }
            }
        }
        return found;
    }

    private void write(Path out, BackupManifest manifest, List<Source> sources, Instant now) throws IOException {
        try (OutputStream file = new BufferedOutputStream(Files.newOutputStream(out), 64 * 1024);
             GzipCompressorOutputStream gzip = new GzipCompressorOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(gzip)) {
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            byte[] head = json.writerWithDefaultPrettyPrinter().writeValueAsBytes(manifest);
            TarArchiveEntry first = entry(BackupLayout.MANIFEST, head.length, 0100600, now);
            tar.putArchiveEntry(first);
            tar.write(head);
            tar.closeArchiveEntry();
            for (Source s : sources) {
                tar.putArchiveEntry(entry(s.path, s.size, BackupLayout.tarMode(s.path), now));
                MessageDigest sha = BackupArchive.sha256();
                long copied;
                try (InputStream in = new DigestInputStream(Files.newInputStream(s.file), sha)) {
                    copied = in.transferTo(tar);
                }
                if (copied != s.size || !HexFormat.of().formatHex(sha.digest()).equals(s.sha256)) {
                    throw new IOException(s.path + " changed or is damaged on disk (its content does not match its"
                            + " size or SHA-256); no backup was written");
                }
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
    }

    private static TarArchiveEntry entry(String path, long size, int mode, Instant at) {
        TarArchiveEntry e = new TarArchiveEntry(path);
        e.setSize(size);
        e.setMode(mode);
        e.setModTime(Date.from(at));
        return e;
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
