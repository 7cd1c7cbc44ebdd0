package dev.turnout.orchestrator.store;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One connection to one database, shared by the repositories of a store: serialized access (this
 * object's monitor is the store's lock: a repository that needs several statements with no other
 * thread in between holds it), transactions with "after commit" actions, kept statements,
 * and a new connection after the old one broke.
 */
final class JdbcSession implements AutoCloseable {

    /** Opens a new connection to the database (also after the old one broke). */
    @FunctionalInterface
    interface ConnectionSource {
        Connection open() throws SQLException;
    }

    /** Reads one row. */
    @FunctionalInterface
    interface RowMapper<T> {
        T map(ResultSet rs) throws SQLException;
    }

    /** Told when a transaction ends, whether it committed or rolled back; runs under the lock, before "after commit". */
    @FunctionalInterface
    interface TransactionEnd {
        void ended(boolean committed);
    }

    private static final Logger LOG = LoggerFactory.getLogger(JdbcSession.class);
    /** More distinct queries than the stores have (about forty): the bound only guards against one built from data. */
    private static final int KEPT_QUERIES = 128;

    private final ConnectionSource source;
    private final String description;
    /** The one connection; null after it broke, until the next statement opens a new one. Guarded by this. */
    private Connection connection;
    /** Depth of {@link #inTransaction} calls on the (only) connection; guarded by this. */
    private int transactionDepth;
    private final Map<String, PreparedStatement> statements = new HashMap<>();
    /** Kept query statements, least recently used first; beyond {@link #KEPT_QUERIES} the eldest is closed. Guarded by this. */
    private final Map<String, PreparedStatement> queries = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, PreparedStatement> eldest) {
            if (size() > KEPT_QUERIES && !queriesRunning.contains(eldest.getKey())) {
                closeQuietly(eldest.getValue());
                return true;
            }
            return false;
        }
    };
    /** Queries whose rows are being read now (a mapper may run another query). Guarded by this. */
    private final Set<String> queriesRunning = new HashSet<>();
    /** Actions waiting for the commit of the current transaction; guarded by this. */
    private final List<Runnable> afterCommit = new ArrayList<>();
    private final List<TransactionEnd> transactionEnds = new ArrayList<>();
    /** Called when a transaction failed for want of the store (a statement or the commit refused): see {@link #onFailure}. */
    private final List<Runnable> failureListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    /**
     * A statement of the current transaction failed. SQLite may have rolled the transaction back by itself then (it
     * does on SQLITE_FULL), and every later statement would run outside it, each committed on its own: so none runs.
     * Guarded by this.
     */
    private boolean transactionFailed;
    /** How the statement that failed the current transaction failed; guarded by this. */
    private StoreException transactionFailure;
    /** The last write refused for a reason that passes, and when, while none succeeded since; null: none. */
    private volatile String refusal;
    /** Why the store may refuse writes, said in its errors (SQLite: a full disk), or "" when nothing is known. */
    private volatile java.util.function.Supplier<String> explanation = () -> "";

    /** Opens the first connection; {@code description} names the database in errors and logs (never a password). */
    JdbcSession(ConnectionSource source, String description) throws SQLException {
        this.source = source;
        this.description = description;
        this.connection = source.open();
    }

    String description() {
        return description;
    }

    /** The connection, opened again if the last one broke. Callers hold the lock. */
    Connection connection() throws SQLException {
        if (connection == null) {
            if (transactionDepth > 0) {
                throw new SQLException("the connection to " + description + " broke in a transaction", "08003");
            }
            connection = source.open();
            LOG.info("reconnected to the store {}", description);
        }
        return connection;
    }

    /**
     * Calls {@code listener} whenever a transaction fails because the store refused a statement or the commit (a full
     * disk, an I/O error, a lost connection), not because the work threw an exception of its own: whatever its caller
     * changed in memory for that transaction is not stored.
     */
    void onFailure(Runnable listener) {
        failureListeners.add(listener);
    }

    /**
     * Adds what {@code explanation} says to the message of every failure from now on: SQLite rolls a transaction back
     * by itself when the disk is full, and the commit then says only "cannot commit - no transaction is active".
     */
    void explainFailuresWith(java.util.function.Supplier<String> explanation) {
        this.explanation = explanation;
    }

    /** Calls {@code end} at the end of every transaction from now on. */
    synchronized void onTransactionEnd(TransactionEnd end) {
        transactionEnds.add(end);
    }

    /**
     * Runs {@code work} as one transaction on the connection, holding the lock; nested calls join the
     * outer one. The "after commit" actions run once it committed, outside the lock: publishing must
     * not hold up readers.
     */
    void inTransaction(Runnable work) {
        List<Runnable> committed;
        synchronized (this) {
            if (transactionDepth > 0) {
                work.run();
                return;
            }
            try {
                Connection c = connection();
                c.setAutoCommit(false);
                transactionDepth++;
                transactionFailed = false;
                transactionFailure = null;
                boolean done = false;
                try {
                    work.run();
                    if (transactionFailed) {
                        // the work caught the store's refusal and went on: what it wrote after that is not in this transaction
                        throw new StoreException("a statement of this transaction failed on the store " + description
                                + "; the transaction is rolled back", transactionFailure, transactionFailure.passing());
                    }
                    c.commit();
                    done = true;
                    refusal = null;
                } catch (RuntimeException | Error e) {
                    quietRollback(c);
                    afterCommit.clear();
                    if (e instanceof StoreException refused) {
                        noteRefusal(refused);
                        failureListeners.forEach(Runnable::run);
                    }
                    throw e;
                } catch (SQLException e) {
                    quietRollback(c);
                    noteRefusal(new StoreException(e.getMessage(), e));
                    failureListeners.forEach(Runnable::run);
                    throw e;
                } finally {
                    for (TransactionEnd end : transactionEnds) {
                        end.ended(done);
                    }
                    transactionDepth--;
                    if (connection == c) {
                        c.setAutoCommit(true);
                    }
                }
            } catch (SQLException e) {
                afterCommit.clear();
                throw failed("transaction", e);
            }
            committed = List.copyOf(afterCommit);
            afterCommit.clear();
        }
        committed.forEach(Runnable::run);
    }

    /** Runs {@code action} after the commit of the current transaction, or at once outside one. */
    void afterCommit(Runnable action) {
        synchronized (this) {
            if (transactionDepth > 0) {
                afterCommit.add(action);
                return;
            }
        }
        action.run();
    }

    private void quietRollback(Connection c) {
        try {
            if (!c.isClosed()) {
                c.rollback();
            }
        } catch (SQLException e) {
            if (String.valueOf(e.getMessage()).contains("no transaction is active")) {
                return; // SQLite rolled it back by itself (it does on a full disk)
            }
            LOG.warn("rollback on the store {} failed: {}", description, e.getMessage());
        }
    }

    /**
     * The rows of a query, each read by {@code mapper}. Queries are compiled once and kept like writes
     * (an activation reads a device's desired state and its app's floor, two compiles per device when
     * made afresh). A kept query holds no read
     * snapshot once its result set is closed (the driver resets the statement then; only an open one
     * makes SQLite refuse this connection's next write after another connection wrote), so the result
     * set is always read and closed here. A query that runs inside a mapper of the same query (nested)
     * gets a statement of its own.
     */
    synchronized <T> List<T> query(String sql, RowMapper<T> mapper, Object... args) {
        refuseAfterFailure();
        boolean nested = !queriesRunning.add(sql);
        PreparedStatement fresh = null;
        try {
            PreparedStatement ps;
            if (nested) {
                fresh = bind(connection().prepareStatement(sql), args);
                ps = fresh;
            } else {
                ps = kept(queries, sql, args);
            }
            try (ResultSet rs = ps.executeQuery()) {
                List<T> rows = new ArrayList<>();
                while (rs.next()) {
                    rows.add(mapper.map(rs));
                }
                return rows;
            }
        } catch (SQLException e) {
            if (!nested) {
                forgetQuery(sql);
            }
            throw failedInTransaction(failed("query", e));
        } finally {
            if (!nested) {
                queriesRunning.remove(sql);
            }
            closeQuietly(fresh);
        }
    }

    private void forgetQuery(String sql) {
        closeQuietly(queries.remove(sql));
    }

    /**
     * The statement of {@code sql} kept in {@code kept}, compiled on first use, its parameters bound: compiling costs
     * more than running most statements (this doubled status ingest). Callers hold the lock.
     */
    private PreparedStatement kept(Map<String, PreparedStatement> kept, String sql, Object... args) throws SQLException {
        PreparedStatement ps = kept.get(sql);
        if (ps == null) {
            ps = connection().prepareStatement(sql);
            kept.put(sql, ps);
        }
        ps.clearParameters();
        return bind(ps, args);
    }

    private static void closeQuietly(PreparedStatement ps) {
        if (ps != null) {
            try {
                ps.close();
            } catch (SQLException ignored) {
                // dropped either way
            }
        }
    }

    /** Runs a write statement, in the current transaction if there is one; returns how many rows it changed. */
    synchronized int update(String sql, Object... args) {
        refuseAfterFailure();
        try {
            int changed = kept(statements, sql, args).executeUpdate();
            if (transactionDepth == 0) {
                refusal = null;
            }
            return changed;
        } catch (SQLException e) {
            forget(sql);
            throw failedInTransaction(failed("update", e));
        }
    }

    /**
     * Why the store refuses writes, in words fit for anyone who asks (no path, no SQL: the orchestrator's log has the
     * error), and since when, while no write succeeded since the last one it refused for a reason that passes
     * ({@link StoreException#passing()}); empty when the last write succeeded.
     */
    Optional<String> writesRefused() {
        return Optional.ofNullable(refusal);
    }

    private void noteRefusal(StoreException e) {
        if (StoreException.passing(e) && refusal == null) {
            String why = StoreException.diskFull(e) ? "its disk is full" : "a write failed (the orchestrator's log says why)";
            refusal = why + ", since " + java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        }
    }

    /** Marks the current transaction, if any, as failed by {@code e}; returns it. Callers hold the lock. */
    private StoreException failedInTransaction(StoreException e) {
        if (transactionDepth == 0) {
            noteRefusal(e);
        }
        if (transactionDepth > 0 && !transactionFailed) {
            transactionFailed = true;
            transactionFailure = e;
        }
        return e;
    }

    /** In a transaction whose earlier statement failed, no statement runs: it would run outside the transaction. */
    private void refuseAfterFailure() {
        if (transactionFailed && transactionDepth > 0) {
            throw new StoreException("an earlier statement of this transaction failed on the store " + description
                    + "; nothing more runs in it", transactionFailure, transactionFailure.passing());
        }
    }

    /**
     * Drops the kept statement of {@code sql} after it failed: SQLite's driver may have finalized it (after
     * SQLITE_FULL, every later use said "statement is not executing", also once the disk had room again).
     */
    private void forget(String sql) {
        closeQuietly(statements.remove(sql));
    }

    private static PreparedStatement bind(PreparedStatement ps, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            ps.setObject(i + 1, args[i]);
        }
        return ps;
    }

    /** After a connection failure, drops the connection: the next statement opens a new one. Callers hold the lock. */
    private StoreException failed(String what, SQLException e) {
        String state = e.getSQLState();
        boolean broken = state != null && state.startsWith("08");
        try {
            broken |= connection != null && connection.isClosed();
        } catch (SQLException ignored) {
            broken = true;
        }
        if (broken && connection != null) {
            LOG.warn("lost the connection to the store {}: {}", description, e.getMessage());
            for (PreparedStatement ps : statements.values()) {
                try {
                    ps.close();
                } catch (SQLException ignored) {
                    // the connection is gone anyway
                }
            }
            statements.clear();
            queries.values().forEach(JdbcSession::closeQuietly);
            queries.clear();
            try {
                connection.close();
            } catch (SQLException ignored) {
                // already broken
            }
            connection = null;
        }
        String why = "";
        try {
            why = explanation.get();
        } catch (RuntimeException ignored) {
            // the failure is reported without it
        }
        return new StoreException(what + " failed: " + e.getMessage() + why, e, !why.isEmpty() || StoreException.passes(e));
    }

    @Override
    public synchronized void close() {
        try {
            for (PreparedStatement ps : statements.values()) {
                ps.close();
            }
            statements.clear();
            queries.values().forEach(JdbcSession::closeQuietly);
            queries.clear();
            if (connection != null) {
                connection.close();
                connection = null;
            }
        } catch (SQLException e) {
            throw new StoreException("cannot close the store: " + e.getMessage(), e);
        }
    }

    /** An instant as stored: epoch milliseconds, null for null. */
    static Long millis(Instant t) {
        return t == null ? null : t.toEpochMilli();
    }

    /** The instant in a column of epoch milliseconds, null for SQL NULL. */
    static Instant instant(ResultSet rs, String column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : Instant.ofEpochMilli(v);
    }
}
