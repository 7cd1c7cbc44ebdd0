package dev.turnout.orchestrator.engine;

import dev.turnout.proto.DownloadProgress;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;
import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;

class DownloadBoardTest {

    private final DownloadBoard board = new DownloadBoard();
    private final Instant t0 = Instant.parse("2026-12-06T23:00:00Z");

    private static StatusEvent report(UpdateState state, long done) {
        StatusEvent.Builder e = StatusEvent.newBuilder().setDeviceId("pi-1").setApp("web").setVersion("2.0.0").setState(state);
        if (done >= 0) {
            e.setDownload(DownloadProgress.newBuilder().setBytesDone(done).setBytesTotal(40 << 20).setRateBps(480 << 10)
                    .setBytesMoved(done));
        }
        return e.build();
    }

    @Test
    void showsTheNewestProgressUntilTheNextTransition() {
        board.report("pi-1", report(UpdateState.DOWNLOADING, 1 << 20), t0);
        board.report("pi-1", report(UpdateState.DOWNLOADING, 3 << 20), t0.plusSeconds(2));
        assertThat(board.progress("pi-1", "web", t0.plusSeconds(3))).hasValueSatisfying(p -> {
            assertThat(p.bytesDone()).isEqualTo(3 << 20);
            assertThat(p.bytesTotal()).isEqualTo(40 << 20);
            assertThat(p.bytesPerSecond()).isEqualTo(480 << 10);
            assertThat(p.version()).isEqualTo("2.0.0");
        });
        assertThat(board.progress("pi-1", "db", t0.plusSeconds(3))).isEmpty();
        board.report("pi-1", report(UpdateState.STAGED, 40 << 20), t0.plusSeconds(4)); // the totals: no progress any more
        assertThat(board.progress("pi-1", "web", t0.plusSeconds(4))).isEmpty();
    }

    @Test
    void aDownloadNotReportedOnForThirtySecondsOrOfADeviceGoneOfflineIsNotShown() {
        board.report("pi-1", report(UpdateState.DOWNLOADING, 1 << 20), t0);
        assertThat(board.progress("pi-1", "web", t0.plus(DownloadBoard.STALE_AFTER))).isPresent();
        assertThat(board.progress("pi-1", "web", t0.plus(DownloadBoard.STALE_AFTER).plusSeconds(1))).isEmpty();
        board.report("pi-1", report(UpdateState.DOWNLOADING, 2 << 20), t0);
        board.offline("pi-1");
        assertThat(board.progress("pi-1", "web", t0)).isEmpty();
    }

    @Test
    void theFirstDownloadingTransitionCarriesNoProgressAndShowsNone() {
        board.report("pi-1", report(UpdateState.DOWNLOADING, -1), t0);
        assertThat(board.progress("pi-1", "web", t0)).isEmpty();
    }
}
