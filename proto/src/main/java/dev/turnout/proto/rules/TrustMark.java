package dev.turnout.proto.rules;

import java.util.Map;
import java.util.TreeMap;

/**
 * The replay and clock high-water mark, persisted before any side effect of an accepted desired state.
 *
 * @param lastSequence  highest desired-state sequence accepted
 * @param timeFloorMs   the device never lets "now" go below this (newest issued_at accepted)
 * @param versionFloors app -> the highest rollback floor accepted for it ({@code AppDesired.min_version}); a floor
 *                      only rises, so an older signed message cannot lower it
 */
public record TrustMark(long lastSequence, long timeFloorMs, Map<String, String> versionFloors) {

    public static final TrustMark NONE = new TrustMark(0, 0);

    public TrustMark {
        versionFloors = Map.copyOf(versionFloors);
    }

    /** A mark without rollback floors. */
    public TrustMark(long lastSequence, long timeFloorMs) {
        this(lastSequence, timeFloorMs, Map.of());
    }

    /** The rollback floor of {@code app}, or null when it has none. */
    public String versionFloor(String app) {
        return versionFloors.get(app);
    }

    /** This mark's floors raised by {@code floors} (app -> floor); a lower or equal floor changes nothing. */
    public Map<String, String> raisedFloors(Map<String, String> floors) {
        Map<String, String> raised = new TreeMap<>(versionFloors);
        floors.forEach((app, floor) -> raised.merge(app, floor, (a, b) -> SemVer.compare(a, b) >= 0 ? a : b));
        return raised;
    }
}
