package dev.turnout.proto.image;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * An archive in the layout {@link ImageArchive#writeSinglePlatform} writes, as the content-addressed files it is made
 * of, and back: {@link #split} stores each file of the archive (layers, config, manifest and the three small layout
 * files) under its sha256; {@link #join} writes the same archive, byte for byte, from those files. A device that holds
 * the base layer of a release therefore fetches only the files it lacks and still checks the archive's signed digest.
 */
public final class ArchiveBlobs {

    /** The names a file of the layout may have besides {@code blobs/sha256/<hex>}. */
    private static final Set<String> LAYOUT_FILES = Set.of("index.json", "manifest.json", "oci-layout");
    private static final Pattern BLOB_PATH = Pattern.compile("blobs/sha256/([0-9a-f]{64})");
    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final List<String> DIRECTORIES = List.of("blobs/", "blobs/sha256/");

    /**
     * One file of the archive, in archive order.
     *
     * @param path   its name in the archive
     * @param digest {@code sha256:<hex>} of its bytes
     * @param size   its length in bytes
     */
    public record Part(String path, String digest, long size) {

        /** Refuses a part a device must not write into its archive: a name outside the layout, or a blob named by another digest. */
        public Part {
            if (digest == null || !DIGEST.matcher(digest).matches()) {
                throw new IllegalArgumentException("blob digest '" + digest + "' is not sha256:<64 hex>");
            }
            if (size < 0) {
                throw new IllegalArgumentException("blob " + digest + " has a negative size");
            }
            var blob = path == null ? null : BLOB_PATH.matcher(path);
            boolean named = blob != null && blob.matches() && digest.equals("sha256:" + blob.group(1));
            if (!named && !LAYOUT_FILES.contains(path)) {
                throw new IllegalArgumentException("blob path '" + path + "' is neither blobs/sha256/<its digest> nor "
                        + String.join(", ", LAYOUT_FILES.stream().sorted().toList()));
            }
        }
    }

    /** Opens a part's stored bytes (already checked against its digest by the caller, or checked while read). */
    @FunctionalInterface
    public interface Opener {
        InputStream open(Part part) throws IOException;
    }

    private ArchiveBlobs() {
    }

    /**
     * Stores each file of {@code archive} as {@code dir/<hex>} (kept when there already) and returns them in archive
     * order; empty when the archive is not in the one layout (it is then only offered whole). The result is checked:
     * {@link #join} of the parts gives {@code archiveDigest}, or nothing is offered.
     */
    public static List<Part> split(Path archive, String archiveDigest, Path dir) throws IOException {
        Files.createDirectories(dir);
        List<Part> parts = new ArrayList<>();
        int directories = 0;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(archive), 64 * 1024);
             TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                if (entry.isDirectory()) {
                    if (directories >= DIRECTORIES.size() || !entry.getName().equals(DIRECTORIES.get(directories)) || !parts.isEmpty()) {
                        return List.of();
                    }
                    directories++;
                    continue;
                }
                if (!entry.isFile()) {
                    return List.of();
                }
                Path part = Files.createTempFile(dir, "split-", ".part");
                try {
                    MessageDigest sha = sha256();
                    try (OutputStream out = new DigestOutputStream(Files.newOutputStream(part), sha)) {
                        tar.transferTo(out);
                    }
                    String hex = HexFormat.of().formatHex(sha.digest());
                    Part p;
                    try {
                        p = new Part(entry.getName(), "sha256:" + hex, entry.getSize());
                    } catch (IllegalArgumentException e) {
                        return List.of(); // not the layout devices can rebuild
                    }
                    Path stored = dir.resolve(hex);
                    if (!Files.isRegularFile(stored) || Files.size(stored) != p.size()) {
                        Files.move(part, stored, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    }
                    parts.add(p);
                } finally {
                    Files.deleteIfExists(part);
                }
            }
        }
        if (directories != DIRECTORIES.size() || parts.isEmpty()) {
            return List.of();
        }
        MessageDigest sha = sha256();
        try (OutputStream out = new DigestOutputStream(OutputStream.nullOutputStream(), sha)) {
            join(parts, p -> Files.newInputStream(dir.resolve(p.digest().substring("sha256:".length()))), out);
        }
        return archiveDigest.equals("sha256:" + HexFormat.of().formatHex(sha.digest())) ? List.copyOf(parts) : List.of();
    }

    /**
     * Writes the archive made of {@code parts}, in their order: the same bytes {@link ImageArchive#writeSinglePlatform}
     * wrote. A part whose bytes are not {@code size} long fails the write.
     */
    public static void join(List<Part> parts, Opener opener, OutputStream out) throws IOException {
        TarArchiveOutputStream tar = new TarArchiveOutputStream(new NonClosing(out));
        tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
        for (String directory : DIRECTORIES) {
            TarArchiveEntry entry = new TarArchiveEntry(directory);
            entry.setMode(040755);
            entry.setModTime(0);
            tar.putArchiveEntry(entry);
            tar.closeArchiveEntry();
        }
        for (Part part : parts) {
            TarArchiveEntry entry = new TarArchiveEntry(part.path());
            entry.setSize(part.size());
            entry.setMode(0100644);
            entry.setModTime(0);
            tar.putArchiveEntry(entry);
            try (InputStream in = opener.open(part)) {
                long copied = in.transferTo(tar); // the tar stream refuses more than the entry's size
                if (copied != part.size()) {
                    throw new IOException("blob " + part.digest() + " has " + copied + " bytes, not " + part.size());
                }
            }
            tar.closeArchiveEntry();
        }
        tar.finish();
        tar.close();
    }

    /** The blob of {@code digest} among {@code parts}. */
    public static Optional<Part> find(List<Part> parts, String digest) {
        return parts.stream().filter(p -> p.digest().equals(digest)).findFirst();
    }

    private static MessageDigest sha256() {
        return ArchiveEntries.sha256();
    }

    /** Lets {@link TarArchiveOutputStream#close} finish the tar without closing the caller's stream. */
    private static final class NonClosing extends java.io.FilterOutputStream {
        NonClosing(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
