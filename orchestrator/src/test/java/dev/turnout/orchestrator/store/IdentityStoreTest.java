package dev.turnout.orchestrator.store;

import dev.turnout.broker.Role;
import dev.turnout.orchestrator.domain.ConflictException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class IdentityStoreTest {

    @TempDir
    Path data;

    private final Instant now = Instant.parse("2026-11-22T10:15:30.123Z");

    private BrokerIdentity identity(String name, Role role) {
        return new BrokerIdentity(name, role, "argon2-" + name, "$7$-" + name, now);
    }

    @Test
    void keepsIdentitiesBesideTheFleetInTurnoutDbAcrossAReopen() throws Exception {
        try (SqliteFleetStore fleet = SqliteFleetStore.open(data); IdentityStore identities = IdentityStore.open(data)) {
            identities.insert(identity("pi-2", Role.DEVICE));
            identities.insert(identity("grafana", Role.MONITOR));
            assertThatThrownBy(() -> identities.insert(identity("pi-2", Role.MONITOR)))
                    .isInstanceOf(ConflictException.class).hasMessageContaining("pi-2");
            fleet.appendAudit(new AuditEntry(now, "api", "device.enroll", "pi-2", null));
        }
        try (IdentityStore identities = IdentityStore.open(data)) {
            assertThat(identities.list()).extracting(BrokerIdentity::name).containsExactly("grafana", "pi-2");
            assertThat(identities.find("pi-2")).contains(identity("pi-2", Role.DEVICE));
            assertThat(identities.delete("pi-2")).isTrue();
            assertThat(identities.delete("pi-2")).as("revoked already").isFalse();
            assertThat(identities.find("pi-2")).isEmpty();
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"));
             ResultSet version = c.createStatement().executeQuery("SELECT MAX(version) FROM schema_version")) {
            assertThat(version.getInt(1)).as("the fleet's schema version is the fleet's").isEqualTo(FleetSchema.VERSION);
        }
    }
}
