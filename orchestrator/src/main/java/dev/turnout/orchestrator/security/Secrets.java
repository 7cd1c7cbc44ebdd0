package dev.turnout.orchestrator.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * Random broker secrets: 32 bytes from {@link SecureRandom}, base64url without padding (43 characters);
 * and secrets kept in files.
 */
public final class Secrets {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int SECRET_BYTES = 32;

    private Secrets() {
    }

    public static String newSecret() {
        byte[] bytes = new byte[SECRET_BYTES];
        RANDOM.nextBytes(bytes);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    /** The first line of a secret file (a password or token file), trimmed; empty for an empty file. */
    public static String firstLine(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        int newline = text.indexOf('\n');
        return (newline < 0 ? text : text.substring(0, newline)).trim();
    }

    /**
     * Writes {@code text} to {@code file} (replacing it) atomically and readable by its owner only
     * (0600 where the file system has POSIX permissions): through {@code .NAME.tmp} next to it.
     */
    public static void writePrivate(Path file, String text) throws IOException {
        Path tmp = privateTemp(file, text);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Creates {@code file} holding a new random secret ({@link #newSecret()}, then a newline), atomically
     * and readable by its owner only, unless it exists. True if this call created it (false also when
     * another process created it meanwhile).
     */
    public static boolean createSecretFile(Path file) throws IOException {
        if (Files.exists(file)) {
            return false;
        }
        Path tmp = privateTemp(file, newSecret() + "\n");
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            return true;
        } catch (FileAlreadyExistsException raced) {
            Files.deleteIfExists(tmp);
            return false;
        }
    }

    /** {@code text} in a fresh owner-only {@code .NAME.tmp} next to {@code file} (its directory created if missing). */
    private static Path privateTemp(Path file, String text) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve("." + file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        try {
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException e) {
            Files.createFile(tmp); // not a POSIX file system: its own rules apply
        }
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        return tmp;
    }

    static byte[] salt(int length) {
        byte[] salt = new byte[length];
        RANDOM.nextBytes(salt);
        return salt;
    }
}
