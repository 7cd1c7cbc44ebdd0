package dev.turnout.orchestrator.security;

import dev.turnout.broker.FileBrokerIdentities;
import dev.turnout.broker.PasswordHash;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.store.BrokerIdentity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class HiveMqIdentitiesFileTest {

    @TempDir
    Path dir;

    @Test
    void whatTheOrchestratorWritesTheStandaloneExtensionReads() throws Exception {
        Path file = dir.resolve("hivemq-identities");
        OrchestratorIdentity orchestrator = new OrchestratorIdentity("turnout-orchestrator-k1", "o-secret");
        HiveMqIdentitiesFile.write(file, orchestrator, List.of(
                new BrokerIdentity("pi-1", Role.DEVICE, PasswordHash.hash("d-secret"), "$7$x", Instant.EPOCH),
                new BrokerIdentity("grafana", Role.MONITOR, PasswordHash.hash("m-secret"), "$7$y", Instant.EPOCH)));
        FileBrokerIdentities read = new FileBrokerIdentities(file, 0);
        assertThat(read.authenticate("turnout-orchestrator-k1", bytes("o-secret"))).contains(Role.ORCHESTRATOR);
        assertThat(read.authenticate("pi-1", bytes("d-secret"))).contains(Role.DEVICE);
        assertThat(read.authenticate("grafana", bytes("m-secret"))).contains(Role.MONITOR);
        assertThat(read.authenticate("pi-1", bytes("m-secret"))).isEmpty();
        assertThat(read.isActive("nobody")).isFalse();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
