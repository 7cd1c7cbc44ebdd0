package dev.turnout.orchestrator.app;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Optional;

/**
 * How the CLI finds the operator token of a server running on the same host under the same user,
 * wherever its data directory is ({@code turnout server --data /tmp/turnout}, {@code turnout demo}):
 * a running server writes {@code http-<port>} into a per-user runtime directory
 * ({@code $XDG_RUNTIME_DIR/turnout}, else {@code ~/.cache/turnout/servers}; mode 0700), holding the
 * path of its {@code operator.token}, never the token. The file system's permissions decide who may
 * read the token, as for the token file itself. The entry is removed when the server stops.
 */
public final class LocalServers {

    private LocalServers() {
    }

    /** The runtime directory for this environment, if there is a place for one. */
    public static Optional<Path> dir(Map<String, String> env) {
        String runtime = env.get("XDG_RUNTIME_DIR");
        if (runtime != null && !runtime.isBlank() && Files.isDirectory(Path.of(runtime))) {
            return Optional.of(Path.of(runtime, "turnout"));
        }
        String home = env.get("HOME");
        if (home != null && !home.isBlank()) {
            return Optional.of(Path.of(home, ".cache", "turnout", "servers"));
        }
        return Optional.empty();
    }

    /** The entry a server on {@code port} writes. */
    public static Optional<Path> entry(Map<String, String> env, int port) {
        return dir(env).map(d -> d.resolve("http-" + port));
    }

    /** The token file of the server that registered {@code port}, if one did and the file is there. */
    public static Optional<Path> tokenFile(Map<String, String> env, int port) {
        Optional<Path> entry = entry(env, port);
        if (entry.isEmpty() || !Files.isRegularFile(entry.get())) {
            return Optional.empty();
        }
        try {
            String text = Files.readString(entry.get(), StandardCharsets.UTF_8).trim();
            Path file = Path.of(text);
            return file.isAbsolute() && Files.isRegularFile(file) ? Optional.of(file) : Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Writes the entry for {@code port}; returns it, or empty when there is no place or it cannot be written. */
    static Optional<Path> register(Map<String, String> env, int port, Path tokenFile) {
        Optional<Path> entry = entry(env, port);
        if (entry.isEmpty()) {
            return Optional.empty();
        }
        try {
            Path dir = entry.get().getParent();
            if (!Files.isDirectory(dir)) {
                try {
                    Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                } catch (UnsupportedOperationException e) {
                    Files.createDirectories(dir);
                }
            }
            Path tmp = dir.resolve(".http-" + port + "." + ProcessHandle.current().pid());
            Files.writeString(tmp, tokenFile.toAbsolutePath() + "\n", StandardCharsets.UTF_8);
            try {
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system: its own rules apply
            }
            Files.move(tmp, entry.get(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return entry;
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Removes the entry if it still names {@code tokenFile} (another server may have taken the port since). */
    static void unregister(Path entry, Path tokenFile) {
        try {
            if (Files.isRegularFile(entry)
                    && Files.readString(entry, StandardCharsets.UTF_8).trim().equals(tokenFile.toAbsolutePath().toString())) {
                Files.deleteIfExists(entry);
            }
        } catch (IOException | RuntimeException e) {
            // a stale entry only points at a token file; the CLI checks the answer of the server anyway
        }
    }
}
