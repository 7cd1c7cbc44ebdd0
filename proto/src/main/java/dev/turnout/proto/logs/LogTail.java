package dev.turnout.proto.logs;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Bounds a container's log to its newest lines: at most so many lines and so many bytes of UTF-8, whichever is
 * smaller, cut at line boundaries. Only a newest line that alone is longer than the byte limit is cut inside: its end is
 * kept, after {@value #CUT}, at a character boundary (never inside a UTF-8 sequence or a surrogate pair). The result's
 * lines are joined with {@code "\n"}, without a newline at the end.
 */
public final class LogTail {

    /** Lines a failure report carries at most ({@code StatusEvent.log_tail}). */
    public static final int FAILURE_LINES = 50;
    /** Bytes (UTF-8) a failure report's log tail has at most. */
    public static final int FAILURE_BYTES = 8 * 1024;
    /** What stands before the end of a line cut because it alone was over the byte limit. */
    public static final String CUT = "\u2026";

    private LogTail() {
    }

    /** The newest lines of {@code text} within a failure report's bounds (50 lines, 8 KiB). */
    public static String forFailure(String text) {
        return bound(text, FAILURE_LINES, FAILURE_BYTES);
    }

    /**
     * The newest lines of {@code text} within {@code maxLines} lines and {@code maxBytes} bytes of UTF-8 (newlines
     * between the lines counted). A newline at the very end ends the last line and opens no new one; "\r\n" keeps its
     * "\r". Empty for null, empty text or a zero limit.
     */
    public static String bound(String text, int maxLines, int maxBytes) {
        if (text == null || text.isEmpty() || maxLines <= 0 || maxBytes <= 0) {
            return "";
        }
        String body = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        List<String> lines = List.of(body.split("\n", -1));
        int from = keepFrom(lines, maxLines, maxBytes);
        if (from == lines.size()) {
            return endOf(lines.get(lines.size() - 1), maxBytes);
        }
        return String.join("\n", lines.subList(from, lines.size()));
    }

    /**
     * The index of the first of {@code lines} to keep so that the kept ones (the newest) are at most {@code maxLines}
     * and, joined with newlines, at most {@code maxBytes} bytes of UTF-8. Returns {@code lines.size()} when not even the
     * newest line fits.
     */
    public static int keepFrom(List<String> lines, int maxLines, int maxBytes) {
        return keep(lines, maxLines, maxBytes, 1, true);
    }

    /**
     * As {@link #keepFrom(List, int, int)} for lines sent one by one, each costing its UTF-8 bytes plus {@code perLine}
     * (its framing) against {@code maxBytes}.
     */
    public static int keepFramed(List<String> lines, int maxLines, int maxBytes, int perLine) {
        return keep(lines, maxLines, maxBytes, perLine, false);
    }

    private static int keep(List<String> lines, int maxLines, int maxBytes, int perLine, boolean separator) {
        long bytes = 0;
        int kept = 0;
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (kept == maxLines) {
                return i + 1;
            }
            long cost = utf8Length(lines.get(i)) + (separator && kept == 0 ? 0 : perLine);
            if (bytes + cost > maxBytes) {
                return i + 1;
            }
            bytes += cost;
            kept++;
        }
        return 0;
    }

    /**
     * The end of {@code line} in at most {@code maxBytes} bytes of UTF-8, {@value #CUT} first when anything was cut;
     * cut at a character (code point) boundary.
     */
    public static String endOf(String line, int maxBytes) {
        if (utf8Length(line) <= maxBytes) {
            return line;
        }
        int budget = maxBytes - utf8Length(CUT);
        if (budget <= 0) {
            return "";
        }
        int start = line.length();
        int bytes = 0;
        while (start > 0) {
            int cp = line.codePointBefore(start);
            int size = utf8Length(cp);
            if (bytes + size > budget) {
                break;
            }
            bytes += size;
            start -= Character.charCount(cp);
        }
        return CUT + line.substring(start);
    }

    /** Decodes UTF-8 bytes, each malformed sequence becoming U+FFFD (what is then bounded is what is shown). */
    public static String decode(byte[] utf8) {
        return new String(utf8, StandardCharsets.UTF_8);
    }

    /** The lines of {@code text} (a newline at the very end opens no new line); none for empty text. */
    public static List<String> lines(String text) {
        if (text == null || text.isEmpty()) {
            return List.of();
        }
        String body = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        return new ArrayList<>(List.of(body.split("\n", -1)));
    }

    /** Bytes of {@code s} in UTF-8; an unpaired surrogate counts 3 (the encoder writes fewer): never an underestimate. */
    public static int utf8Length(String s) {
        int bytes = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            bytes += utf8Length(cp);
            i += Character.charCount(cp);
        }
        return bytes;
    }

    private static int utf8Length(int cp) {
        if (cp < 0x80) {
            return 1;
        }
        if (cp < 0x800) {
            return 2;
        }
        return cp < 0x10000 ? 3 : 4;
    }
}
