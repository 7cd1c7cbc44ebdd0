package dev.turnout.edge.agent;

import dev.turnout.edge.domain.DiskFull;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.AgentVersions;
import dev.turnout.edge.store.AtomicFiles;
import dev.turnout.proto.Reason;
import dev.turnout.proto.agent.AgentDistribution;
import dev.turnout.proto.agent.InvalidAgentDistributionException;
import dev.turnout.proto.rules.SemVer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The agent releases in {@code <data>/agent/}, the files the launcher ({@code bin/lib/edge-agent.sh}, sourced by
 * {@code bin/turnout-edge} and the packaged {@code /usr/bin/turnout-edge}) reads (docs/edge-daemon.md):
 * <ul>
 * <li>{@code VERSION/}: an unpacked distribution ({@code turnout-edge.jar}, {@code jvm.options});</li>
 * <li>{@code current}: the version the launcher runs, one line (absent: the built-in daemon), replaced atomically;</li>
 * <li>{@code trial}: present while a switch is on trial ({@code version=}, {@code previous=}, {@code timeout=} seconds,
 * which this daemon writes; {@code started=} and {@code timedOut=}, which the launcher and its watchdog add);</li>
 * <li>{@code failed}: the launcher's word on a trial it ended by going back ({@code version=}, {@code reason=exited} or
 * {@code not-connected}, {@code at=} epoch seconds).</li>
 * </ul>
 * The launcher says it manages this directory, and which release it started, in the environment:
 * {@value #HOME_ENV} and {@value #VERSION_ENV}.
 */
public final class AgentHome implements AgentVersions {

    /** The agent directory the launcher manages; a daemon started otherwise cannot switch versions. */
    public static final String HOME_ENV = "TURNOUT_EDGE_AGENT_HOME";
    /** The agent release the launcher started (unset or empty: the built-in daemon). */
    public static final String VERSION_ENV = "TURNOUT_EDGE_AGENT_VERSION";
    /** This daemon's exit code when it ends so that its launcher starts another version (EX_TEMPFAIL). */
    public static final int RESTART_EXIT_CODE = 75;

    private static final Logger log = LoggerFactory.getLogger(AgentHome.class);

    private final Path dir;
    private final String builtIn;
    private final boolean managed;
    private final String runningRelease;
    private final Duration startTimeout;
    private final Runnable exit;

    /**
     * @param dataDir      the daemon's data directory
     * @param builtIn      the built-in daemon's version
     * @param startTimeout how long a new version has to connect and report (written into the trial for the watchdog)
     * @param env          the process environment (the launcher's word)
     * @param exit         ends the process ({@link #restart()})
     */
    public AgentHome(Path dataDir, String builtIn, Duration startTimeout, Map<String, String> env, Runnable exit) {
        this.dir = dataDir.resolve("agent").toAbsolutePath().normalize();
        this.builtIn = builtIn;
        this.startTimeout = startTimeout;
        this.exit = exit;
        String home = env.get(HOME_ENV);
        this.managed = home != null && !home.isBlank() && Path.of(home).toAbsolutePath().normalize().equals(dir);
        String version = env.get(VERSION_ENV);
        this.runningRelease = managed && version != null && SemVer.isWellFormed(version.strip()) ? version.strip() : BUILT_IN;
    }

    /** The directory of the agent releases. */
    public Path dir() {
        return dir;
    }

    @Override
    public String runningVersion() {
        return runningRelease.isEmpty() ? builtIn : runningRelease;
    }

    @Override
    public String runningRelease() {
        return runningRelease;
    }

    @Override
    public String builtInVersion() {
        return builtIn;
    }

    @Override
    public String cannotSwitch() {
        return managed ? null : "this daemon was not started by a launcher that switches versions (bin/turnout-edge or the"
                + " packaged turnout-edge, with --data " + dir.getParent() + ")";
    }

    @Override
    public boolean installed(String version) {
        return SemVer.isWellFormed(version) && Files.isRegularFile(dir.resolve(version).resolve(AgentDistribution.JAR));
    }

    @Override
    public void install(String version, Path distribution) throws UpdateFailure {
        Path target = dir.resolve(checked(version));
        if (Files.isRegularFile(target.resolve(AgentDistribution.JAR))) {
            return; // unpacked before (a stage, then an activate): the directory is only ever renamed in whole
        }
        Path tmp = dir.resolve(".unpack-" + version);
        try {
            Files.createDirectories(dir);
            deleteTree(tmp);
            deleteTree(target); // an earlier distribution without its jar is no distribution
            AgentDistribution.unpack(distribution, tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            log.info("installed agent release {} in {}", version, target);
        } catch (InvalidAgentDistributionException e) {
            deleteQuietly(tmp);
            throw new UpdateFailure(Reason.MALFORMED, "the distribution of " + version + " is not usable: " + e.getMessage());
        } catch (IOException e) {
            deleteQuietly(tmp);
            boolean full = DiskFull.is(e);
            throw new UpdateFailure(full ? Reason.DISK_FULL : Reason.ENGINE_ERROR, "cannot unpack " + version + " into " + dir + ": "
                    + e.getMessage(), false, e);
        }
    }

    @Override
    public void beginTrial(String version, String previous) throws UpdateFailure {
        String cannot = cannotSwitch();
        if (cannot != null) {
            throw new UpdateFailure(Reason.AGENT_START_FAILED, cannot);
        }
        if (!version.isEmpty() && !Files.isRegularFile(dir.resolve(checked(version)).resolve(AgentDistribution.JAR))) {
            throw new UpdateFailure(Reason.AGENT_START_FAILED, "agent release " + version + " is not installed in " + dir);
        }
        try {
            Files.deleteIfExists(dir.resolve("failed")); // reported already: a new trial starts with a clean slate
            // the trial first: a crash before `current` changes leaves a trial the launcher sees is stale and drops
            AtomicFiles.write(dir.resolve("trial"), ("version=" + version + "\nprevious=" + previous + "\ntimeout="
                    + Math.max(5, startTimeout.toSeconds()) + "\n").getBytes(StandardCharsets.UTF_8));
            if (version.isEmpty()) {
                Files.deleteIfExists(dir.resolve("current"));
            } else {
                AtomicFiles.write(dir.resolve("current"), (version + "\n").getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException | RuntimeException e) {
            throw new UpdateFailure(Reason.AGENT_START_FAILED, "cannot switch to " + describe(version) + ": " + e.getMessage(), false, e);
        }
        log.info("switched to {} on trial (previous {}, {} s to connect and report)", describe(version), describe(previous),
                startTimeout.toSeconds());
    }

    @Override
    public void restart() {
        log.info("exiting ({}) so that the launcher starts {}", RESTART_EXIT_CODE, describe(readCurrent()));
        exit.run();
    }

    @Override
    public boolean onTrial() {
        Map<String, String> trial = read(dir.resolve("trial"));
        return !trial.isEmpty() && managed && runningRelease.equals(trial.getOrDefault("version", ""));
    }

    @Override
    public void confirmTrial() {
        Map<String, String> trial = read(dir.resolve("trial"));
        if (trial.isEmpty()) {
            return;
        }
        if (!runningRelease.equals(trial.getOrDefault("version", ""))) {
            log.warn("not confirming the trial of {}: this daemon runs {}", describe(trial.get("version")), describe(runningRelease));
            return;
        }
        try {
            Files.deleteIfExists(dir.resolve("trial"));
            log.info("trial of {} confirmed: connected and reported", describe(runningRelease));
        } catch (IOException e) {
            log.warn("cannot confirm the trial of {}: {}", describe(runningRelease), e.getMessage());
        }
    }

    @Override
    public Optional<TrialFailure> failedTrial(String version) {
        Map<String, String> failed = read(dir.resolve("failed"));
        if (failed.isEmpty() || !version.equals(failed.getOrDefault("version", ""))) {
            return Optional.empty();
        }
        boolean timedOut = "not-connected".equals(failed.get("reason"));
        String seconds = failed.getOrDefault("timeout", Long.toString(startTimeout.toSeconds()));
        String message = describe(version) + (timedOut
                ? " did not connect to the broker and report within " + seconds + " s; the launcher stopped it"
                : " exited before it connected to the broker and reported") + "; the launcher started " + runningVersionText() + " again";
        return Optional.of(new TrialFailure(version, timedOut ? Reason.AGENT_NOT_CONNECTED : Reason.AGENT_START_FAILED, message));
    }

    @Override
    public void retainOnly(Set<String> keep) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (!keep.contains(name) && !name.equals(runningRelease) && (SemVer.isWellFormed(name) || name.startsWith(".unpack-"))) {
                    deleteTree(entry);
                    log.info("removed agent release {}", name);
                }
            }
        } catch (IOException e) {
            log.warn("agent clean-up failed: {}", e.getMessage());
        }
    }

    private String runningVersionText() {
        return runningRelease.isEmpty() ? "the built-in version " + builtIn : runningRelease;
    }

    private String describe(String version) {
        return version == null || version.isEmpty() ? "the built-in version " + builtIn : "agent release " + version;
    }

    private String readCurrent() {
        try {
            return Files.readString(dir.resolve("current"), StandardCharsets.UTF_8).strip();
        } catch (NoSuchFileException e) {
            return BUILT_IN;
        } catch (IOException e) {
            return "?";
        }
    }

    private static String checked(String version) throws UpdateFailure {
        if (!SemVer.isWellFormed(version)) {
            throw new UpdateFailure(Reason.MALFORMED, "'" + version + "' is not a semantic version");
        }
        return version;
    }

    /** {@code key=value} lines; empty when the file is missing or unreadable. */
    static Map<String, String> read(Path file) {
        Map<String, String> values = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                int eq = line.indexOf('=');
                if (eq > 0) {
                    values.putIfAbsent(line.substring(0, eq).strip(), line.substring(eq + 1).strip());
                }
            }
        } catch (NoSuchFileException e) {
            return values;
        } catch (IOException e) {
            log.warn("cannot read {}: {}", file, e.getMessage());
        }
        return values;
    }

    private static void deleteQuietly(Path tree) {
        try {
            deleteTree(tree);
        } catch (IOException e) {
            log.debug("cannot remove {}: {}", tree, e.getMessage());
        }
    }

    private static void deleteTree(Path tree) throws IOException {
        if (!Files.exists(tree, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(tree)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
