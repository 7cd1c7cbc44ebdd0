package dev.turnout.proto.logs;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/** The bounds of a failure report's log tail: 50 lines and 8 KiB, whichever is smaller, newest kept, whole lines. */
class LogTailTest {

    @Test
    void aShortLogIsKeptWholeWithoutItsLastNewline() {
        assertThat(LogTail.forFailure("starting\nlistening on :8080\n")).isEqualTo("starting\nlistening on :8080");
        assertThat(LogTail.forFailure("no newline at the end")).isEqualTo("no newline at the end");
        assertThat(LogTail.forFailure("")).isEmpty();
        assertThat(LogTail.forFailure(null)).isEmpty();
        assertThat(LogTail.forFailure("\n")).isEmpty();
    }

    @Test
    void moreThanFiftyLinesKeepsTheNewestFifty() {
        String log = numbered(120, "line ");
        String tail = LogTail.forFailure(log);
        List<String> lines = List.of(tail.split("\n"));
        assertThat(lines).hasSize(50);
        assertThat(lines.get(0)).isEqualTo("line 71");
        assertThat(lines.get(49)).isEqualTo("line 120");
    }

    @Test
    void longLinesKeepTheNewestWholeLinesWithinEightKibibytes() {
        // 50 lines of 300 bytes: 15,049 bytes with the newlines; 27 of them make 8,126 bytes, 28 would make 8,427
        List<String> all = new ArrayList<>();
        for (int i = 1; i <= 50; i++) {
            all.add(String.format("%03d ", i) + "x".repeat(296));
        }
        String tail = LogTail.forFailure(String.join("\n", all) + "\n");
        assertThat(bytes(tail)).isLessThanOrEqualTo(8192);
        assertThat(List.of(tail.split("\n"))).containsExactlyElementsOf(all.subList(23, 50));
    }

    @Test
    void linesThatFillExactlyEightKibibytesAreAllKept() {
        // 7 lines of 1,023 bytes, one of 1,024 and 7 newlines: 8,192 bytes; one more line does not fit
        List<String> all = new ArrayList<>();
        all.add("dropped");
        for (int i = 0; i < 7; i++) {
            all.add("y".repeat(1023));
        }
        all.add("z".repeat(1024));
        String tail = LogTail.bound(String.join("\n", all) + "\n", 50, 8192);
        assertThat(bytes(tail)).isEqualTo(8192);
        assertThat(List.of(tail.split("\n"))).containsExactlyElementsOf(all.subList(1, 9));
    }

    @Test
    void multiByteCharactersAreNeverCut() {
        // "é" is 2 bytes, the locomotive 4 (a surrogate pair in Java): lines of 301 and 1,001 bytes
        List<String> all = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            all.add((i % 2 == 0 ? "é".repeat(150) : "\uD83D\uDE82".repeat(250)) + "!");
        }
        String tail = LogTail.forFailure(String.join("\n", all));
        assertThat(bytes(tail)).isLessThanOrEqualTo(8192);
        assertThat(roundTrips(tail)).isTrue();
        List<String> kept = List.of(tail.split("\n"));
        assertThat(kept).allSatisfy(line -> assertThat(all).contains(line));
        assertThat(kept.get(kept.size() - 1)).isEqualTo(all.get(39));
    }

    @Test
    void aSingleNewestLineOverTheLimitKeepsItsEndAtACharacterBoundary() {
        String huge = "start " + "\uD83D\uDE82".repeat(5000) + " the end"; // 20,014 bytes
        String tail = LogTail.forFailure("an older line\n" + huge + "\n");
        assertThat(tail).startsWith(LogTail.CUT).endsWith("\uD83D\uDE82 the end").doesNotContain("older", "start");
        assertThat(bytes(tail)).isLessThanOrEqualTo(8192).isGreaterThan(8192 - 4);
        assertThat(roundTrips(tail)).isTrue();
        // one byte of room too few for the next 4-byte character: it is left out, not cut in half
        String odd = LogTail.endOf("ab" + "\uD83D\uDE82".repeat(10), 3 + 4 * 3 + 3);
        assertThat(odd).isEqualTo(LogTail.CUT + "\uD83D\uDE82".repeat(3));
        assertThat(roundTrips(odd)).isTrue();
    }

    @Test
    void malformedUtf8IsDecodedToReplacementCharactersAndStillBounded() {
        byte[] raw = new byte[9000];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = (byte) (i % 100 == 99 ? '\n' : 0xC3); // a lone lead byte, again and again
        }
        String decoded = LogTail.decode(raw);
        assertThat(decoded).contains("\uFFFD");
        String tail = LogTail.forFailure(decoded);
        assertThat(bytes(tail)).isLessThanOrEqualTo(8192);
        assertThat(roundTrips(tail)).isTrue();
    }

    @Test
    void framedLinesCountTheirOverheadAndTheLineLimit() {
        List<String> lines = IntStream.rangeClosed(1, 10).mapToObj(i -> "0123456789").collect(Collectors.toList());
        assertThat(LogTail.keepFramed(lines, 1000, 10 * 30, 20)).isZero(); // 10 x (10 + 20) fit exactly
        assertThat(LogTail.keepFramed(lines, 1000, 10 * 30 - 1, 20)).isEqualTo(1);
        assertThat(LogTail.keepFramed(lines, 4, 1 << 16, 20)).isEqualTo(6);
        assertThat(LogTail.keepFrom(lines, 1000, 5)).isEqualTo(10); // not even the newest line fits
    }

    private static String numbered(int count, String prefix) {
        return IntStream.rangeClosed(1, count).mapToObj(i -> prefix + i).collect(Collectors.joining("\n")) + "\n";
    }

    private static int bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    /** True when the text has no half character: encoding and decoding gives it back unchanged. */
    private static boolean roundTrips(String s) {
        return new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8).equals(s);
    }
}
