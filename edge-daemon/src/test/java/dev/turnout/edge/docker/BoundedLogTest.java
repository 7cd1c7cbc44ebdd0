package dev.turnout.edge.docker;

import dev.turnout.edge.domain.LogEntry;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** How the frames of `docker logs --timestamps` become log lines, bounded while they stream in. */
class BoundedLogTest {

    private static byte[] frame(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void timestampsAreReadAndStrippedAndStreamsKept() {
        DockerContainerRuntime.BoundedLog log = new DockerContainerRuntime.BoundedLog(0, 1 << 16);
        log.add(false, frame("2025-03-01T10:00:00.123456789Z starting\n"));
        log.add(true, frame("2025-03-01T10:00:01.000000001Z warning: slow\n"));
        log.add(false, frame("no timestamp here\n"));

        assertThat(log.entries()).containsExactly(
                new LogEntry(1_740_823_200_123_456_789L, false, "starting"),
                new LogEntry(1_740_823_201_000_000_001L, true, "warning: slow"),
                new LogEntry(0, false, "no timestamp here"));
    }

    @Test
    void linesNotAfterTheSinceMarkAreLeftOut() {
        long since = 1_740_823_200_500_000_000L; // 10:00:00.5
        DockerContainerRuntime.BoundedLog log = new DockerContainerRuntime.BoundedLog(since, 1 << 16);
        log.add(false, frame("2025-03-01T10:00:00.200000000Z before\n"));
        log.add(false, frame("2025-03-01T10:00:00.500000000Z exactly then\n"));
        log.add(false, frame("2025-03-01T10:00:00.700000000Z after\n"));

        assertThat(log.entries()).extracting(LogEntry::text).containsExactly("after");
    }

    @Test
    void olderLinesAreDroppedOnceTheTextPassesTheBoundAndALongLineKeepsItsEnd() {
        DockerContainerRuntime.BoundedLog log = new DockerContainerRuntime.BoundedLog(0, 100);
        for (int i = 0; i < 1000; i++) {
            log.add(false, frame("2025-03-01T10:00:00.000000000Z line " + i + "\n"));
        }
        List<LogEntry> kept = log.entries();
        assertThat(kept.stream().mapToInt(e -> e.text().length()).sum()).isLessThanOrEqualTo(100);
        assertThat(kept.get(kept.size() - 1).text()).isEqualTo("line 999");

        log.add(false, frame("2025-03-01T10:00:01.000000000Z " + "x".repeat(500) + "END\n"));
        assertThat(log.entries()).singleElement().satisfies(e -> assertThat(e.text()).endsWith("xEND").hasSizeLessThanOrEqualTo(100));
    }

    @Test
    void framesThatEndInsideALineOrACharacterAreJoinedAgainPerStream() {
        byte[] out = frame("2025-03-01T10:00:00.000000001Z Weiche ↗ blockiert \uD83D\uDE82\n2025-03-01T10:00:00.000000002Z zwei\n");
        byte[] err = frame("2025-03-01T10:00:00.000000003Z fehler\n");
        DockerContainerRuntime.BoundedLog log = new DockerContainerRuntime.BoundedLog(0, 1 << 16);
        int cut = "2025-03-01T10:00:00.000000001Z Weiche ".length() + 1; // inside the 3 bytes of the arrow
        log.add(false, java.util.Arrays.copyOfRange(out, 0, cut));
        log.add(true, java.util.Arrays.copyOfRange(err, 0, 10)); // the other stream, in between
        log.add(false, java.util.Arrays.copyOfRange(out, cut, out.length - 3));
        log.add(true, java.util.Arrays.copyOfRange(err, 10, err.length));
        log.add(false, java.util.Arrays.copyOfRange(out, out.length - 3, out.length));

        assertThat(log.entries()).containsExactly(
                new LogEntry(1_740_823_200_000_000_001L, false, "Weiche ↗ blockiert \uD83D\uDE82"),
                new LogEntry(1_740_823_200_000_000_003L, true, "fehler"),
                new LogEntry(1_740_823_200_000_000_002L, false, "zwei"));
    }

    @Test
    void aLastLineWithoutItsNewlineCountsAsEnded() {
        DockerContainerRuntime.BoundedLog log = new DockerContainerRuntime.BoundedLog(0, 1 << 16);
        log.add(false, frame("2025-03-01T10:00:00.000000001Z no newline"));
        assertThat(log.entries()).extracting(LogEntry::text).containsExactly("no newline");
    }
}
