package dev.turnout.orchestrator.engine;

import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.transfer.DownloadReports;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The newest download progress of every device and app while it stages, in memory: progress reports come every few
 * seconds and mean nothing once the download ends, so they are shown, never stored. An entry goes when the app's next
 * transition arrives (STAGED, FAILED, ...) or when no report came for {@link #STALE_AFTER} (a device that went away).
 * Read by the HTTP threads, written by the engine's.
 */
public final class DownloadBoard {

    /** A download not reported on for this long is no longer shown as running. */
    public static final Duration STALE_AFTER = Duration.ofSeconds(30);

    /**
     * Where one app's download stands.
     *
     * @param bytesDone      bytes of the release's archives on the device so far
     * @param bytesTotal     the full size of the release's archives
     * @param bytesPerSecond the rate over the device's last report interval
     * @param bytesMoved     bytes that crossed the network so far
     * @param at             when the report arrived
     */
    public record Progress(String version, long bytesDone, long bytesTotal, long bytesPerSecond, long bytesMoved, Instant at) {
    }

    private final Map<String, Map<String, Progress>> byDevice = new ConcurrentHashMap<>();

    /** Takes a status report: keeps a progress report, forgets the app's download on any other. */
    void report(String deviceId, StatusEvent e, Instant now) {
        if (DownloadReports.isProgress(e)) {
            var d = e.getDownload();
            byDevice.computeIfAbsent(deviceId, id -> new ConcurrentHashMap<>()).put(e.getApp(), new Progress(e.getVersion(),
                    Math.max(0, d.getBytesDone()), Math.max(0, d.getBytesTotal()), Math.max(0, d.getRateBps()),
                    Math.max(0, d.getBytesMoved()), now));
            return;
        }
        Map<String, Progress> apps = byDevice.get(deviceId);
        if (apps != null) {
            apps.remove(e.getApp());
        }
    }

    /** The device went offline: its downloads stop with it. */
    void offline(String deviceId) {
        byDevice.remove(deviceId);
    }

    /** Where the download of {@code app} on {@code deviceId} stands, if one runs. */
    public Optional<Progress> progress(String deviceId, String app, Instant now) {
        Map<String, Progress> apps = byDevice.get(deviceId);
        Progress p = apps == null ? null : apps.get(app);
        if (p == null || p.at().plus(STALE_AFTER).isBefore(now)) {
            return Optional.empty();
        }
        return Optional.of(p);
    }
}
