package dev.turnout.orchestrator.backup;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads a backup written by {@link DataBackup}: {@link #verify} checks it whole (manifest, every
 * file's size and SHA-256, nothing missing, nothing extra, the gzip trailer) and {@link #restore}
 * writes it into a data directory only after such a check, through a staging directory next to it
 * that is renamed into place at the end: a refused or interrupted restore leaves the directory as it was.
 */
public final class BackupArchive {

    /** What a restore did. */
    public record Restored(BackupManifest manifest, Path dataDir, Path setAside) {
    }

    private static final long MANIFEST_LIMIT = 16L << 20;
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(ZoneOffset.UTC);

    private BackupArchive() {
    }

    /** The manifest of a backup that is whole and undamaged; {@link InvalidBackupException} otherwise. */
    public static BackupManifest verify(Path archive) throws IOException {
        return read(archive, null);
    }

    /**
     * Restores {@code archive} into {@code dataDir} (created if missing). Refuses a directory that holds
     * anything unless {@code force}: then its old contents are moved aside to {@code DIR.replaced-TIMESTAMP}
     * (returned), never deleted. Nothing is written before the whole archive verified.
     */
    public static Restored restore(Path archive, Path dataDir, boolean force, Instant now) throws IOException {
        Path dir = dataDir.toAbsolutePath().normalize();
        boolean exists = Files.exists(dir);
        if (exists && !Files.isDirectory(dir)) {
            throw new IOException(dataDir + " is not a directory");
        }
        boolean empty = !exists || isEmpty(dir);
        if (!empty && !force) {
            throw new IOException(dataDir + " is not empty: restore into a new or empty directory (or add --force: its"
                    + " contents are then moved aside to " + dir.getFileName() + ".replaced-TIMESTAMP, not deleted)");
        }
        BackupManifest manifest = verify(archive);
        Path parent = dir.getParent();
        Files.createDirectories(parent);
        Path staging = Files.createTempDirectory(parent, "." + dir.getFileName() + ".restore-");
        try {
            read(archive, staging);
            Path aside = null;
            if (exists && empty) {
                Files.delete(dir);
            } else if (exists) {
                aside = parent.resolve(dir.getFileName() + ".replaced-" + STAMP.format(now));
                Files.move(dir, aside, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
            return new Restored(manifest, dir, aside);
        } finally {
            DataBackup.deleteTree(staging);
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            return !entries.iterator().hasNext();
        }
    }

    /** Reads the whole archive, checking it; writes each file under {@code into} unless that is null. */
    private static BackupManifest read(Path archive, Path into) throws IOException {
        if (!Files.isRegularFile(archive)) {
            throw new IOException("there is no file " + archive);
        }
        String name = archive.toString();
        try (InputStream head = Files.newInputStream(archive)) {
            byte[] magic = head.readNBytes(2);
            if (magic.length == 2 && (magic[0] != (byte) 0x1f || magic[1] != (byte) 0x8b)) {
                throw new InvalidBackupException(name + " is not a Turnout backup: it is not a gzip file");
            }
        }
        try (InputStream file = new BufferedInputStream(Files.newInputStream(archive), 64 * 1024);
             GzipCompressorInputStream gzip = new GzipCompressorInputStream(file);
             TarArchiveInputStream tar = new TarArchiveInputStream(gzip)) {
            TarArchiveEntry first = tar.getNextEntry();
            if (first == null || !BackupLayout.MANIFEST.equals(first.getName()) || first.getSize() > MANIFEST_LIMIT) {
                throw new InvalidBackupException(name + " is not a Turnout backup: it does not start with "
                        + BackupLayout.MANIFEST);
            }
            BackupManifest manifest = manifest(name, tar.readAllBytes());
            Map<String, BackupManifest.FileEntry> expected = new HashMap<>();
            for (BackupManifest.FileEntry f : manifest.files()) {
                expected.put(f.path(), f);
            }
            Set<String> seen = new HashSet<>();
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                BackupManifest.FileEntry f = expected.get(e.getName());
                if (f == null || !e.isFile() || !seen.add(e.getName())) {
                    throw new InvalidBackupException(name + " is damaged: it holds " + e.getName()
                            + ", which its manifest does not list (or lists once)");
                }
                if (e.getSize() != f.size()) {
                    throw new InvalidBackupException(name + " is damaged: " + f.path() + " has " + e.getSize()
                            + " bytes, its manifest says " + f.size());
                }
                copyChecked(name, tar, f, into);
            }
            if (seen.size() != expected.size()) {
                String missing = expected.keySet().stream().filter(p -> !seen.contains(p)).sorted().findFirst().orElse("?");
                throw new InvalidBackupException(name + " is truncated or damaged: " + missing + " and "
                        + (expected.size() - seen.size() - 1) + " more file(s) of its manifest are missing");
            }
            // the gzip trailer (CRC, length) is checked only when the stream is read to its end
            gzip.transferTo(OutputStream.nullOutputStream());
            return manifest;
        } catch (InvalidBackupException e) {
            throw e;
        } catch (java.nio.file.FileSystemException e) {
            throw e; // the disk, not the archive: no space, no permission
        } catch (IOException | RuntimeException e) {
            throw new InvalidBackupException(name + " is truncated or damaged (" + describe(e) + "); nothing was restored", e);
        }
    }

    private static String describe(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static BackupManifest manifest(String name, byte[] bytes) throws InvalidBackupException {
        BackupManifest m;
        try {
            m = new ObjectMapper().readValue(bytes, BackupManifest.class);
        } catch (IOException e) {
            throw new InvalidBackupException(name + " is not a Turnout backup: its manifest cannot be read", e);
        }
        if (!BackupManifest.FORMAT.equals(m.format()) || m.files() == null) {
            throw new InvalidBackupException(name + " is not a Turnout backup: its manifest has no format " + BackupManifest.FORMAT);
        }
        if (m.version() != BackupManifest.VERSION) {
            throw new InvalidBackupException(name + " is a backup of format version " + m.version()
                    + "; this turnout reads version " + BackupManifest.VERSION);
        }
        boolean database = false;
        boolean key = false;
        for (BackupManifest.FileEntry f : m.files()) {
            if (f == null || f.path() == null || !BackupLayout.allowed(f.path()) || f.sha256() == null
                    || !HEX64.matcher(f.sha256()).matches() || f.size() < 0) {
                throw new InvalidBackupException(name + " is not a Turnout backup: its manifest lists "
                        + (f == null ? "an empty entry" : "'" + f.path() + "'") + ", which a backup never holds");
            }
            String digest = BackupLayout.artifactDigest(f.path());
            if (digest != null && !digest.equals(f.sha256())) {
                throw new InvalidBackupException(name + " is damaged: " + f.path() + " is listed with another SHA-256");
            }
            database |= BackupLayout.DATABASE.equals(f.path());
            key |= BackupLayout.SIGNING_KEY.equals(f.path());
        }
        if (!database || !key) {
            throw new InvalidBackupException(name + " is not a Turnout backup: it lacks " + (database ? "the signing key" : "turnout.db"));
        }
        return m;
    }

    private static void copyChecked(String name, InputStream in, BackupManifest.FileEntry f, Path into) throws IOException {
        MessageDigest sha = sha256();
        DigestInputStream digesting = new DigestInputStream(in, sha);
        long copied;
        if (into == null) {
            copied = digesting.transferTo(OutputStream.nullOutputStream());
        } else {
            Path target = into.resolve(f.path()).normalize();
            if (!target.startsWith(into)) {
                throw new InvalidBackupException(name + " holds a path outside the data directory: " + f.path());
            }
            Files.createDirectories(target.getParent());
            try {
                Files.createFile(target, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(BackupLayout.mode(f.path()))));
            } catch (UnsupportedOperationException e) {
                Files.createFile(target);
            }
            try (OutputStream out = Files.newOutputStream(target)) {
                copied = digesting.transferTo(out);
            }
        }
        if (copied != f.size()) {
            throw new InvalidBackupException(name + " is truncated: " + f.path() + " ends after " + copied + " of "
                    + f.size() + " bytes");
        }
        if (!HexFormat.of().formatHex(sha.digest()).equals(f.sha256())) {
            throw new InvalidBackupException(name + " is damaged: " + f.path() + " does not match its SHA-256 in the manifest");
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
