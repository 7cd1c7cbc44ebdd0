package dev.turnout.orchestrator.bench;

import dev.turnout.broker.PasswordHash;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.security.BasicCredentials;
import dev.turnout.orchestrator.store.BrokerIdentity;
import dev.turnout.orchestrator.store.IdentityStore;
import dev.turnout.orchestrator.security.Secrets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;

/**
 * What remembering a successful device credential check saves: an Argon2id verification against the
 * check the artifact route makes for a device whose secret verified in the last 5 minutes (both read
 * the identity from the store). `bin/bench credentials`.
 */
public final class CredentialCheckBenchmark {
    public static void main(String[] a) throws Exception {
        Path dir = Files.createTempDirectory("credbench");
        IdentityStore store = IdentityStore.open(dir);
        String secret = Secrets.newSecret();
        store.insert(new BrokerIdentity("pi-1", Role.DEVICE, PasswordHash.hash(secret), "x", Instant.now()));
        BasicCredentials creds = new BasicCredentials(store, Clock.systemUTC());
        int n = 20;
        for (int i = 0; i < 3; i++) PasswordHash.verify(secret, store.find("pi-1").get().secretHash()); // warm-up
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) PasswordHash.verify(secret, store.find("pi-1").get().secretHash());
        double argon = (System.nanoTime() - t0) / 1e6 / n;
        creds.verify("pi-1", secret);
        for (int i = 0; i < 2000; i++) creds.verify("pi-1", secret); // warm-up
        int m = 20000;
        t0 = System.nanoTime();
        for (int i = 0; i < m; i++) if (creds.verify("pi-1", secret).isEmpty()) throw new AssertionError();
        double cached = (System.nanoTime() - t0) / 1e6 / m;
        System.out.printf("Argon2id check (store read + verify): %.2f ms; remembered check (store read + SHA-256): %.3f ms; ratio %.0fx%n",
                argon, cached, argon / cached);
        store.close();
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
