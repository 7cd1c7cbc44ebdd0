package dev.turnout.orchestrator.store;

import dev.turnout.broker.Role;
import dev.turnout.orchestrator.domain.ConflictException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Broker identities (devices, monitors) in table {@code broker_identities} of the orchestrator's
 * {@code turnout.db}, on a {@link JdbcSession} of its own (also when the fleet store is PostgreSQL:
 * each orchestrator keeps the identities of its own broker). Revoking deletes the row: nothing of a
 * revoked secret is kept. Thread-safe, blocking.
 */
public final class IdentityStore implements AutoCloseable {

    private static final String TABLE = "CREATE TABLE IF NOT EXISTS broker_identities (name TEXT PRIMARY KEY,"
            + " role TEXT NOT NULL, secret_hash TEXT NOT NULL, mosquitto_hash TEXT NOT NULL, created_at INTEGER NOT NULL)";

    private final JdbcSession session;

    private IdentityStore(JdbcSession session) {
        this.session = session;
    }

    /** Opens (creating the table if need be) the identities in {@code dataDir/turnout.db}. */
    public static IdentityStore open(Path dataDir) {
        JdbcSession session = null;
        try {
            Files.createDirectories(dataDir);
            Path file = dataDir.resolve("turnout.db").toAbsolutePath();
            session = new JdbcSession(() -> connect(file), file.toString());
            synchronized (session) {
                try (Statement s = session.connection().createStatement()) {
                    s.execute(TABLE);
                }
            }
            return new IdentityStore(session);
        } catch (Exception e) {
            if (session != null) {
                session.close();
            }
            throw new StoreException("cannot open the identity store in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    private static Connection connect(Path file) throws SQLException {
        Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
        try (Statement s = c.createStatement()) {
            s.execute("PRAGMA busy_timeout=5000");
        }
        return c;
    }

    /** Adds an identity; {@link ConflictException} when the name is taken. */
    public void insert(BrokerIdentity identity) {
        synchronized (session) {
            if (find(identity.name()).isPresent()) {
                throw new ConflictException("the broker identity " + identity.name() + " exists already");
            }
            try {
                session.update("INSERT INTO broker_identities (name, role, secret_hash, mosquitto_hash, created_at)"
                                + " VALUES (?,?,?,?,?)", identity.name(), identity.role().name(), identity.secretHash(),
                        identity.mosquittoHash(), identity.createdAt().toEpochMilli());
            } catch (StoreException e) {
                throw new StoreException("cannot store the broker identity " + identity.name() + ": " + e.getMessage(), e);
            }
        }
    }

    public Optional<BrokerIdentity> find(String name) {
        return session.query("SELECT * FROM broker_identities WHERE name = ?", IdentityStore::identity, name)
                .stream().findFirst();
    }

    /** Every identity, sorted by name. */
    public List<BrokerIdentity> list() {
        return session.query("SELECT * FROM broker_identities ORDER BY name", IdentityStore::identity);
    }

    /**
     * Replaces an identity's secret hash by another hash of the same secret, only if it still is
     * {@code current} (a re-enrollment in between wins); true when replaced.
     */
    public boolean replaceSecretHash(String name, String current, String replacement) {
        try {
            return session.update("UPDATE broker_identities SET secret_hash = ? WHERE name = ? AND secret_hash = ?",
                    replacement, name, current) > 0;
        } catch (StoreException e) {
            throw new StoreException("cannot update the secret hash of " + name + ": " + e.getMessage(), e);
        }
    }

    /** Removes an identity; false when there was none. */
    public boolean delete(String name) {
        try {
            return session.update("DELETE FROM broker_identities WHERE name = ?", name) > 0;
        } catch (StoreException e) {
            throw new StoreException("cannot revoke " + name + ": " + e.getMessage(), e);
        }
    }

    private static BrokerIdentity identity(ResultSet rs) throws SQLException {
        return new BrokerIdentity(rs.getString("name"), Role.valueOf(rs.getString("role")), rs.getString("secret_hash"),
                rs.getString("mosquitto_hash"), Instant.ofEpochMilli(rs.getLong("created_at")));
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (StoreException ignored) {
            // closing anyway
        }
    }
}
