package dev.turnout.edge.app;

import dev.turnout.edge.domain.DiskUse;
import dev.turnout.edge.health.HealthChecker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * How full the filesystem holding the container engine's data is: Docker's data root ({@code docker info}'s
 * DockerRootDir, asked once, the first time a release limits disk use), or the daemon's own data dir when that
 * directory is not on this host (an engine elsewhere, or a daemon in a container without it).
 */
public final class EngineDisk implements HealthChecker.DiskSource {

    private static final Logger log = LoggerFactory.getLogger(EngineDisk.class);

    private final Supplier<String> engineDataRoot;
    private final Path fallback;
    private volatile Path measured;

    public EngineDisk(Supplier<String> engineDataRoot, Path fallback) {
        this.engineDataRoot = engineDataRoot;
        this.fallback = fallback;
    }

    @Override
    public Optional<DiskUse> measure() {
        Path path = path();
        try {
            FileStore store = Files.getFileStore(path);
            long total = store.getTotalSpace();
            long free = store.getUnallocatedSpace();
            return Optional.of(new DiskUse(path.toString(), Math.max(0, total - free), store.getUsableSpace()));
        } catch (IOException | RuntimeException e) {
            log.debug("cannot measure the disk of {}: {}", path, e.getMessage());
            return Optional.empty();
        }
    }

    private Path path() {
        Path path = measured;
        if (path == null) {
            String root = engineDataRoot.get();
            path = !root.isEmpty() && Files.isDirectory(Path.of(root)) ? Path.of(root) : fallback;
            log.info("disk limits measure the filesystem of {}", path);
            measured = path;
        }
        return path;
    }
}
