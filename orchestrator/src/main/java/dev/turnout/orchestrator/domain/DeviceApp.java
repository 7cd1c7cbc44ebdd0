package dev.turnout.orchestrator.domain;

import java.time.Instant;

/** The last reported state of one app on one device. */
public record DeviceApp(String app, String runningVersion, String version, String state, String reason,
                        String message, long sequence, Instant updatedAt) {
}
