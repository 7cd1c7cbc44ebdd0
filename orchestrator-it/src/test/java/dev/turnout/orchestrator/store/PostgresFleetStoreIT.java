package dev.turnout.orchestrator.store;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The store contract on a real PostgreSQL (Debian's package, started by the test), a fresh database per test. */
class PostgresFleetStoreIT extends FleetStoreContract {

    private PostgresProcess postgres;
    private String url;

    @BeforeEach
    void database() throws Exception {
        postgres = PostgresProcess.shared();
        url = postgres.createDatabase();
    }

    @Override
    protected FleetStore open() {
        return PostgresFleetStore.open(url, PostgresProcess.USER, postgres.password());
    }

    @Test
    void isSharedAndTellsListenersAtOnceWhenAReportIsForwarded() throws Exception {
        try (FleetStore receiver = open(); FleetStore owner = open()) {
            assertThat(owner.shared()).isTrue();
            CountDownLatch listening = new CountDownLatch(1);
            ConcurrentLinkedQueue<Long> woken = new ConcurrentLinkedQueue<>();
            owner.onForwarded(() -> {
                woken.add(System.nanoTime());
                listening.countDown();
            });
            assertThat(listening.await(10, TimeUnit.SECONDS)).as("the listener wakes once at start").isTrue();
            woken.clear();
            long sent = System.nanoTime();
            receiver.inTransaction(() -> {
                receiver.forwardReport("r-1", "pi-1", "status", new byte[] {1}, now);
                receiver.forwardReport("r-1", "pi-2", "status", new byte[] {2}, now);
            });
            await().atMost(Duration.ofSeconds(5)).until(() -> !woken.isEmpty());
            System.out.printf("PostgreSQL NOTIFY: forwarded report to listener in %.1f ms%n", (woken.peek() - sent) / 1e6);
            assertThat(owner.takeForwardedReports(List.of("r-1"), 10)).hasSize(2);
        }
    }

    @Test
    void startsWithoutAPasswordInTheUrlOnly() {
        assertThatThrownBy(() -> PostgresFleetStore.open(url + "?password=secret", PostgresProcess.USER, null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("TURNOUT_STORE_PASSWORD")
                .hasMessageNotContaining("secret");
        assertThatThrownBy(() -> PostgresFleetStore.open(url, PostgresProcess.USER, "wrong"))
                .isInstanceOf(StoreException.class).hasMessageContaining("password");
    }

    @Test
    void reconnectsAfterTheConnectionBroke() throws Exception {
        try (FleetStore store = open(); java.sql.Connection admin = java.sql.DriverManager.getConnection(
                postgres.url("postgres"), PostgresProcess.USER, postgres.password())) {
            store.appendAudit(new AuditEntry(now, "api", "device.enroll", "pi-1", null));
            String database = url.substring(url.lastIndexOf('/') + 1);
            admin.createStatement().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"
                    + database + "' AND pid <> pg_backend_pid()");
            assertThatThrownBy(() -> store.audit(10)).isInstanceOf(StoreException.class);
            assertThat(store.audit(10)).as("the next call reconnects").hasSize(1);
        }
    }
}
