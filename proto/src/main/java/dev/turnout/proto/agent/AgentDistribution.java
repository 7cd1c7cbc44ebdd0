package dev.turnout.proto.agent;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarInputStream;
import java.util.jar.Manifest;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * The edge daemon's own distribution, as an agent release carries it (docs/edge-daemon.md, "Agent releases"): a
 * gzip-compressed tar whose top level holds {@value #JAR} (the daemon and its dependencies in one jar, with a
 * {@code Main-Class}) and, optionally, {@value #OPTIONS} (the JVM flags, a java {@code @argfile}); other files are
 * kept as they are. Entries may start with {@code ./}. Only regular files and directories: no links, no absolute
 * paths, no {@code ..}. The orchestrator checks an upload with {@link #check}; the device unpacks a verified download
 * with {@link #unpack}, which checks the same.
 */
public final class AgentDistribution {

    /** The reserved app name of agent releases: a release of it is the edge daemon, never a container. */
    public static final String APP = "turnout-edge";
    /** The daemon's jar, at the top of the distribution. */
    public static final String JAR = "turnout-edge.jar";
    /** The daemon's JVM flags, at the top of the distribution (optional). */
    public static final String OPTIONS = "jvm.options";
    /** Unpacked size limit: the daemon's jar is about 10 MB. */
    public static final long MAX_UNPACKED = 512L << 20;
    private static final int MAX_ENTRIES = 10_000;

    /** What a distribution holds. */
    public record Contents(List<String> files, long unpackedBytes, String mainClass, boolean hasOptions) {
    }

    private AgentDistribution() {
    }

    /** Whether {@code app} is the reserved name of agent releases. */
    public static boolean isAgent(String app) {
        return APP.equals(app);
    }

    /** Reads and checks a distribution without writing anything. */
    public static Contents check(Path tarGz) throws IOException, InvalidAgentDistributionException {
        return walk(tarGz, null);
    }

    /**
     * Unpacks a distribution into {@code dir} (created; it must not exist yet, so that nothing half-written is ever
     * taken for a distribution: unpack into a temporary directory, then rename it).
     */
    public static Contents unpack(Path tarGz, Path dir) throws IOException, InvalidAgentDistributionException {
        Files.createDirectory(dir);
        return walk(tarGz, dir);
    }

    private static Contents walk(Path tarGz, Path into) throws IOException, InvalidAgentDistributionException {
        List<String> files = new ArrayList<>();
        long total = 0;
        String mainClass = null;
        boolean hasOptions = false;
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(tarGz), 64 * 1024);
             TarArchiveInputStream tar = new TarArchiveInputStream(gunzip(raw))) {
            TarArchiveEntry entry;
            while ((entry = nextEntry(tar)) != null) {
                String name = name(entry.getName());
                if (name.isEmpty()) {
                    continue; // "./" itself
                }
                if (files.size() >= MAX_ENTRIES) {
                    throw new InvalidAgentDistributionException("more than " + MAX_ENTRIES + " entries");
                }
                if (entry.isDirectory()) {
                    if (into != null) {
                        Files.createDirectories(into.resolve(name));
                    }
                    continue;
                }
                if (entry.isSymbolicLink() || entry.isLink() || !entry.isFile()) {
                    throw new InvalidAgentDistributionException(name + " is a link or a special file; a distribution holds"
                            + " regular files and directories only");
                }
                if (files.contains(name)) {
                    throw new InvalidAgentDistributionException(name + " is in the archive twice");
                }
                files.add(name);
                total += entry.getSize();
                if (total > MAX_UNPACKED) {
                    throw new InvalidAgentDistributionException("unpacks to more than " + (MAX_UNPACKED >> 20) + " MiB");
                }
                InputStream content = new Unclosed(tar);
                if (name.equals(JAR)) {
                    if (into != null) {
                        copy(content, into.resolve(name));
                        try (InputStream jar = Files.newInputStream(into.resolve(name))) {
                            mainClass = mainClass(jar);
                        }
                    } else {
                        mainClass = mainClass(content);
                    }
                    continue;
                }
                hasOptions |= name.equals(OPTIONS);
                if (into != null) {
                    Path target = into.resolve(name);
                    Files.createDirectories(target.getParent());
                    copy(content, target);
                }
            }
        }
        if (!files.contains(JAR)) {
            throw new InvalidAgentDistributionException("no " + JAR + " at its top level (it holds "
                    + (files.isEmpty() ? "no file" : String.join(", ", files.subList(0, Math.min(5, files.size()))))
                    + "); pack the daemon's jar as " + JAR + " beside " + OPTIONS);
        }
        if (mainClass == null) {
            throw new InvalidAgentDistributionException(JAR + " has no Main-Class in its manifest: not a runnable jar");
        }
        return new Contents(List.copyOf(files), total, mainClass, hasOptions);
    }

    private static InputStream gunzip(InputStream raw) throws InvalidAgentDistributionException, IOException {
        try {
            return new GZIPInputStream(raw, 64 * 1024);
        } catch (ZipException e) {
            throw new InvalidAgentDistributionException("not gzip-compressed: " + e.getMessage()
                    + " (a distribution is a .tar.gz: tar -czf FILE turnout-edge.jar jvm.options)");
        }
    }

    private static TarArchiveEntry nextEntry(TarArchiveInputStream tar) throws InvalidAgentDistributionException {
        try {
            return tar.getNextEntry();
        } catch (IOException | RuntimeException e) {
            throw new InvalidAgentDistributionException("not a readable tar.gz: " + e.getMessage());
        }
    }

    /** The entry's name without a leading {@code ./}, refused when it could leave the directory it is unpacked into. */
    static String name(String raw) throws InvalidAgentDistributionException {
        String name = raw;
        while (name.startsWith("./")) {
            name = name.substring(2);
        }
        if (name.endsWith("/")) {
            name = name.substring(0, name.length() - 1);
        }
        if (name.equals(".")) {
            return "";
        }
        if (name.startsWith("/") || name.contains("\\") || name.contains("\0")) {
            throw new InvalidAgentDistributionException("entry " + raw + " has an absolute or odd path");
        }
        for (String part : name.split("/", -1)) {
            if (part.isEmpty() || part.equals("..") || part.equals(".")) {
                throw new InvalidAgentDistributionException("entry " + raw + " has an empty, '.' or '..' segment");
            }
        }
        return name;
    }

    private static String mainClass(InputStream jar) throws IOException, InvalidAgentDistributionException {
        try {
            JarInputStream in = new JarInputStream(jar, false);
            Manifest manifest = in.getManifest();
            String main = manifest == null ? null : manifest.getMainAttributes().getValue("Main-Class");
            return main == null || main.isBlank() ? null : main.strip();
        } catch (ZipException | SecurityException e) {
            throw new InvalidAgentDistributionException(JAR + " is not a readable jar: " + e.getMessage());
        }
    }

    private static void copy(InputStream in, Path target) throws IOException {
        try (OutputStream out = Files.newOutputStream(target)) {
            in.transferTo(out);
        }
    }

    /** The current tar entry's bytes, for a reader that closes what it is given. */
    private static final class Unclosed extends FilterInputStream {
        Unclosed(InputStream in) {
            super(in);
        }

        @Override
        public void close() {
            // the tar stream goes on to the next entry
        }
    }
}
