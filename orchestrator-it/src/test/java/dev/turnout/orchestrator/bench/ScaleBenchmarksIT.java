package dev.turnout.orchestrator.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Smoke runs of the scale benchmarks on a small fleet: they complete and print every figure. No
 * timing is asserted (the figures themselves are for docs/benchmarks.md, from the full runs).
 */
class ScaleBenchmarksIT {

    @TempDir
    Path work;

    @Test
    void rolloutBenchmarkCompletesOnASmallFleetAndPrintsItsFigures() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        RolloutBenchmark b = new RolloutBenchmark(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        Path plot = work.resolve("progress.png");
        b.parse(new String[] {"--devices", "100", "--broker", "embedded", "--rollouts", "1", "--fleet-cache", work.resolve("fleet").toString(),
            "--work", work.resolve("runs").toString(), "--plot", plot.toString()});
        b.run();
        String out = bytes.toString(StandardCharsets.UTF_8);

        assertThat(out).contains("enrollment: 100 devices in", "connected 100 devices", "warm-up rollout (1.0.1, untimed): SUCCEEDED",
                "rollout 1 (1.1.0): SUCCEEDED",
                "deploy -> all ACTIVE (SUCCEEDED)", "rollout events", "wave decision, engine (4 decisions)", "wave decision, seen by devices (2)",
                "baseline: broker moves the same messages", "ratio rollout / baseline", "orchestrator memory, rollout running",
                "per device (rollout running - enrolled)", "report wait for the engine, deciding ones",
                "reconnect storm after a broker restart   : 100 devices back", "baseline warm-up round (untimed)");
        assertThat(out).doesNotContain("NaN");
        byte[] png = Files.readAllBytes(plot);
        assertThat(png).startsWith(0x89, 'P', 'N', 'G');

        // a second run reuses the enrolled fleet instead of enrolling again
        ByteArrayOutputStream again = new ByteArrayOutputStream();
        RolloutBenchmark second = new RolloutBenchmark(new PrintStream(again, true, StandardCharsets.UTF_8));
        second.parse(new String[] {"--devices", "100", "--broker", "embedded", "--rollouts", "1", "--warmup", "0", "--no-memory-rollout",
            "--no-storm", "--fleet-cache", work.resolve("fleet").toString(), "--work", work.resolve("runs").toString(), "--plot", plot.toString()});
        second.run();
        assertThat(again.toString(StandardCharsets.UTF_8)).doesNotContain("enrolling 100 devices").contains("rollout 1 (1.1.0): SUCCEEDED");
    }

    /** The same benchmark on a Mosquitto process, without the untimed warm-up and memory rollouts the test above covers. */
    @Test
    void rolloutBenchmarkRunsOnMosquittoWithItsBaselineAndStorm() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        RolloutBenchmark b = new RolloutBenchmark(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        b.parse(new String[] {"--devices", "100", "--broker", "mosquitto", "--rollouts", "1", "--warmup", "0", "--no-memory-rollout",
            "--fleet-cache", work.resolve("fleet").toString(), "--work", work.resolve("runs").toString(),
            "--plot", work.resolve("progress.png").toString()});
        b.run();
        String out = bytes.toString(StandardCharsets.UTF_8);

        assertThat(out).contains("enrollment: 100 devices in", "connected 100 devices", "rollout 1 (1.1.0): SUCCEEDED",
                "deploy -> all ACTIVE (SUCCEEDED)", "baseline: broker moves the same messages", "ratio rollout / baseline",
                "reconnect storm after a broker restart   : 100 devices back");
        assertThat(out).doesNotContain("NaN");
    }

    @Test
    void rolloutBenchmarkRefusesBadOptionsBeforeStartingAnything() {
        assertThatThrownBy(() -> fresh().parse(new String[] {"--broker", "rabbitmq"})).hasMessageContaining("embedded, mosquitto or both");
        assertThatThrownBy(() -> fresh().parse(new String[] {"--devices", "10"})).hasMessageContaining("at least 100 devices");
        assertThatThrownBy(() -> fresh().parse(new String[] {"--devices"})).hasMessageContaining("needs a value");
    }

    private static RolloutBenchmark fresh() {
        return new RolloutBenchmark(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }

    @Test
    void storeBenchmarkPrintsWritesPerSecondBySizeAgainstPlainJdbc() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        StoreBenchmark b = new StoreBenchmark(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        b.parse(new String[] {"--sizes", "100,300", "--events", "600", "--work", work.toString()});
        var results = b.run();
        String out = bytes.toString(StandardCharsets.UTF_8);

        assertThat(results).extracting(StoreBenchmark.Result::devices).containsExactly(100, 300);
        assertThat(results).allMatch(r -> r.storeWritesPerSecond() > 0 && r.plainWritesPerSecond() > 0);
        assertThat(out).contains("rollout writes (store)", "plain JDBC upserts", "from 100 to 300 devices (x3)");
    }
}
