package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.store.StoreException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Broker identities (devices, monitors) in table {@code broker_identities} of the orchestrator's
 * {@code turnout.db}, on a connection of its own. Revoking deletes the row: nothing of a revoked
 * secret is kept. Thread-safe, blocking.
 */
public final class IdentityStore implements AutoCloseable {

    private final Connection connection;

    private IdentityStore(Connection connection) {
        this.connection = connection;
    }

    public static IdentityStore open(Path dataDir) {
        try {
            Files.createDirectories(dataDir);
            Connection c = DriverManager.getConnection("jdbc:sqlite:" + dataDir.resolve("turnout.db").toAbsolutePath());
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA busy_timeout=5000");
                s.execute("CREATE TABLE IF NOT EXISTS broker_identities (name TEXT PRIMARY KEY, role TEXT NOT NULL,"
                        + " secret_hash TEXT NOT NULL, mosquitto_hash TEXT NOT NULL, created_at INTEGER NOT NULL)");
            }
            return new IdentityStore(c);
        } catch (Exception e) {
            throw new StoreException("cannot open the identity store in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    /** Adds an identity; {@link ConflictException} when the name is taken. */
    public synchronized void insert(BrokerIdentity identity) {
        if (find(identity.name()).isPresent()) {
            throw new ConflictException("the broker identity " + identity.name() + " exists already");
        }
        try (PreparedStatement p = connection.prepareStatement(
                "INSERT INTO broker_identities (name, role, secret_hash, mosquitto_hash, created_at) VALUES (?,?,?,?,?)")) {
            p.setString(1, identity.name());
            p.setString(2, identity.role().name());
            p.setString(3, identity.secretHash());
            p.setString(4, identity.mosquittoHash());
            p.setLong(5, identity.createdAt().toEpochMilli());
            p.executeUpdate();
        } catch (SQLException e) {
            throw new StoreException("cannot store the broker identity " + identity.name() + ": " + e.getMessage(), e);
        }
    }

    public synchronized Optional<BrokerIdentity> find(String name) {
        List<BrokerIdentity> found = query("SELECT * FROM broker_identities WHERE name = ?", name);
        return found.stream().findFirst();
    }

    /** Every identity, sorted by name. */
    public synchronized List<BrokerIdentity> list() {
        return query("SELECT * FROM broker_identities ORDER BY name", null);
    }

    /** Removes an identity; false when there was none. */
    public synchronized boolean delete(String name) {
        try (PreparedStatement p = connection.prepareStatement("DELETE FROM broker_identities WHERE name = ?")) {
            p.setString(1, name);
            return p.executeUpdate() > 0;
        } catch (SQLException e) {
            throw new StoreException("cannot revoke " + name + ": " + e.getMessage(), e);
        }
    }

    private List<BrokerIdentity> query(String sql, String arg) {
        try (PreparedStatement p = connection.prepareStatement(sql)) {
            if (arg != null) {
                p.setString(1, arg);
            }
            List<BrokerIdentity> out = new ArrayList<>();
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    out.add(new BrokerIdentity(rs.getString("name"), dev.turnout.broker.Role.valueOf(rs.getString("role")),
                            rs.getString("secret_hash"), rs.getString("mosquitto_hash"),
                            Instant.ofEpochMilli(rs.getLong("created_at"))));
                }
            }
            return out;
        } catch (SQLException e) {
            throw new StoreException("cannot read broker identities: " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            connection.close();
        } catch (SQLException ignored) {
            // closing anyway
        }
    }
}
