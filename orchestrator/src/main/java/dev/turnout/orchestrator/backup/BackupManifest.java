package dev.turnout.orchestrator.backup;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

import java.util.List;

/**
 * {@code manifest.json}, the first entry of a backup: what it holds and the SHA-256 of every file.
 *
 * @param format            always {@value #FORMAT}
 * @param version           the archive format's version ({@value #VERSION})
 * @param turnoutVersion    the orchestrator that wrote it
 * @param createdAt         ISO-8601 UTC
 * @param signingKeyId      the id of the signing key in it
 * @param fleetStore        {@code sqlite} (in {@code turnout.db}) or {@code postgresql} (not in the backup: pg_dump)
 * @param artifactsIncluded whether the image archives are in it
 * @param files             every file after the manifest, in archive order
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record BackupManifest(String format, int version, String turnoutVersion, String createdAt, String signingKeyId,
                             String fleetStore, boolean artifactsIncluded, List<FileEntry> files) {

    public static final String FORMAT = "turnout-backup";
    public static final int VERSION = 1;
    public static final String SQLITE = "sqlite";
    public static final String POSTGRESQL = "postgresql";

    /** One file: its path in the data directory, its size and its SHA-256 (hex). */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record FileEntry(String path, long size, String sha256) {
    }

    /** The total size of the files. */
    public long totalBytes() {
        return files.stream().mapToLong(FileEntry::size).sum();
    }
}
