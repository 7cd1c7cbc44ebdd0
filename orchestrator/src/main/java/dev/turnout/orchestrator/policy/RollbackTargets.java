package dev.turnout.orchestrator.policy;

import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Phase;
import dev.turnout.proto.UpdateState;

import java.util.EnumMap;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Where a device goes back to when a rollout rolls back (issue 23, 1): the release it last ran
 * healthy, as its own reports tell, not its last desired state (a device that rolled an update back
 * by itself still has that update as its desired state). Decided when the rollout is created and
 * kept as the device's {@link dev.turnout.orchestrator.domain.RolloutDevice#previous() previous}
 * entry. Pure: the caller passes the stored desired entry, the last report and which releases exist.
 */
public final class RollbackTargets {

    /**
     * The one table: for the state of a device's last report about the app, whether the version it
     * reported running is known to have run healthy. States not listed (IDLE, APPLYING, VERIFYING,
     * ROLLING_BACK, FAILED) prove nothing about the running version.
     */
    public static final Map<UpdateState, String> RUNNING_IS_HEALTHY = new EnumMap<>(Map.of(
            UpdateState.ACTIVE, "it passed its health checks and soak on this version",
            UpdateState.ROLLED_BACK, "it went back to this version and that version answers its health checks",
            UpdateState.STAGED, "staging does not touch the running version",
            UpdateState.DOWNLOADING, "downloading does not touch the running version",
            UpdateState.WAITING_FOR_WINDOW, "waiting for the update window does not touch the running version",
            UpdateState.WAITING_FOR_LOCK, "waiting for the app's update lock does not touch the running version",
            UpdateState.REJECTED, "a refused desired state changes nothing"));

    private RollbackTargets() {
    }

    /** The version {@code report} shows running healthy, or null. */
    public static String lastHealthy(DeviceApp report) {
        if (report == null || report.state() == null) {
            return null;
        }
        UpdateState state;
        try {
            state = UpdateState.valueOf(report.state());
        } catch (IllegalArgumentException unknown) {
            return null;
        }
        if (!RUNNING_IS_HEALTHY.containsKey(state)) {
            return null;
        }
        String running = blankToNull(report.runningVersion());
        return running == null && state == UpdateState.ACTIVE ? blankToNull(report.version()) : running;
    }

    /**
     * The device's previous entry for a new rollout of {@code app}:
     * <ul>
     * <li>its last healthy release as an {@code ACTIVATE} entry (the stored desired entry itself when it
     *     names that release already, so that putting it back changes nothing on the device);</li>
     * <li>null when it never had the app (no desired entry, nothing reported running): a rollback
     *     removes the app;</li>
     * <li>otherwise a {@code STAGE} entry of the release it was last told to run: no release is known
     *     healthy, so a rollback leaves an activated device on what it runs ({@link #knownHealthy}).</li>
     * </ul>
     */
    public static DesiredApp previous(String app, DesiredApp desired, DeviceApp report, Predicate<String> released) {
        String healthy = lastHealthy(report);
        if (healthy != null && released.test(healthy)) {
            if (desired != null && desired.phase() == Phase.ACTIVATE && desired.version().equals(healthy)) {
                return desired;
            }
            return new DesiredApp(app, healthy, Phase.ACTIVATE, false, "");
        }
        String last = desired != null ? desired.version() : report == null ? null : blankToNull(report.runningVersion());
        if (last == null || !released.test(last) || desired != null && desired.phase() == Phase.STAGE && report == null) {
            return null; // never ran it: a staged-only entry and no report is not having the app
        }
        return new DesiredApp(app, last, Phase.STAGE, false, "");
    }

    /** True when {@code previous} names a release known healthy, which a rollback may send the device to. */
    public static boolean knownHealthy(DesiredApp previous) {
        return previous != null && previous.phase() == Phase.ACTIVATE;
    }

    /** What a device that never ran the rollout's release goes back to: its previous entry, activated; null removes the app. */
    public static DesiredApp untouched(DesiredApp previous) {
        if (previous == null || previous.phase() == Phase.ACTIVATE) {
            return previous;
        }
        return new DesiredApp(previous.app(), previous.version(), Phase.ACTIVATE, false, "");
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
