package dev.turnout.orchestrator.store;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;

/** {@link FleetStore} on one SQLite file ({@code turnout.db}) in WAL mode, one connection, serialized access. */
public final class SqliteFleetStore extends JdbcFleetStore {

    /** Below this much free space on the store's disk, its errors say the disk is full. */
    private static final long NEARLY_FULL_BYTES = 1024 * 1024;

    private SqliteFleetStore(Path file) {
        super(Dialect.SQLITE, () -> connect(file), file.toString());
        explainFailuresWith(() -> {
            try {
                long free = Files.getFileStore(file).getUsableSpace();
                return free < NEARLY_FULL_BYTES ? " (the disk holding " + file + " is full: " + free / 1024 + " KiB free)" : "";
            } catch (java.io.IOException e) {
                return "";
            }
        });
    }

    /** Opens (creating or migrating) {@code dataDir/turnout.db}. */
    public static SqliteFleetStore open(Path dataDir) {
        try {
            Files.createDirectories(dataDir);
        } catch (Exception e) {
            throw new StoreException("cannot open the store in " + dataDir + ": " + e.getMessage(), e);
        }
        return new SqliteFleetStore(dataDir.resolve("turnout.db").toAbsolutePath());
    }

    private static Connection connect(Path file) throws java.sql.SQLException {
        // BEGIN IMMEDIATE: a transaction takes the write lock when it starts, waiting up to busy_timeout for it. A deferred
        // one that read first fails at its first write with SQLITE_BUSY at once, without waiting, when another connection
        // (the identity store's, on the same file: an enrollment) wrote meanwhile; a device's presence was lost that way.
        java.util.Properties properties = new java.util.Properties();
        properties.setProperty("transaction_mode", "IMMEDIATE");
        // no store reads a generated key: with it on (the driver's default) every INSERT, upserts included, ran and
        // compiled a second statement (SELECT last_insert_rowid()), a third of the engine thread's time in SQLite
        // during a rollout (JFR, 2,000 devices)
        properties.setProperty("jdbc.get_generated_keys", "false");
        Connection c = DriverManager.getConnection("jdbc:sqlite:" + file, properties);
        try (Statement s = c.createStatement()) {
            s.execute("PRAGMA journal_mode=WAL");
            s.execute("PRAGMA synchronous=NORMAL");
            s.execute("PRAGMA busy_timeout=5000");
        }
        return c;
    }
}
