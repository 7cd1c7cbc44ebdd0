package dev.turnout.orchestrator.port;

import java.util.concurrent.Executor;

/**
 * Runs device reports for the engine, each device's in the order they arrived. A report marked
 * urgent (one that can complete a wave: a device's outcome after its activation) may run before
 * other devices' reports that queued earlier, so that the next wave is not decided behind a
 * fleet's staging chatter; never before an earlier report of its own device.
 */
public interface ReportExecutor extends Executor {

    /** Runs {@code report} of {@code deviceId}; {@link #execute(Runnable)} when nothing is urgent. */
    default void execute(String deviceId, boolean urgent, Runnable report) {
        execute(report);
    }
}
