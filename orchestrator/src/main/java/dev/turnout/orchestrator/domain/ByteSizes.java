package dev.turnout.orchestrator.domain;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses sizes such as {@code 512}, {@code 64k}, {@code 256m}, {@code 1.5g} the way {@code docker run} does:
 * a memory limit counts in powers of 1024 ({@code --memory 256m} is 256 MiB), a log file size in powers of
 * 1000 ({@code --log-opt max-size=10m} is 10,000,000 bytes). A trailing {@code b} or {@code ib} is allowed.
 */
public final class ByteSizes {

    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?) ?([kmgt])?(?:i?b)?");

    private ByteSizes() {
    }

    /** A memory size: k, m, g, t are powers of 1024. */
    public static long binary(String text, String field) {
        return parse(text, 1024, field);
    }

    /** A log file size: k, m, g, t are powers of 1000. */
    public static long decimal(String text, String field) {
        return parse(text, 1000, field);
    }

    private static long parse(String text, long base, String field) {
        Matcher m = text == null ? null : SIZE.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (m == null || !m.matches()) {
            throw new InvalidInputException(field + " '" + text + "' is not a size such as 512k, 256m or 1g");
        }
        int power = m.group(2) == null ? 0 : "kmgt".indexOf(m.group(2)) + 1;
        BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(base).pow(power));
        if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new InvalidInputException(field + " '" + text + "' is too large");
        }
        return bytes.longValue(); // a fraction of a byte is dropped, as Docker does
    }
}
