package dev.turnout.orchestrator.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Checks {@code turnout server}'s data directory before anything is written into it, so that a read-only volume or
 * one owned by another user is named as such (and nothing is half-created) instead of failing later deep in the
 * store, the key ring or the broker.
 */
final class DataDirectory {

    private DataDirectory() {
    }

    /** Why the server cannot keep its data in {@code dir}, or null when it can (or the check cannot tell). */
    static String problem(Path dir) {
        Path existing = dir.toAbsolutePath().normalize();
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return null;
        }
        if (!Files.isDirectory(existing)) {
            return "the data directory " + dir + (existing.equals(dir.toAbsolutePath().normalize()) ? "" : " (its parent " + existing + ")")
                    + " is not a directory";
        }
        try {
            if (Files.getFileStore(existing).isReadOnly()) {
                return "the data directory " + existing + " is on a read-only file system (a volume mounted read-only?): the orchestrator"
                        + " keeps its store, signing key, operator token and artifacts there; mount it read-write";
            }
        } catch (IOException e) {
            return null;
        }
        if (!Files.isWritable(existing)) {
            return "the data directory " + existing + " is not writable by this process (" + processUser() + "; the directory belongs to "
                    + owner(existing) + "): give it to this user (e.g. chown -R " + processIds() + " " + existing
                    + ") or choose another with --data";
        }
        return null;
    }

    private static String owner(Path path) {
        try {
            return "uid " + Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS) + ", gid "
                    + Files.getAttribute(path, "unix:gid", LinkOption.NOFOLLOW_LINKS) + ", mode "
                    + PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "another user";
        }
    }

    /** "uid 10001, gid 10001": the owner of /proc/self is this process's effective user (Linux). */
    private static String processUser() {
        String ids = processIds();
        return ids.contains(":") ? "uid " + ids.replace(":", ", gid ") : "user " + System.getProperty("user.name");
    }

    private static String processIds() {
        try {
            Path self = Path.of("/proc/self");
            return Files.getAttribute(self, "unix:uid") + ":" + Files.getAttribute(self, "unix:gid");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return System.getProperty("user.name");
        }
    }
}
