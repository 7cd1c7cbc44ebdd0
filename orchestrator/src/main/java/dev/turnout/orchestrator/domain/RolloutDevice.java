package dev.turnout.orchestrator.domain;

import java.time.Instant;

/** One targeted device within a rollout. Owned and changed by the rollout engine only. */
public final class RolloutDevice {

    private final String deviceId;
    private final int wave;
    private final DesiredApp previous;
    private RolloutDeviceState state;
    private long stageSequence;
    private long activationSequence;
    private long rollbackSequence;
    private Instant waitingSince;
    private String reason;
    private String message;
    /** Bytes the device reported moving over the network to stage this release, and the full size of its archives. */
    private long bytesMoved;
    private long bytesFull;
    /** Counts changes; the store writes a device only when it changed since its last committed write. */
    private long changes = 1;
    private long savedChanges;
    /** The rollout this device belongs to: told of every change, so that it keeps counts without walking its devices. */
    private Rollout owner;
    /** Not stored: when the device last reported about this rollout's app, and when its desired state was last sent again. */
    private Instant heardAt;
    private Instant remindedAt;

    public RolloutDevice(String deviceId, int wave, DesiredApp previous, RolloutDeviceState state, long stageSequence,
                         long activationSequence, long rollbackSequence, Instant waitingSince, String reason,
                         String message) {
        this.deviceId = deviceId;
        this.wave = wave;
        this.previous = previous;
        this.state = state;
        this.stageSequence = stageSequence;
        this.activationSequence = activationSequence;
        this.rollbackSequence = rollbackSequence;
        this.waitingSince = waitingSince;
        this.reason = reason;
        this.message = message;
    }

    public static RolloutDevice planned(String deviceId, int wave, DesiredApp previous) {
        return new RolloutDevice(deviceId, wave, previous, RolloutDeviceState.PENDING, 0, 0, 0, null, null, null);
    }

    public void staging(long sequence) {
        stageSequence = sequence;
        changed(state);
    }

    public void staged() {
        RolloutDeviceState before = state;
        if (state == RolloutDeviceState.PENDING) {
            state = RolloutDeviceState.STAGED;
        }
        changed(before);
    }

    public void activating(long sequence, Instant now) {
        RolloutDeviceState before = state;
        state = RolloutDeviceState.ACTIVATING;
        activationSequence = sequence;
        waitingSince = now;
        changed(before);
    }

    public void succeeded(String message) {
        RolloutDeviceState before = state;
        state = RolloutDeviceState.ACTIVE;
        this.message = message;
        changed(before);
    }

    public void failed(String reason, String message) {
        RolloutDeviceState before = state;
        state = RolloutDeviceState.FAILED;
        this.reason = reason;
        this.message = message;
        changed(before);
    }

    public void rollingBack(long sequence, Instant now) {
        RolloutDeviceState before = state;
        state = RolloutDeviceState.ROLLING_BACK;
        rollbackSequence = sequence;
        waitingSince = now;
        changed(before);
    }

    public void rolledBack(String message) {
        RolloutDeviceState before = state;
        state = RolloutDeviceState.ROLLED_BACK;
        this.message = message;
        changed(before);
    }

    /** The rollout ended before activating this device: it stays on its previous desired state. */
    public void cancelled(String message) {
        RolloutDeviceState before = state;
        state = RolloutDeviceState.CANCELLED;
        this.message = message;
        changed(before);
    }

    /** A newer rollout took the device before it finished this (ended) one: it will not run this release. */
    public void skipped(String message) {
        RolloutDeviceState before = state;
        state = RolloutDeviceState.SKIPPED;
        this.message = message;
        changed(before);
    }

    /** A note on where it stands, shown with the rollout (e.g. waiting for its update window). */
    public void noted(String note) {
        this.message = note;
        changed(state);
    }

    /**
     * The device staged the release having moved {@code moved} bytes over the network for archives of {@code full}
     * bytes (less when it had some cached). The largest report counts: the same report again (a QoS 1 duplicate) or a
     * later pass that found everything cached changes nothing. True when this changed the device.
     */
    public boolean downloaded(long moved, long full) {
        long newMoved = Math.max(bytesMoved, moved);
        long newFull = Math.max(bytesFull, full);
        if (newMoved == bytesMoved && newFull == bytesFull) {
            return false;
        }
        bytesMoved = newMoved;
        bytesFull = newFull;
        changed(state);
        return true;
    }

    /** Bytes moved to stage this release (0: none reported, or all of it was cached). */
    public long bytesMoved() {
        return bytesMoved;
    }

    /** Full size of the release's archives for this device, as it reported them (0: not reported). */
    public long bytesFull() {
        return bytesFull;
    }

    /** A device that was offline is back: its time to report starts again. */
    public void restartWaiting(Instant now) {
        waitingSince = now;
        changed(state);
    }

    /** The device reported about the rollout's app (not stored: only the engine's reminders use it). */
    public void heard(Instant now) {
        heardAt = now;
    }

    /** True when the device reported about the rollout's app since its time to report last started. */
    public boolean heardSinceWaiting() {
        return heardAt != null && waitingSince != null && heardAt.isAfter(waitingSince); // the report that restarted it is not news of after
    }

    /** Its desired state was published to it again now (not stored). */
    public void reminded(Instant now) {
        remindedAt = now;
    }

    /** Since when the device has been waited for without a reminder: its time to report started, or the last reminder. */
    public Instant quietSince() {
        return remindedAt != null && (waitingSince == null || remindedAt.isAfter(waitingSince)) ? remindedAt : waitingSince;
    }

    private void changed(RolloutDeviceState before) {
        changes++;
        if (owner != null) {
            owner.deviceChanged(this, before);
        }
    }

    /** Joins {@code rollout}; a device belongs to one rollout. */
    void ownedBy(Rollout rollout) {
        if (owner != null && owner != rollout) {
            throw new IllegalStateException("device " + deviceId + " already belongs to rollout " + owner.id());
        }
        owner = rollout;
    }

    /** True when this device changed since its last stored state. */
    public boolean unsaved() {
        return changes != savedChanges;
    }

    /** How many changes it has seen: what a store remembers it wrote. */
    public long changes() {
        return changes;
    }

    /** The store committed this device as it stood after {@code upTo} changes. */
    public void saved(long upTo) {
        savedChanges = Math.max(savedChanges, upTo);
    }

    /** True when the rollout told this device to switch to its release. */
    public boolean wasActivated() {
        return activationSequence > 0;
    }

    public String deviceId() {
        return deviceId;
    }

    public int wave() {
        return wave;
    }

    /** The device's desired entry for the app before this rollout; null when it had none. */
    public DesiredApp previous() {
        return previous;
    }

    public RolloutDeviceState state() {
        return state;
    }

    public long stageSequence() {
        return stageSequence;
    }

    public long activationSequence() {
        return activationSequence;
    }

    public long rollbackSequence() {
        return rollbackSequence;
    }

    public Instant waitingSince() {
        return waitingSince;
    }

    public String reason() {
        return reason;
    }

    public String message() {
        return message;
    }
}
