package dev.turnout.orchestrator.bench;

import dev.turnout.broker.PasswordHash;
import dev.turnout.broker.Role;
import dev.turnout.orchestrator.security.BasicCredentials;
import dev.turnout.orchestrator.security.MosquittoPasswordHash;
import dev.turnout.orchestrator.security.Secrets;
import dev.turnout.orchestrator.store.BrokerIdentity;
import dev.turnout.orchestrator.store.IdentityStore;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;

/**
 * What a device's credential check costs (a connect to the embedded broker, a download from the
 * HTTP API): the store read plus Argon2id (what older versions stored for every device) against the
 * store read plus HMAC-SHA256 (what is stored now), and Mosquitto's PBKDF2-SHA512 for scale.
 * `bin/bench credentials`.
 */
public final class CredentialCheckBenchmark {
    public static void main(String[] a) throws Exception {
        Path dir = Files.createTempDirectory("credbench");
        try (IdentityStore store = IdentityStore.open(dir)) {
            String secret = Secrets.newSecret();
            store.insert(new BrokerIdentity("pi-argon", Role.DEVICE, PasswordHash.hash(secret), "x", Instant.now()));
            store.insert(new BrokerIdentity("pi-hmac", Role.DEVICE, PasswordHash.hashMachineSecret(secret), "x", Instant.now()));
            String mosquitto = MosquittoPasswordHash.hash(secret);
            BasicCredentials creds = new BasicCredentials(store);

            double argon = timeMs(20, () -> PasswordHash.verify(secret, store.find("pi-argon").orElseThrow().secretHash()));
            double hmac = timeMs(20_000, () -> creds.verify("pi-hmac", secret).isPresent());
            double pbkdf2 = timeMs(500, () -> MosquittoPasswordHash.verify(secret, mosquitto));
            System.out.printf(Locale.ROOT, "device credential check, store read + Argon2id (older versions): %.2f ms%n", argon);
            System.out.printf(Locale.ROOT, "device credential check, store read + HMAC-SHA256 (now)        : %.3f ms (%.0fx less)%n",
                    hmac, argon / hmac);
            System.out.printf(Locale.ROOT, "Mosquitto's PBKDF2-SHA512 check, for scale (no store read)     : %.3f ms%n", pbkdf2);
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static double timeMs(int n, java.util.function.BooleanSupplier check) {
        for (int i = 0; i < Math.max(3, n / 10); i++) {
            check.getAsBoolean(); // warm-up
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            if (!check.getAsBoolean()) {
                throw new AssertionError("the check refused the right secret");
            }
        }
        return (System.nanoTime() - t0) / 1e6 / n;
    }
}
