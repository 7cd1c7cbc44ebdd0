package dev.turnout.orchestrator.install;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;

/**
 * The edge daemon's Debian package the orchestrator hands to devices it installs ({@code turnout server
 * --edge-package FILE}; the orchestrator's own package ships one at {@link #DEBIAN_DEFAULT}). Its SHA-256 is
 * computed once per version of the file (size and modification time).
 */
public final class EdgePackage {

    /** Where the orchestrator's Debian package puts the edge package; used when {@code --edge-package} is not given. */
    public static final Path DEBIAN_DEFAULT = Path.of("/usr/share/turnout/edge/turnout-edge.deb");

    private final Path file;
    private FileTime hashedAt;
    private long hashedSize = -1;
    private String sha256;

    public EdgePackage(Path file) {
        this.file = Objects.requireNonNull(file, "file").toAbsolutePath();
    }

    public Path file() {
        return file;
    }

    /** Hex SHA-256 of the file as it is now. */
    public synchronized String sha256() throws IOException {
        FileTime modified = Files.getLastModifiedTime(file);
        long size = Files.size(file);
        if (sha256 == null || !modified.equals(hashedAt) || size != hashedSize) {
            MessageDigest digest;
            try {
                digest = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
                in.transferTo(java.io.OutputStream.nullOutputStream());
            }
            sha256 = HexFormat.of().formatHex(digest.digest());
            hashedAt = modified;
            hashedSize = size;
        }
        return sha256;
    }

    /** Checks the file is there and readable; the message names the option that sets it. */
    public void check() {
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new IllegalStateException("the edge package " + file + " is not a readable file (turnout server --edge-package FILE)");
        }
    }
}
