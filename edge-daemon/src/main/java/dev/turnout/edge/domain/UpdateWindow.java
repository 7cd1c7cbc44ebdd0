package dev.turnout.edge.domain;

import java.time.LocalTime;
import java.time.format.DateTimeParseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The daily time span in which a device may switch releases, in device local time: {@code "02:00-04:00"}.
 * A window whose end is before its start wraps past midnight ({@code "23:00-01:30"}). The start is inside,
 * the end is not.
 *
 * @param start first minute inside the window
 * @param end first minute after the window
 */
public record UpdateWindow(LocalTime start, LocalTime end) {

    private static final Pattern FORM = Pattern.compile("\\s*(\\d{1,2}:\\d{2})\\s*-\\s*(\\d{1,2}:\\d{2})\\s*");

    public UpdateWindow {
        if (start.equals(end)) {
            throw new IllegalArgumentException("update window " + start + "-" + end + " is empty (leave it out to allow any time)");
        }
    }

    /** Parses {@code "HH:MM-HH:MM"}; errors say what is wrong in one sentence. */
    public static UpdateWindow parse(String text) {
        Matcher m = FORM.matcher(text == null ? "" : text);
        if (!m.matches()) {
            throw new IllegalArgumentException("update window '" + text + "' is not HH:MM-HH:MM (e.g. 02:00-04:00)");
        }
        try {
            return new UpdateWindow(time(m.group(1)), time(m.group(2)));
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("update window '" + text + "' has an impossible time");
        }
    }

    private static LocalTime time(String hhmm) {
        return LocalTime.parse(hhmm.length() == 4 ? "0" + hhmm : hhmm);
    }

    /** Whether {@code time} lies inside the window. */
    public boolean contains(LocalTime time) {
        if (start.isBefore(end)) {
            return !time.isBefore(start) && time.isBefore(end);
        }
        return !time.isBefore(start) || time.isBefore(end);
    }

    @Override
    public String toString() {
        return start + "-" + end;
    }
}
