package dev.turnout.orchestrator.domain;

import java.time.Instant;

/**
 * The last reported state of one app on one device. {@code reportSeq} is the device's report number
 * (it only grows on a device, across restarts): a report with a lower one is older than this and
 * never replaces it; 0 is a daemon that does not number its reports, always taken. {@code logTail} is
 * the last lines of the failed container's log the report carried (null: none).
 */
public record DeviceApp(String app, String runningVersion, String version, String state, String reason,
                        String message, long sequence, long reportSeq, Instant updatedAt, String logTail) {

    public DeviceApp(String app, String runningVersion, String version, String state, String reason,
                     String message, long sequence, long reportSeq, Instant updatedAt) {
        this(app, runningVersion, version, state, reason, message, sequence, reportSeq, updatedAt, null);
    }

    /** Marks, in {@code message}, why the device's download fell back (StatusEvent.fetch_note); kept in the message column. */
    public static final String FETCH_MARK = "fetch: ";
    /** The longest fetch note kept (as the device bounds it). */
    public static final int MAX_FETCH_NOTE = 1024;

    /** {@code message} with the device's fetch note after it (null or blank note: {@code message} as it is). */
    public static String withFetchNote(String message, String note) {
        if (note == null || note.isBlank()) {
            return message;
        }
        String bounded = note.length() <= MAX_FETCH_NOTE ? note : note.substring(0, MAX_FETCH_NOTE - 1) + "…";
        bounded = bounded.replaceAll("[\\p{Cntrl}&&[^\t]]", "?"); // one line in tables and logs
        return message == null || message.isBlank() ? FETCH_MARK + bounded : message + " (" + FETCH_MARK + bounded + ")";
    }

    /** Why the device's download of this report fell back (a refused delta, a damaged blob...); null: nothing did. */
    public String fetchNote() {
        if (message == null) {
            return null;
        }
        int at = message.startsWith(FETCH_MARK) ? 0 : message.lastIndexOf(" (" + FETCH_MARK);
        if (at < 0) {
            return null;
        }
        String note = message.substring(at == 0 ? FETCH_MARK.length() : at + 2 + FETCH_MARK.length());
        return at == 0 ? note : note.substring(0, note.length() - 1);
    }
}
