package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.engine.RolloutRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A rollout's download rate limit and the bytes its devices moved survive the store (and a restart that reads them back). */
class RolloutDownloadsStoreTest {

    @TempDir
    Path data;

    private final Instant now = Instant.parse("2026-12-06T23:00:00Z");

    private static RolloutRequest request(String rateLimit) {
        return RolloutRequest.parse("web", "1.0.0", "all", null, null, null, null, null, null, null, null, null, null, null)
                .withRateLimit(rateLimit);
    }

    @Test
    void theRateLimitAndTheBytesMovedAreStoredAndReadBack() {
        RolloutDevice a = RolloutDevice.planned("pi-1", 1, null);
        RolloutDevice b = RolloutDevice.planned("pi-2", 1, null);
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            Rollout r = new Rollout("r-1", "web", "1.0.0", "all", request("500KiB/s").strategy(), now, RolloutState.RUNNING, null, now,
                    0, WaveState.DONE, now, 0, List.of(a, b));
            store.saveRollout(r);
            assertThat(a.downloaded(3_000_000, 40_000_000)).isTrue();
            assertThat(a.downloaded(3_000_000, 40_000_000)).as("the same report again changes nothing").isFalse();
            assertThat(a.downloaded(0, 40_000_000)).as("a later pass that found it all cached changes nothing").isFalse();
            b.downloaded(40_000_000, 40_000_000);
            store.saveRollout(r);
        }
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            Rollout back = store.findRollout("r-1").orElseThrow();
            assertThat(back.strategy().downloadRateLimit()).isEqualTo(512_000);
            assertThat(back.bytesMoved()).isEqualTo(43_000_000);
            assertThat(back.bytesFull()).isEqualTo(80_000_000);
        }
    }

    @Test
    void aRolloutWithoutALimitLeavesItToTheDevices() {
        assertThat(request(null).strategy().downloadRateLimit()).isZero();
        assertThat(request(" ").strategy().downloadRateLimit()).isZero();
    }

    @Test
    void aBadRateIsRefusedWithWhatIsAccepted() {
        assertThatThrownBy(() -> request("fast")).isInstanceOf(InvalidInputException.class)
                .hasMessage("rateLimit 'fast' is not a rate: write a number, a unit B, KB, KiB, MB, MiB, GB or GiB and /s,"
                        + " e.g. 500KiB/s or 2MB/s");
        assertThatThrownBy(() -> request("0KiB/s")).isInstanceOf(InvalidInputException.class).hasMessageContaining("below 1 B/s");
    }
}
