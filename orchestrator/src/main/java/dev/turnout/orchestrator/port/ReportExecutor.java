package dev.turnout.orchestrator.port;

import java.util.concurrent.Executor;

/**
 * Runs device reports for the engine, each device's in the order they arrived. A report marked
 * urgent (one that can complete a wave: a device's outcome after its activation) may run before
 * other devices' reports that queued earlier, so that the next wave is not decided behind a
 * fleet's staging chatter; never before an earlier report of its own device.
 *
 * <p>A report handed over with a {@code whenStored} step has that step run once what the report
 * changed is committed to the store (the transport acknowledges the report to the broker then, and not
 * before: a report is never acknowledged and lost). A report whose commit fails never runs it.
 */
public interface ReportExecutor extends Executor {

    /** Runs {@code report} of {@code deviceId}; {@link #execute(Runnable)} when nothing is urgent. */
    default void execute(String deviceId, boolean urgent, Runnable report) {
        execute(report);
    }

    /**
     * Runs {@code report} of {@code deviceId} as {@link #execute(String, boolean, Runnable)} does, then
     * {@code whenStored} once it is committed. An executor without a store of its own (tests) counts a
     * report stored once it has run.
     */
    default void execute(String deviceId, boolean urgent, Runnable report, Runnable whenStored) {
        execute(deviceId, urgent, () -> {
            report.run();
            whenStored.run();
        });
    }

    /** Runs {@code report} (no device order to keep), then {@code whenStored} once it is committed. */
    default void execute(Runnable report, Runnable whenStored) {
        execute(() -> {
            report.run();
            whenStored.run();
        });
    }
}
