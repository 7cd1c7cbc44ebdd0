package dev.turnout.orchestrator.store;

import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A real PostgreSQL from Debian's {@code postgresql} package, for tests: {@code initdb} into a
 * temporary directory, {@code pg_ctl} on a free loopback port, password (SCRAM) authentication
 * over TCP. As root it runs as the {@code postgres} user (initdb refuses root). One server per
 * test JVM, one fresh database per {@link #createDatabase} call. Fails (not skips) when
 * {@code CI=true} and PostgreSQL is not installed.
 */
public final class PostgresProcess implements AutoCloseable {

    public static final String USER = "turnout";
    private static PostgresProcess shared;
    private static final AtomicInteger DATABASES = new AtomicInteger();

    private final Path dir;
    private final Path bin;
    private final int port;
    private final String password;
    private final boolean asPostgres;

    private PostgresProcess(Path dir, Path bin, int port, String password, boolean asPostgres) {
        this.dir = dir;
        this.bin = bin;
        this.port = port;
        this.password = password;
        this.asPostgres = asPostgres;
    }

    /** The server of this test JVM, started on first use and stopped when the JVM exits. */
    public static synchronized PostgresProcess shared() throws Exception {
        if (shared == null) {
            shared = start();
            PostgresProcess started = shared;
            Runtime.getRuntime().addShutdownHook(new Thread(started::close, "postgres-stop"));
        }
        return shared;
    }

    private static Path binaries() throws IOException {
        Path root = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(root)) {
            try (Stream<Path> versions = Files.list(root)) {
                Path newest = versions.filter(v -> Files.isExecutable(v.resolve("bin/initdb")))
                        .max(Comparator.comparingInt(v -> Integer.parseInt(v.getFileName().toString().replaceAll("\\D", "0"))))
                        .orElse(null);
                if (newest != null) {
                    return newest.resolve("bin");
                }
            }
        }
        Requirements.require(false, "PostgreSQL (apt-get install postgresql)");
        return null; // not reached: require fails or aborts
    }

    private static PostgresProcess start() throws Exception {
        Path bin = binaries();
        boolean root = "root".equals(System.getProperty("user.name"));
        Path dir = Files.createTempDirectory("turnout-pg-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        String password = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
        Path pwfile = dir.resolve("pwfile");
        Files.writeString(pwfile, password + "\n", StandardCharsets.UTF_8);
        if (root) {
            run(List.of("chown", "-R", "postgres:postgres", dir.toString()), dir, false);
        }
        int port = Ports.free();
        PostgresProcess pg = new PostgresProcess(dir, bin, port, password, root);
        Path data = dir.resolve("data");
        pg.pg(List.of(bin.resolve("initdb").toString(), "-D", data.toString(), "-U", USER, "--pwfile=" + pwfile,
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"));
        Files.deleteIfExists(pwfile);
        pg.pg(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-l", dir.resolve("postgres.log").toString(),
                "-w", "-t", "60", "-o", "-p " + port + " -k " + dir + " -c listen_addresses=127.0.0.1 -c fsync=off"
                        + " -c synchronous_commit=off -c full_page_writes=off -c max_connections=50", "start"));
        return pg;
    }

    private void pg(List<String> command) throws Exception {
        List<String> full = new ArrayList<>();
        if (asPostgres) {
            full.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        full.addAll(command);
        run(full, dir, true);
    }

    private static void run(List<String> command, Path dir, boolean logged) throws Exception {
        Path log = dir.resolve("commands.log");
        ProcessBuilder b = new ProcessBuilder(command).redirectErrorStream(true);
        b.redirectOutput(logged ? ProcessBuilder.Redirect.appendTo(log.toFile()) : ProcessBuilder.Redirect.DISCARD);
        Process p = b.start();
        if (!p.waitFor(90, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            String output = Files.exists(log) ? Files.readString(log) : "";
            throw new AssertionError(String.join(" ", command) + " failed: " + output);
        }
    }

    /** A new, empty database; returns its JDBC URL. */
    public String createDatabase() throws Exception {
        String name = "turnout_" + ProcessHandle.current().pid() + "_" + DATABASES.incrementAndGet();
        try (Connection c = DriverManager.getConnection(url("postgres"), USER, password); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        }
        return url(name);
    }

    public String url(String database) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
    }

    /** The password of {@link #USER}: tests hand it over as {@code TURNOUT_STORE_PASSWORD} or a file. */
    public String password() {
        return password;
    }

    public int port() {
        return port;
    }

    @Override
    public void close() {
        try {
            pg(List.of(bin.resolve("pg_ctl").toString(), "-D", dir.resolve("data").toString(), "-m", "immediate", "-w", "stop"));
        } catch (Exception e) {
            System.err.println("could not stop PostgreSQL: " + e);
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            System.err.println("could not delete " + dir + ": " + e);
        }
    }
}
