package dev.turnout.proto.transfer;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A download rate limit as people write it ({@code 500KiB/s}, {@code 2MB/s}, {@code 1.5MiB/s}) and as the wire carries
 * it (bytes per second). One parser for the device's config and the operator's {@code --rate-limit}, so both refuse
 * the same things with the same words.
 */
public final class ByteRate {

    /** The highest limit accepted: anything above is no limit at all for a device's uplink. */
    public static final long MAX_BYTES_PER_SECOND = 1L << 40;
    private static final Pattern RATE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([a-zA-Z]*)\\s*(?:/\\s*s)?");
    private static final String EXAMPLE = "a number, a unit B, KB, KiB, MB, MiB, GB or GiB and /s, e.g. 500KiB/s or 2MB/s";

    private ByteRate() {
    }

    /**
     * Bytes per second of {@code text}.
     *
     * @param what names the setting in the error, e.g. {@code "download.rateLimit"}
     * @throws IllegalArgumentException with a message that says what was wrong and what is accepted
     */
    public static long parse(String text, String what) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException(what + " is empty: write " + EXAMPLE);
        }
        Matcher m = RATE.matcher(text.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException(what + " '" + text.strip() + "' is not a rate: write " + EXAMPLE);
        }
        long unit = unit(m.group(2));
        if (unit < 0) {
            throw new IllegalArgumentException(what + " '" + text.strip() + "' has an unknown unit '" + m.group(2) + "': write " + EXAMPLE);
        }
        BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(unit));
        if (bytes.compareTo(BigDecimal.ONE) < 0) {
            throw new IllegalArgumentException(what + " '" + text.strip() + "' is below 1 B/s: a limit must let bytes through");
        }
        if (bytes.compareTo(BigDecimal.valueOf(MAX_BYTES_PER_SECOND)) > 0) {
            throw new IllegalArgumentException(what + " '" + text.strip() + "' is above 1TiB/s: leave the limit out for none");
        }
        return bytes.longValue();
    }

    private static long unit(String unit) {
        return switch (unit.toLowerCase(Locale.ROOT)) {
            case "", "b" -> 1;
            case "kb" -> 1000;
            case "kib" -> 1024;
            case "mb" -> 1000_000;
            case "mib" -> 1024 * 1024;
            case "gb" -> 1000_000_000;
            case "gib" -> 1024L * 1024 * 1024;
            default -> -1;
        };
    }

    /** The lower of two limits, where 0 (or less) means none: {@code lower(0, 500) == 500}. */
    public static long lower(long a, long b) {
        if (a <= 0) {
            return Math.max(b, 0);
        }
        return b <= 0 ? a : Math.min(a, b);
    }

    /** {@code bytesPerSecond} for people, e.g. {@code 480 KiB/s}, {@code 1.2 MiB/s}. */
    public static String format(long bytesPerSecond) {
        return size(bytesPerSecond) + "/s";
    }

    /** A byte count for people in binary units: {@code 812 B}, {@code 480 KiB}, {@code 12.3 MiB}, {@code 1.1 GiB}. */
    public static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int i = -1;
        while (value >= 1024 && i < units.length - 1) {
            value /= 1024;
            i++;
        }
        return (value >= 100 ? String.format(Locale.ROOT, "%.0f", value) : String.format(Locale.ROOT, "%.1f", value)) + " " + units[i];
    }
}
