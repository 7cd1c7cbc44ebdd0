package dev.turnout.proto.transfer;

import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.UpdateState;

/** What a status report says about a download. */
public final class DownloadReports {

    private DownloadReports() {
    }

    /**
     * True for a progress report: DOWNLOADING repeated with how far it has come. It is no transition: a receiver shows it
     * and keeps the newest, but does not store, audit or judge it as one.
     */
    public static boolean isProgress(StatusEvent e) {
        return e.getState() == UpdateState.DOWNLOADING && e.hasDownload();
    }

    /** True for the STAGED report that carries the totals of the download that just finished. */
    public static boolean isTotal(StatusEvent e) {
        return e.getState() == UpdateState.STAGED && e.hasDownload();
    }

    /** {@code done} of {@code total} bytes for people, in the unit of the total: {@code 12.3/40.0 MiB}. */
    public static String fraction(long done, long total) {
        String whole = ByteRate.size(total);
        int space = whole.indexOf(' ');
        String unit = whole.substring(space + 1);
        double scale = switch (unit) {
            case "KiB" -> 1024.0;
            case "MiB" -> 1024.0 * 1024;
            case "GiB" -> 1024.0 * 1024 * 1024;
            case "TiB" -> 1024.0 * 1024 * 1024 * 1024;
            default -> 1;
        };
        String number = scale == 1 ? Long.toString(done) : String.format(java.util.Locale.ROOT, "%.1f", done / scale);
        return number + "/" + whole.substring(0, space) + " " + unit;
    }
}
