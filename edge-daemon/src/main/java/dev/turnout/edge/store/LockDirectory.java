package dev.turnout.edge.store;

import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.UpdateLocks;
import dev.turnout.proto.Reason;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The apps' update locks under {@code {data}/locks/{app}}: each directory is bind-mounted into the app's containers at
 * {@link UpdateLocks#CONTAINER_DIR}, writable by any user (an app that runs as "1000" must be able to create its lock),
 * and the lock is held while {@link UpdateLocks#LOCK_FILE} exists in it.
 */
public final class LockDirectory implements UpdateLocks {

    private final Path root;

    public LockDirectory(Path root) {
        this.root = root;
    }

    @Override
    public String hostDir(String app) throws UpdateFailure {
        Path dir = dirOf(app);
        try {
            Files.createDirectories(dir);
            try {
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
            } catch (UnsupportedOperationException notPosix) {
                // not on Linux: the directory's default permissions
            }
        } catch (IOException e) {
            throw new UpdateFailure(Reason.ENGINE_ERROR, "cannot create the update lock directory " + dir + ": " + e.getMessage());
        }
        return dir.toAbsolutePath().toString();
    }

    @Override
    public boolean held(String app) {
        return Files.exists(dirOf(app).resolve(LOCK_FILE));
    }

    private Path dirOf(String app) {
        return root.resolve(app.replaceAll("[^A-Za-z0-9_.-]", "_"));
    }
}
