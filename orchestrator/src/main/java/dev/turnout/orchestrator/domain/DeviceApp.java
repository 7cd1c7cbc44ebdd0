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
}
