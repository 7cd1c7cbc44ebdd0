package dev.turnout.proto.image;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One pass over an image archive (a tar): the sha256 and size of every regular file, the bytes of the small ones
 * (JSON files, image configs and manifests), the first bytes of every file (to tell a gzip layer from a plain tar)
 * and the symbolic links {@code docker save} writes for repeated layers. Layers are hashed as they stream by, never
 * held in memory.
 */
public final class ArchiveEntries {

    /** Files up to this size are kept: every manifest, index and config is far smaller. */
    static final int KEEP_LIMIT = 4 << 20;
    private static final int MAGIC_BYTES = 4;

    /** One regular file of the archive. {@code bytes} is null for files larger than the keep limit. */
    public record Entry(String name, String digest, long size, byte[] magic, byte[] bytes) {
        /** The file's bytes; fails for a large file, which no caller asks for as JSON. */
        byte[] content() throws InvalidImageArchiveException {
            if (bytes == null) {
                throw new InvalidImageArchiveException(name + " is implausibly large (" + size + " bytes) for a JSON file");
            }
            return bytes;
        }
    }

    private final Map<String, Entry> entries;
    private final Map<String, String> symlinks;

    private ArchiveEntries(Map<String, Entry> entries, Map<String, String> symlinks) {
        this.entries = entries;
        this.symlinks = symlinks;
    }

    /** Reads {@code tar}; an unreadable or truncated tar is an {@link InvalidImageArchiveException}. */
    public static ArchiveEntries read(Path tar) throws IOException, InvalidImageArchiveException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(tar), 64 * 1024)) {
            return read(in);
        }
    }

    static ArchiveEntries read(InputStream in) throws IOException, InvalidImageArchiveException {
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> symlinks = new LinkedHashMap<>();
        byte[] buffer = new byte[64 * 1024];
        try (TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                String name = clean(entry.getName());
                if (entry.isSymbolicLink()) {
                    symlinks.put(name, resolve(name, entry.getLinkName()));
                    continue;
                }
                if (!entry.isFile()) {
                    continue;
                }
                MessageDigest sha = sha256();
                boolean keep = entry.getSize() <= KEEP_LIMIT;
                ByteArrayOutputStream kept = keep ? new ByteArrayOutputStream((int) entry.getSize()) : null;
                byte[] magic = new byte[(int) Math.min(MAGIC_BYTES, entry.getSize())];
                long total = 0;
                int n;
                while ((n = tar.read(buffer)) > 0) {
                    if (total < magic.length) {
                        System.arraycopy(buffer, 0, magic, (int) total, (int) Math.min(n, magic.length - total));
                    }
                    sha.update(buffer, 0, n);
                    if (kept != null) {
                        kept.write(buffer, 0, n);
                    }
                    total += n;
                }
                if (total != entry.getSize()) {
                    throw new InvalidImageArchiveException("the archive is truncated inside " + name);
                }
                entries.put(name, new Entry(name, "sha256:" + HexFormat.of().formatHex(sha.digest()), total, magic,
                        kept == null ? null : kept.toByteArray()));
            }
        } catch (IllegalArgumentException e) {
            throw new InvalidImageArchiveException("it is not a readable tar archive (" + e.getMessage() + ")");
        } catch (IOException e) {
            if (entries.isEmpty()) {
                throw new InvalidImageArchiveException("it is not a readable tar archive (" + e.getMessage() + ")");
            }
            throw new InvalidImageArchiveException("the archive is damaged after " + entries.size() + " files (" + e.getMessage() + ")");
        }
        return new ArchiveEntries(Collections.unmodifiableMap(entries), Collections.unmodifiableMap(symlinks));
    }

    /** The regular file at {@code name}, following the symbolic links of the archive (a few hops at most). */
    public Optional<Entry> entry(String name) {
        String current = clean(name);
        for (int hop = 0; hop < 8; hop++) {
            Entry found = entries.get(current);
            if (found != null) {
                return Optional.of(found);
            }
            String target = symlinks.get(current);
            if (target == null) {
                return Optional.empty();
            }
            current = target;
        }
        return Optional.empty();
    }

    /** The name of the regular file {@code name} leads to (itself, or a link's target). */
    Optional<String> realName(String name) {
        return entry(name).map(Entry::name);
    }

    /** True when the archive has a regular file (or a link to one) at {@code name}. */
    public boolean has(String name) {
        return entry(name).isPresent();
    }

    /** Names of every regular file, in archive order. */
    public List<String> names() {
        return new ArrayList<>(entries.keySet());
    }

    /** The blob for {@code digest} in an OCI layout ({@code blobs/sha256/<hex>}). */
    Optional<Entry> blob(String digest) {
        return entry(blobName(digest));
    }

    static String blobName(String digest) {
        int colon = digest.indexOf(':');
        return "blobs/" + digest.substring(0, colon) + "/" + digest.substring(colon + 1);
    }

    /** A tar name as {@code path.Clean} would give it: no leading "./" or "/", no "." segments. */
    static String clean(String name) {
        List<String> parts = new ArrayList<>();
        for (String part : name.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (!parts.isEmpty()) {
                    parts.remove(parts.size() - 1);
                }
                continue;
            }
            parts.add(part);
        }
        return String.join("/", parts);
    }

    private static String resolve(String linkName, String target) {
        if (target.startsWith("/")) {
            return clean(target);
        }
        int slash = linkName.lastIndexOf('/');
        return clean(slash < 0 ? target : linkName.substring(0, slash + 1) + target);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    static String sha256(byte[] data) {
        return "sha256:" + HexFormat.of().formatHex(sha256().digest(data));
    }
}
