package dev.turnout.packaging;

import dev.turnout.packaging.Commands.Result;

import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The two Debian packages this module builds with jdeb (in the {@code package} phase, before this test): what
 * {@code dpkg-deb} says they hold, what lintian says of them, and what installing, upgrading and purging them
 * does to a throw-away root ({@code dpkg --root ... --force-script-chrootless}: the maintainer scripts run on this
 * host with {@code $DPKG_ROOT} set, so users, directories and unit links go into that root, not onto this machine).
 * Then {@code systemd-analyze verify} on the units as installed, and both launchers run from the installed tree.
 */
class DebianPackagesIT {

    /** Lintian warnings the packages carry on purpose (docs/install.md says why); any other warning fails. */
    private static final Set<String> ACCEPTED_WARNINGS = Set.of();

    private static final Path TARGET = Path.of("target").toAbsolutePath();
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    private static Path edgeDeb;
    private static Path serverDeb;
    private static String version;

    @BeforeAll
    static void findPackages() throws IOException {
        edgeDeb = onlyMatch("turnout-edge_*_all.deb");
        serverDeb = onlyMatch("turnout_*_all.deb");
        version = edgeDeb.getFileName().toString().replaceAll("^turnout-edge_(.*)_all\\.deb$", "$1");
    }

    @Test
    void controlFieldsAndContents() {
        String edgeInfo = run("dpkg-deb", "--info", edgeDeb.toString());
        assertThat(edgeInfo)
                .contains("Package: turnout-edge", "Architecture: all", "Version: " + version)
                .contains("Depends: openjdk-17-jre-headless | java17-runtime-headless, docker.io | docker-ce | docker-engine");
        assertThat(version).as("0.1.0-SNAPSHOT sorts before 0.1.0 as 0.1.0~SNAPSHOT").doesNotContain("-");
        if (version.contains("SNAPSHOT")) {
            assertThat(version).endsWith("~SNAPSHOT");
        }
        assertThat(run("dpkg-deb", "--info", edgeDeb.toString(), "conffiles").strip()).isEqualTo("/etc/turnout/edge.yaml");
        assertThat(contents(edgeDeb)).contains(
                "-rwxr-xr-x root/root ./usr/bin/turnout-edge",
                "-rw-r--r-- root/root ./usr/share/turnout-edge/turnout-edge.jar",
                "-rw-r--r-- root/root ./usr/share/turnout-edge/jvm.options",
                "-rw-r--r-- root/root ./usr/share/turnout-edge/edge-agent.sh",
                "-rw-r--r-- root/root ./lib/systemd/system/turnout-edge.service",
                "-rw------- root/root ./etc/turnout/edge.yaml",
                "-rw-r--r-- root/root ./usr/share/doc/turnout-edge/copyright",
                "-rw-r--r-- root/root ./usr/share/doc/turnout-edge/changelog.gz",
                "-rw-r--r-- root/root ./usr/share/man/man1/turnout-edge.1.gz");

        String serverInfo = run("dpkg-deb", "--info", serverDeb.toString());
        assertThat(serverInfo).contains("Package: turnout", "Architecture: all", "Version: " + version,
                "Depends: openjdk-17-jre-headless | java17-runtime-headless");
        assertThat(run("dpkg-deb", "--info", serverDeb.toString(), "conffiles").strip()).isEqualTo("/etc/turnout/server.env");
        List<String> serverFiles = contents(serverDeb);
        assertThat(serverFiles).contains(
                "-rwxr-xr-x root/root ./usr/bin/turnout",
                "-rw-r--r-- root/root ./usr/share/turnout/turnout.jar",
                "-rw-r--r-- root/root ./lib/systemd/system/turnout.service",
                "-rw-r--r-- root/root ./etc/turnout/server.env",
                "-rw-r--r-- root/root ./usr/lib/sysusers.d/turnout.conf",
                "-rw-r--r-- root/root ./usr/lib/tmpfiles.d/turnout.conf",
                "-rw-r--r-- root/root ./usr/share/man/man1/turnout.1.gz",
                "-rw-r--r-- root/root ./usr/share/turnout/edge/turnout-edge.deb");
        // every jar turnout.jar's manifest names is in lib/
        long libJars = serverFiles.stream().filter(f -> f.matches(".* \\./usr/share/turnout/lib/[^/]+\\.jar")).count();
        long builtJars;
        try (Stream<Path> lib = Files.list(REPO.resolve("orchestrator/target/lib"))) {
            builtJars = lib.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertThat(libJars).isEqualTo(builtJars).isPositive();
        // nothing under /var/lib: the data directories belong to postinst (and the edge one to postrm purge)
        assertThat(contents(edgeDeb)).noneMatch(f -> f.contains("./var/"));
        assertThat(serverFiles).noneMatch(f -> f.contains("./var/"));
    }

    @Test
    void lintianFindsNoErrorsOrWarnings() {
        Requirements.require(Files.isExecutable(Path.of("/usr/bin/lintian")), "lintian (apt-get install lintian; bin/test installs it)");
        Result lintian = exec(List.of("lintian", "--tag-display-limit", "0", edgeDeb.toString(), serverDeb.toString()));
        System.out.println("lintian:\n" + lintian.out());
        List<String> tags = lintian.out().lines().filter(l -> l.matches("^[EW]: .*")).toList();
        assertThat(tags).noneMatch(l -> l.startsWith("E: "));
        Set<String> warnings = tags.stream().map(l -> l.split(" ")[2]).collect(Collectors.toCollection(TreeSet::new));
        assertThat(warnings).isSubsetOf(ACCEPTED_WARNINGS);
    }

    @Test
    void installUpgradeRemovePurgeInAThrowAwayRoot() throws IOException {
        Requirements.require("0".equals(run("id", "-u").strip()), "root (dpkg --root installs files owned by the turnout user)");
        Path root = Files.createTempDirectory(TARGET.resolve("tmp"), "dpkg-root");
        Files.createDirectories(root.resolve("var/lib/dpkg/info"));
        Files.createDirectories(root.resolve("var/lib/dpkg/updates"));
        Files.createFile(root.resolve("var/lib/dpkg/status"));
        Files.createFile(root.resolve("var/lib/dpkg/available"));

        dpkg(root, "-i", edgeDeb.toString(), serverDeb.toString());

        // files, the conffile as shipped, modes and owners
        Path edgeYaml = root.resolve("etc/turnout/edge.yaml");
        assertThat(Files.readString(edgeYaml)).isEqualTo(Files.readString(REPO.resolve("config/turnout-edge.example.yaml")));
        assertThat(mode(edgeYaml)).isEqualTo("rw-------");
        assertThat(Files.readString(root.resolve("usr/share/turnout-edge/jvm.options")))
                .isEqualTo(Files.readString(REPO.resolve("edge-daemon/jvm.options")));
        Path edgeData = root.resolve("var/lib/turnout-edge");
        assertThat(mode(edgeData)).isEqualTo("rwx------");
        assertThat(owner(edgeData)).isEqualTo("0:0");
        String passwd = Files.readString(root.resolve("etc/passwd"));
        String turnoutUser = passwd.lines().filter(l -> l.startsWith("turnout:")).findFirst().orElseThrow();
        String[] fields = turnoutUser.split(":");
        assertThat(fields[5]).isEqualTo("/var/lib/turnout");
        assertThat(fields[6]).isEqualTo("/usr/sbin/nologin");
        Path serverData = root.resolve("var/lib/turnout");
        assertThat(mode(serverData)).isEqualTo("rwxr-x---");
        assertThat(owner(serverData)).isEqualTo(fields[2] + ":" + fields[3]);
        for (String unit : List.of("turnout-edge.service", "turnout.service")) {
            Path wants = root.resolve("etc/systemd/system/multi-user.target.wants").resolve(unit);
            assertThat(Files.readSymbolicLink(wants)).isEqualTo(Path.of("/lib/systemd/system").resolve(unit));
        }
        // this machine is untouched: no user, no unit link, no data directory of the packages
        assertThat(Files.readString(Path.of("/etc/passwd"))).doesNotContain("Turnout orchestrator");

        verifyUnits(root);

        // the server's package carries the edge package byte for byte, where turnout server finds it by default
        assertThat(root.resolve("usr/share/turnout/edge/turnout-edge.deb")).hasSameBinaryContentAs(edgeDeb);

        // the launchers run from the installed tree, the edge one with the installed jvm.options
        assertThat(run(root.resolve("usr/bin/turnout-edge").toString(), "--version").strip())
                .isEqualTo(version.replaceAll("~.*", ""));
        assertThat(run(root.resolve("usr/bin/turnout").toString(), "--version")).contains("turnout " + version.replaceAll("~.*", ""));

        // an upgrade (here: the same version again) keeps a changed conffile and the orchestrator's data
        Files.writeString(edgeYaml, "deviceId: pi-7\n");
        Files.writeString(serverData.resolve("signing.key"), "the key every device trusts\n");
        dpkg(root, "-i", edgeDeb.toString(), serverDeb.toString());
        assertThat(Files.readString(edgeYaml)).isEqualTo("deviceId: pi-7\n");
        assertThat(serverData.resolve("signing.key")).hasContent("the key every device trusts");

        // remove keeps conffiles and data; purge of the edge daemon removes its data directory and config
        dpkg(root, "--remove", "turnout-edge", "turnout");
        assertThat(edgeYaml).exists();
        assertThat(edgeData).isDirectory();
        assertThat(root.resolve("usr/bin/turnout-edge")).doesNotExist();
        dpkg(root, "--purge", "turnout-edge");
        assertThat(edgeYaml).doesNotExist();
        assertThat(edgeData).doesNotExist();
        assertThat(Files.exists(root.resolve("etc/systemd/system/multi-user.target.wants/turnout-edge.service"),
                LinkOption.NOFOLLOW_LINKS)).as("the unit's enable link after purge").isFalse();
        // ... and the orchestrator's purge keeps its data (the signing key) and its user
        Result purge = dpkg(root, "--purge", "turnout");
        assertThat(purge.out()).contains("kept /var/lib/turnout");
        assertThat(root.resolve("etc/turnout/server.env")).doesNotExist();
        assertThat(serverData.resolve("signing.key")).exists();
        assertThat(Files.readString(root.resolve("etc/passwd"))).contains("turnout:");
        assertThat(Files.readString(root.resolve("var/lib/dpkg/status"))).doesNotContain("Package: turnout");

        // passed: the root (about 150 MiB) goes; a failed run leaves it in target/tmp to look at
        run("rm", "-rf", "--one-file-system", root.toString());
    }

    /**
     * The edge launcher's class data sharing archive (docs/edge-daemon.md, "Start-up and the class archive"), on the
     * package's files unpacked ({@code dpkg-deb -x}; the launcher finds its jar beside itself): the first start writes
     * {@code DATA/cds/turnout-edge.jsa} when the JVM exits, the next maps it (the daemon's own classes come from it:
     * {@code -Xlog:class+load} says "shared objects file (top)"), a damaged archive (cut short: a Java 17 that maps one
     * crashes) is thrown away and written anew without the daemon noticing, and {@code TURNOUT_EDGE_CDS=off} makes none.
     * The daemon runs until it finds its config missing (exit 2): enough to load its classes and exit.
     */
    @Test
    void edgeLauncherWritesUsesAndRenewsItsClassArchive() throws IOException {
        Path tree = Files.createTempDirectory(Files.createDirectories(TARGET.resolve("tmp")), "edge-tree");
        run("dpkg-deb", "-x", edgeDeb.toString(), tree.toString());
        String launcher = tree.resolve("usr/bin/turnout-edge").toString();
        Path data = tree.resolve("data");
        Path archive = data.resolve("cds/turnout-edge.jsa");
        List<String> daemon = List.of(launcher, "--config", tree.resolve("missing.yaml").toString(), "--data", data.toString());
        String options = "@" + tree.resolve("usr/share/turnout-edge/jvm.options") + " -Xlog:class+load=info";

        // without an archive: the daemon runs, and its JVM writes one as it exits
        Result first = exec(daemon);
        assertThat(first.exit()).as(first.out()).isEqualTo(2);
        assertThat(first.out()).contains("missing.yaml does not exist").doesNotContain("[warning]");
        assertThat(archive).isRegularFile();
        long size = Files.size(archive);
        assertThat(size).as("archive size").isGreaterThan(1 << 20);

        // with it: the daemon's classes come from the archive, which stays as it was
        Result second = exec(daemon, Map.of("TURNOUT_EDGE_JAVA_OPTS", options));
        assertThat(second.exit()).as(second.out()).isEqualTo(2);
        assertThat(second.out()).containsPattern("dev\\.turnout\\.edge\\.\\S+ source: shared objects file \\(top\\)");
        assertThat(Files.size(archive)).isEqualTo(size);

        // damaged (cut short): thrown away, the daemon runs without it, and a whole one is written again
        try (var channel = java.nio.channels.FileChannel.open(archive, java.nio.file.StandardOpenOption.WRITE)) {
            channel.truncate(4096);
        }
        Result damaged = exec(daemon, Map.of("TURNOUT_EDGE_JAVA_OPTS", options));
        assertThat(damaged.exit()).as(damaged.out()).isEqualTo(2);
        assertThat(damaged.out()).contains("missing.yaml does not exist").doesNotContain("fatal error", "shared objects file (top)");
        assertThat(Files.size(archive)).as("archive written again").isGreaterThan(1 << 20);
        Result renewed = exec(daemon, Map.of("TURNOUT_EDGE_JAVA_OPTS", options));
        assertThat(renewed.out()).containsPattern("dev\\.turnout\\.edge\\.\\S+ source: shared objects file \\(top\\)");

        // off: no archive made or used
        Path other = tree.resolve("data-off");
        Result off = exec(List.of(launcher, "--config", tree.resolve("missing.yaml").toString(), "--data", other.toString()),
                Map.of("TURNOUT_EDGE_CDS", "off", "TURNOUT_EDGE_JAVA_OPTS", options));
        assertThat(off.exit()).as(off.out()).isEqualTo(2);
        assertThat(off.out()).doesNotContain("shared objects file (top)");
        assertThat(other.resolve("cds")).doesNotExist();
        run("rm", "-rf", "--one-file-system", tree.toString());
    }

    /**
     * {@code systemd-analyze verify} on the units as installed: {@code --root} makes it read them and their
     * {@code ExecStart} there; the root gets this machine's own units (targets) and, if this machine has no Docker
     * unit, a stand-in for {@code docker.service}, which the edge unit requires.
     */
    private static void verifyUnits(Path root) throws IOException {
        Path analyze = Path.of("/usr/bin/systemd-analyze");
        Requirements.require(Files.isExecutable(analyze), "systemd-analyze (apt-get install systemd; bin/test installs it)");
        Path units = root.resolve("lib/systemd/system");
        run("cp", "-an", "/lib/systemd/system/.", units.toString());
        if (!Files.exists(units.resolve("docker.service"))) {
            Files.writeString(units.resolve("docker.service"), "[Unit]\nDescription=Docker stand-in\n[Service]\nExecStart=/bin/true\n");
        }
        Result verify = exec(List.of(analyze.toString(), "verify", "--root=" + root,
                "/lib/systemd/system/turnout-edge.service", "/lib/systemd/system/turnout.service"));
        assertThat(verify.exit()).as(verify.out()).isZero();
        assertThat(verify.out()).as("systemd-analyze verify says nothing of good units").isBlank();
    }

    private static Result dpkg(Path root, String... args) {
        List<String> command = new ArrayList<>(List.of("dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends"));
        command.addAll(Arrays.asList(args));
        Result result = exec(command);
        assertThat(result.exit()).as(String.join(" ", command) + "\n" + result.out()).isZero();
        return result;
    }

    private static List<String> contents(Path deb) {
        // "-rw-r--r-- root/root  1234 2026-12-06 06:04 ./path" -> "-rw-r--r-- root/root ./path"
        return run("dpkg-deb", "--contents", deb.toString()).lines()
                .map(l -> l.split("\\s+"))
                .map(f -> f[0] + " " + f[1] + " " + f[f.length - 1])
                .toList();
    }

    private static String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }

    private static String owner(Path path) throws IOException {
        return Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS) + ":"
                + Files.getAttribute(path, "unix:gid", LinkOption.NOFOLLOW_LINKS);
    }

    private static Path onlyMatch(String glob) throws IOException {
        List<Path> found = new ArrayList<>();
        try (var dir = Files.newDirectoryStream(TARGET, glob)) {
            dir.forEach(found::add);
        }
        assertThat(found).as("one %s in %s (built by jdeb in the package phase)", glob, TARGET).hasSize(1);
        return found.get(0);
    }

    private static String run(String... command) {
        Result result = exec(List.of(command));
        assertThat(result.exit()).as(String.join(" ", command) + "\n" + result.out()).isZero();
        return result.out();
    }

    /** Runs a command with stderr merged into stdout, bounded by five minutes. */
    private static Result exec(List<String> command) {
        return exec(command, Map.of());
    }

    /** Runs a command with {@code env} added to this environment, stderr merged into stdout, bounded by five minutes. */
    private static Result exec(List<String> command, Map<String, String> env) {
        return Commands.run(command, env, null, java.time.Duration.ofMinutes(5));
    }
}
