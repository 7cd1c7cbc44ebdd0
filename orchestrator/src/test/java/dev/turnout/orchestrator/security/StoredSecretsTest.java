package dev.turnout.orchestrator.security;

import dev.turnout.broker.PasswordHash;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.store.BrokerIdentity;
import dev.turnout.orchestrator.store.IdentityStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** What the broker and the HTTP API accept as a device's secret, for identities issued now and by older versions. */
class StoredSecretsTest {

    @TempDir
    Path data;

    private IdentityStore store;
    private BrokerAccess access;
    private BasicCredentials basic;

    @BeforeEach
    void open() {
        store = IdentityStore.open(data);
        access = new BrokerAccess(store, new OrchestratorIdentity("turnout-orchestrator-t", "orchestrator-secret"), Clock.systemUTC());
        basic = new BasicCredentials(store);
    }

    @AfterEach
    void close() {
        store.close();
    }

    @Test
    void aSecretIssuedNowIsStoredAsItsHmacAndChecksOnTheBrokerAndOverHttp() {
        BrokerAccess.Issued pi = access.issue("pi-1", Role.DEVICE);
        String stored = store.find("pi-1").orElseThrow().secretHash();
        assertThat(stored).startsWith("$hmac-sha256$v=1$").doesNotContain(pi.secret());

        assertThat(access.authenticate("pi-1", bytes(pi.secret()))).contains(Role.DEVICE);
        assertThat(basic.verify("pi-1", pi.secret())).map(BasicCredentials.Principal::role).contains(Role.DEVICE);
        assertThat(access.authenticate("pi-1", bytes(pi.secret() + "x"))).isEmpty();
        assertThat(basic.verify("pi-1", "x" + pi.secret())).isEmpty();
        assertThat(access.authenticate("pi-2", bytes(pi.secret()))).isEmpty();
    }

    @Test
    void anArgon2idHashOfAnOlderVersionIsReplacedByTheFastFormAtItsFirstGoodCheck() {
        String secret = Secrets.newSecret();
        String argon = PasswordHash.hash(secret);
        store.insert(new BrokerIdentity("pi-old", Role.DEVICE, argon, MosquittoPasswordHash.hash(secret), Instant.EPOCH));

        assertThat(access.authenticate("pi-old", bytes("wrong-" + secret))).isEmpty();
        assertThat(store.find("pi-old").orElseThrow().secretHash()).as("a failed check changes nothing").isEqualTo(argon);

        assertThat(access.authenticate("pi-old", bytes(secret))).contains(Role.DEVICE);
        String upgraded = store.find("pi-old").orElseThrow().secretHash();
        assertThat(upgraded).startsWith("$hmac-sha256$v=1$");
        assertThat(access.authenticate("pi-old", bytes(secret))).contains(Role.DEVICE);
        assertThat(basic.verify("pi-old", secret)).isPresent();
        assertThat(access.authenticate("pi-old", bytes("wrong-" + secret))).isEmpty();
    }

    @Test
    void aReEnrollmentBetweenTheCheckAndTheUpgradeWins() {
        String old = Secrets.newSecret();
        String argon = PasswordHash.hash(old);
        store.insert(new BrokerIdentity("pi-3", Role.DEVICE, argon, "$7$x", Instant.EPOCH));
        store.delete("pi-3");
        BrokerAccess.Issued fresh = access.issue("pi-3", Role.DEVICE);
        String current = store.find("pi-3").orElseThrow().secretHash();

        assertThat(store.replaceSecretHash("pi-3", argon, PasswordHash.hashMachineSecret(old))).isFalse();
        assertThat(store.find("pi-3").orElseThrow().secretHash()).isEqualTo(current);
        assertThat(access.authenticate("pi-3", bytes(old))).isEmpty();
        assertThat(access.authenticate("pi-3", bytes(fresh.secret()))).contains(Role.DEVICE);
    }

    @Test
    void aRevokedIdentityIsRefusedAtItsNextCheck() {
        BrokerAccess.Issued pi = access.issue("pi-4", Role.DEVICE);
        assertThat(access.authenticate("pi-4", bytes(pi.secret()))).isPresent();
        assertThat(access.revoke("pi-4")).isTrue();
        assertThat(access.authenticate("pi-4", bytes(pi.secret()))).isEqualTo(Optional.empty());
        assertThat(basic.verify("pi-4", pi.secret())).isEmpty();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
