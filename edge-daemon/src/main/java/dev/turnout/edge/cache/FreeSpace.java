package dev.turnout.edge.cache;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Usable bytes on the file system of a directory; injectable so tests can fill the disk. */
@FunctionalInterface
public interface FreeSpace {

    /** What the file system reports to this (non-root) process. */
    FreeSpace FILE_STORE = dir -> Files.getFileStore(dir).getUsableSpace();

    long usableBytes(Path dir) throws IOException;
}
