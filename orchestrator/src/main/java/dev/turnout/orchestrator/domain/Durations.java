package dev.turnout.orchestrator.domain;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses and formats durations such as {@code 500ms}, {@code 5s}, {@code 2m}, {@code 1h}, {@code 1m30s}. */
public final class Durations {

    private static final Pattern PART = Pattern.compile("(\\d+)(ms|s|m|h|d)");

    private Durations() {
    }

    /** Parses {@code text}; {@code field} names the input in the error message. */
    public static Duration parse(String text, String field) {
        if (text == null || text.isBlank()) {
            throw new InvalidInputException(field + " must be a duration such as 500ms, 5s, 2m, 1h or 1m30s");
        }
        String s = text.trim();
        Matcher m = PART.matcher(s);
        int at = 0;
        Duration total = Duration.ZERO;
        while (at < s.length()) {
            if (!m.find(at) || m.start() != at) {
                throw new InvalidInputException(field + " '" + text + "' is not a duration such as 500ms, 5s, 2m, 1h or 1m30s");
            }
            long n = Long.parseLong(m.group(1));
            total = total.plus(switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            });
            at = m.end();
        }
        return total;
    }

    /** Parses {@code text}, or returns {@code fallback} when it is null or blank. */
    public static Duration parseOr(String text, String fallback, String field) {
        return parse(text == null || text.isBlank() ? fallback : text, field);
    }

    public static String format(Duration d) {
        long ms = d.toMillis();
        if (ms == 0) {
            return "0s";
        }
        StringBuilder b = new StringBuilder();
        long h = ms / 3_600_000;
        ms %= 3_600_000;
        long m = ms / 60_000;
        ms %= 60_000;
        long s = ms / 1000;
        ms %= 1000;
        if (h > 0) {
            b.append(h).append('h');
        }
        if (m > 0) {
            b.append(m).append('m');
        }
        if (s > 0) {
            b.append(s).append('s');
        }
        if (ms > 0) {
            b.append(ms).append("ms");
        }
        return b.toString();
    }
}
