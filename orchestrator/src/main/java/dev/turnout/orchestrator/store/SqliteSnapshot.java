package dev.turnout.orchestrator.store;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * A consistent copy of a live SQLite database ({@code VACUUM INTO}): one read transaction on a
 * connection of its own, so writers carry on (WAL) and the copy holds every committed transaction up
 * to its start and nothing half-written. Never copy the file of a live database instead: its WAL
 * holds the latest commits.
 */
public final class SqliteSnapshot {

    private SqliteSnapshot() {
    }

    /** Writes a snapshot of {@code database} to {@code target}, which must not exist. Blocking. */
    public static void write(Path database, Path target) {
        if (!Files.isRegularFile(database)) {
            throw new StoreException("there is no database " + database + " to back up", null);
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + database.toAbsolutePath())) {
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA busy_timeout=5000");
            }
            try (PreparedStatement vacuum = c.prepareStatement("VACUUM INTO ?")) {
                vacuum.setString(1, target.toAbsolutePath().toString());
                vacuum.execute();
            }
        } catch (SQLException e) {
            throw new StoreException("cannot take a snapshot of " + database + ": " + e.getMessage(), e);
        }
    }
}
