package dev.turnout.orchestrator.bench;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.store.SqliteFleetStore;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Benchmark (not a test): rollout state writes per second of the embedded SQLite store, by fleet
 * size, against plain JDBC writing the same rows to the same kind of table on the same disk in the
 * same run. Run with {@code bin/bench store [--sizes 1000,5000,10000] [--events 10000]}.
 *
 * <p>A write is what the engine does for a status event that moves one device of a rollout:
 * {@code saveRollout} (the rollout row plus the devices that changed) inside the engine's batch
 * transactions of 500 reports. The baseline upserts one device row per event with one prepared
 * statement, 500 per transaction. Also timed: the first write of a whole rollout (every device).
 */
public final class StoreBenchmark {

    private static final int BATCH = 500;

    List<Integer> sizes = List.of(1000, 5000, 10000);
    int events = 10_000;
    Path work = Path.of("target", "bench-store");
    final PrintStream out;

    StoreBenchmark(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        StoreBenchmark b = new StoreBenchmark(System.out);
        try {
            b.parse(args);
            b.run();
        } catch (IllegalArgumentException e) {
            System.err.println("bench store: " + e.getMessage());
            System.exit(1);
        }
        System.exit(0);
    }

    void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(args[i] + " needs a value");
            }
            switch (args[i]) {
                case "--sizes" -> sizes = java.util.Arrays.stream(args[++i].split(",")).map(String::trim).map(Integer::parseInt).toList();
                case "--events" -> events = Integer.parseInt(args[++i]);
                case "--work" -> work = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i] + "; use --sizes 1000,5000,10000 --events N --work DIR");
            }
        }
        if (sizes.isEmpty() || sizes.stream().anyMatch(n -> n < 1) || events < 1) {
            throw new IllegalArgumentException("sizes and events must be positive");
        }
    }

    record Result(int devices, double fullWriteMs, double storeWritesPerSecond, double plainWritesPerSecond) {
    }

    List<Result> run() throws Exception {
        RolloutBenchmark.silenceLogs();
        Files.createDirectories(work);
        out.printf(Locale.ROOT, "machine: %d cores, %s; SQLite (WAL, synchronous=NORMAL) in %s; %,d events per size, %d per transaction%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.name") + " " + Runtime.version(),
                work.toAbsolutePath(), events, BATCH);
        // one small warm-up round so that the first size does not pay for class loading and JIT
        measure(Math.min(200, sizes.get(0)), Math.min(2000, events));
        List<Result> results = new ArrayList<>();
        out.printf(Locale.ROOT, "%8s | %16s | %22s | %22s | %6s%n", "devices", "full write", "rollout writes (store)",
                "plain JDBC upserts", "ratio");
        for (int n : sizes) {
            Result r = measure(n, events);
            results.add(r);
            out.printf(Locale.ROOT, "%,8d | %13.1f ms | %,17.0f /s | %,17.0f /s | %6.2f%n", n, r.fullWriteMs(), r.storeWritesPerSecond(),
                    r.plainWritesPerSecond(), r.storeWritesPerSecond() / r.plainWritesPerSecond());
        }
        if (results.size() > 1) {
            Result first = results.get(0);
            Result last = results.get(results.size() - 1);
            out.printf(Locale.ROOT, "from %,d to %,d devices (x%.0f): store writes/s x%.2f, plain JDBC x%.2f%n", first.devices(), last.devices(),
                    last.devices() / (double) first.devices(), last.storeWritesPerSecond() / first.storeWritesPerSecond(),
                    last.plainWritesPerSecond() / first.plainWritesPerSecond());
        }
        return results;
    }

    private Result measure(int n, int eventCount) throws Exception {
        Path dir = Files.createTempDirectory(work.toAbsolutePath(), "store-" + n + "-");
        try {
            double full;
            double store;
            try (SqliteFleetStore s = SqliteFleetStore.open(dir.resolve("turnout"))) {
                Instant now = Instant.parse("2026-11-23T12:00:00Z");
                List<RolloutDevice> devices = new ArrayList<>();
                s.inTransaction(() -> {
                    for (int i = 0; i < n; i++) {
                        String id = String.format(Locale.ROOT, "dev-%05d", i);
                        s.insertDevice(new Device(id, Map.of("site", "bench"), List.of(), now, true, null, null));
                        devices.add(RolloutDevice.planned(id, i < n / 100 ? 1 : i < n / 10 ? 2 : 3, null));
                    }
                });
                Rollout r = new Rollout("r-bench", "web", "2.0.0", "all",
                        RolloutStrategy.parse("1%,10%,100%", null, null, null, null, null), now, RolloutState.RUNNING, null, now, 1,
                        WaveState.ACTIVATING, now, 0, devices);
                long t0 = System.nanoTime();
                s.saveRollout(r);
                full = (System.nanoTime() - t0) / 1e6;
                long t1 = System.nanoTime();
                for (int done = 0; done < eventCount; ) {
                    int from = done;
                    int to = Math.min(eventCount, done + BATCH);
                    s.inTransaction(() -> {
                        for (int k = from; k < to; k++) {
                            devices.get(k % n).noted("event " + k);
                            s.saveRollout(r);
                        }
                    });
                    done = to;
                }
                store = eventCount / ((System.nanoTime() - t1) / 1e9);
            }
            double plain = plainJdbc(dir.resolve("plain.db"), n, eventCount);
            return new Result(n, full, store, plain);
        } finally {
            BenchProcesses.deleteTree(dir);
        }
    }

    /** The same rows with plain JDBC: one prepared upsert per event, {@value #BATCH} per transaction. */
    private static double plainJdbc(Path file, int n, int eventCount) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file)) {
            try (Statement s = c.createStatement()) {
                s.execute("PRAGMA journal_mode=WAL");
                s.execute("PRAGMA synchronous=NORMAL");
                s.execute("CREATE TABLE rollout_devices (rollout_id TEXT NOT NULL, device_id TEXT NOT NULL, wave INTEGER NOT NULL,"
                        + " state TEXT NOT NULL, previous TEXT, stage_seq INTEGER NOT NULL, activation_seq INTEGER NOT NULL,"
                        + " rollback_seq INTEGER NOT NULL, waiting_since INTEGER, reason TEXT, message TEXT,"
                        + " PRIMARY KEY (rollout_id, device_id))");
            }
            String upsert = "INSERT OR REPLACE INTO rollout_devices (rollout_id, device_id, wave, state, previous, stage_seq,"
                    + " activation_seq, rollback_seq, waiting_since, reason, message) VALUES (?,?,?,?,?,?,?,?,?,?,?)";
            c.setAutoCommit(false);
            try (PreparedStatement p = c.prepareStatement(upsert)) {
                for (int i = 0; i < n; i++) {
                    bind(p, i, "planned");
                    p.executeUpdate();
                }
                c.commit();
                long t0 = System.nanoTime();
                for (int k = 0; k < eventCount; k++) {
                    bind(p, k % n, "event " + k);
                    p.executeUpdate();
                    if ((k + 1) % BATCH == 0 || k + 1 == eventCount) {
                        c.commit();
                    }
                }
                return eventCount / ((System.nanoTime() - t0) / 1e9);
            }
        }
    }

    private static void bind(PreparedStatement p, int i, String message) throws Exception {
        p.setString(1, "r-bench");
        p.setString(2, String.format(Locale.ROOT, "dev-%05d", i));
        p.setInt(3, 3);
        p.setString(4, "ACTIVATING");
        p.setString(5, null);
        p.setLong(6, 1);
        p.setLong(7, 2);
        p.setLong(8, 0);
        p.setLong(9, 1_700_000_000_000L);
        p.setString(10, null);
        p.setString(11, message);
    }
}
