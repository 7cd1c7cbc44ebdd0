package dev.turnout.orchestrator.store;

import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.regex.Pattern;

/**
 * {@link FleetStore} on PostgreSQL, which several orchestrators share: the same tables and SQL as
 * SQLite ({@link JdbcFleetStore}), plus {@code LISTEN/NOTIFY} so that the orchestrator driving a
 * rollout learns at once that another one forwarded it a device report.
 */
public final class PostgresFleetStore extends JdbcFleetStore {

    private static final Logger LOG = LoggerFactory.getLogger(PostgresFleetStore.class);
    /** Channel of {@code NOTIFY}: a report waits in {@code forwarded_reports}. */
    static final String CHANNEL = "turnout_forwarded";
    /** Advisory lock key that serializes schema creation when several orchestrators start at once. */
    private static final long SCHEMA_LOCK = 0x7475726e6f7574L; // "turnout"
    private static final Pattern PASSWORD_IN_URL = Pattern.compile("(?i)[?&]password=");

    private final String url;
    private final Properties credentials;
    private volatile Thread listener;
    private volatile boolean closed;

    private PostgresFleetStore(String url, Properties credentials, String description) {
        super(Dialect.POSTGRESQL, () -> DriverManager.getConnection(url, credentials), description);
        this.url = url;
        this.credentials = credentials;
    }

    /**
     * Connects to {@code jdbc:postgresql://host:port/database} as {@code user} (null: the
     * {@code user} of the URL) with {@code password} (null: none, e.g. peer or trust
     * authentication), and creates or migrates the schema. A password inside the URL is refused:
     * it would end up in process lists and logs.
     */
    public static PostgresFleetStore open(String url, String user, String password) {
        if (url == null || !url.startsWith("jdbc:postgresql:")) {
            throw new IllegalArgumentException("a PostgreSQL store is named jdbc:postgresql://HOST:PORT/DATABASE, not " + url);
        }
        if (PASSWORD_IN_URL.matcher(url).find()) {
            throw new IllegalArgumentException("the store URL must not hold the password: put it in $TURNOUT_STORE_PASSWORD"
                    + " or a file (--store-password-file)");
        }
        Properties p = new Properties();
        if (user != null && !user.isBlank()) {
            p.setProperty("user", user);
        }
        if (password != null) {
            p.setProperty("password", password);
        }
        p.setProperty("ApplicationName", "turnout");
        p.setProperty("connectTimeout", "10");
        p.setProperty("tcpKeepAlive", "true");
        return new PostgresFleetStore(url, p, url + (user == null || user.isBlank() ? "" : " as " + user));
    }

    @Override
    protected void prepareSchema(Statement s) throws SQLException {
        s.execute("SELECT pg_advisory_xact_lock(" + SCHEMA_LOCK + ")");
    }

    @Override
    public boolean shared() {
        return true;
    }

    @Override
    protected void notifyForwarded(String rolloutId) {
        execute("NOTIFY " + CHANNEL); // delivered at commit, once per transaction however many reports it forwarded
    }

    /** Listens on its own connection; {@code wake} runs on the listener thread after each notification. */
    @Override
    public synchronized void onForwarded(Runnable wake) {
        if (listener != null) {
            throw new IllegalStateException("already listening");
        }
        Thread t = new Thread(() -> listen(wake), "turnout-store-listener");
        t.setDaemon(true);
        listener = t;
        t.start();
    }

    private void listen(Runnable wake) {
        long backoff = 500;
        while (!closed) {
            try (Connection c = DriverManager.getConnection(url, credentials); Statement s = c.createStatement()) {
                s.execute("LISTEN " + CHANNEL);
                backoff = 500;
                wake.run(); // whatever was forwarded while nobody listened
                PGConnection pg = c.unwrap(PGConnection.class);
                while (!closed) {
                    PGNotification[] got = pg.getNotifications(1000);
                    if (got != null && got.length > 0) {
                        wake.run();
                    }
                }
            } catch (SQLException | RuntimeException e) {
                if (closed) {
                    return;
                }
                LOG.warn("listening for forwarded reports failed, again in {} ms: {}", backoff, e.getMessage());
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException interrupted) {
                    return;
                }
                backoff = Math.min(backoff * 2, 10_000);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        Thread t = listener;
        if (t != null) {
            t.interrupt();
            try {
                t.join(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        super.close();
    }
}
