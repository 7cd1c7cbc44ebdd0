package dev.turnout.orchestrator.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A transaction one of whose statements the store refused is refused as a whole, even when the code that ran it
 * caught the error and went on: SQLite rolls a transaction back by itself after some errors (a full disk), and the
 * statements after it would each have been committed alone, outside any transaction.
 */
class JdbcSessionTest {

    @TempDir
    Path dir;

    /** A session on a new SQLite file with one table, {@code t (v TEXT NOT NULL)}. */
    private JdbcSession session(String name) throws Exception {
        Path file = dir.resolve(name);
        JdbcSession session = new JdbcSession(() -> DriverManager.getConnection("jdbc:sqlite:" + file), name);
        session.update("CREATE TABLE t (v TEXT NOT NULL)");
        return session;
    }

    @Test
    void afterAStatementOfATransactionFailedNoOtherRunsInItAndTheWholeTransactionIsRefusedAndReported() throws Exception {
        JdbcSession session = session("t.db");
        try {
            AtomicInteger refused = new AtomicInteger();
            session.onFailure(refused::incrementAndGet);

            assertThatThrownBy(() -> session.inTransaction(() -> {
                session.update("INSERT INTO t (v) VALUES (?)", "first");
                try {
                    session.update("INSERT INTO t (v) VALUES (?)", (Object) null); // refused: NOT NULL
                } catch (StoreException caught) {
                    // code that swallows the error and goes on, as an engine step's error handler may
                }
                session.update("INSERT INTO t (v) VALUES (?)", "after the failure");
            })).isInstanceOf(StoreException.class).hasMessageContaining("earlier statement of this transaction failed");

            assertThat(session.query("SELECT v FROM t", rs -> rs.getString(1))).as("nothing of the refused transaction").isEmpty();
            assertThat(refused).as("failure listeners called").hasValue(1);

            // the session goes on: the next transaction commits
            session.inTransaction(() -> session.update("INSERT INTO t (v) VALUES (?)", "next"));
            assertThat(session.query("SELECT v FROM t", rs -> rs.getString(1))).containsExactly("next");
            assertThat(refused).hasValue(1);
        } finally {
            session.close();
        }
    }

    @Test
    void aWorkThatCatchesTheFailureAndEndsIsStillRefusedAtTheCommit() throws Exception {
        JdbcSession session = session("u.db");
        try {
            assertThatThrownBy(() -> session.inTransaction(() -> {
                session.update("INSERT INTO t (v) VALUES (?)", "first");
                try {
                    session.update("INSERT INTO t (v) VALUES (?)", (Object) null);
                } catch (StoreException caught) {
                    // swallowed, and nothing more is written
                }
            })).isInstanceOf(StoreException.class).hasMessageContaining("rolled back");
            assertThat(session.query("SELECT v FROM t", rs -> rs.getString(1))).isEmpty();
        } finally {
            session.close();
        }
    }
}
