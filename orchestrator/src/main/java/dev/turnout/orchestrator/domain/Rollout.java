package dev.turnout.orchestrator.domain;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A release going out to a target in waves. Owned and changed by the rollout engine only. */
public final class Rollout {

    private final String id;
    private final String app;
    private final String version;
    private final String target;
    private final RolloutStrategy strategy;
    private final Instant createdAt;
    private final Map<String, RolloutDevice> devices = new LinkedHashMap<>();
    private RolloutState state;
    private String reason;
    private Instant updatedAt;
    private int currentWave;
    private WaveState waveState;
    private Instant waveChangedAt;
    private int toleratedFailures;

    /** wave number -> its devices; null until asked, dropped when a device joins. */
    private Map<Integer, List<RolloutDevice>> wavesCache;

    // Kept up to date as devices change (RolloutDevice tells its rollout), so that a report costs the
    // same whether the rollout has ten devices or ten thousand: nothing below walks every device.
    private static final RolloutDeviceState[] STATES = RolloutDeviceState.values();
    /** Devices per state (by ordinal). */
    private final int[] counts = new int[STATES.length];
    /** wave number -> devices per state (by ordinal). */
    private final Map<Integer, int[]> waveCounts = new java.util.HashMap<>();
    /**
     * Devices changed since the store last wrote them, in the order they changed (a device is its own
     * identity: RolloutDevice keeps Object's equals); may hold some written since: {@link #unsavedDevices()} drops them.
     */
    private final java.util.Set<RolloutDevice> dirty = new java.util.LinkedHashSet<>();
    /** No device started waiting for a report before this: a lower bound, or null when none waits. */
    private Instant earliestWaiting = Instant.MIN;
    private int waves;

    public Rollout(String id, String app, String version, String target, RolloutStrategy strategy, Instant createdAt,
                   RolloutState state, String reason, Instant updatedAt, int currentWave, WaveState waveState,
                   Instant waveChangedAt, int toleratedFailures, Collection<RolloutDevice> devices) {
        this.id = id;
        this.app = app;
        this.version = version;
        this.target = target;
        this.strategy = strategy;
        this.createdAt = createdAt;
        this.state = state;
        this.reason = reason;
        this.updatedAt = updatedAt;
        this.currentWave = currentWave;
        this.waveState = waveState;
        this.waveChangedAt = waveChangedAt;
        this.toleratedFailures = toleratedFailures;
        devices.forEach(this::adopt);
    }

    private void adopt(RolloutDevice d) {
        d.ownedBy(this);
        devices.put(d.deviceId(), d);
        tally(d.wave(), d.state(), 1);
        waves = Math.max(waves, d.wave());
        if (d.unsaved()) {
            dirty.add(d);
        }
        earliestWaiting = Instant.MIN; // unknown: the next {@link #mayHaveWaitedSince} says yes until recomputed
    }

    private void tally(int wave, RolloutDeviceState s, int delta) {
        counts[s.ordinal()] += delta;
        waveCounts.computeIfAbsent(wave, w -> new int[STATES.length])[s.ordinal()] += delta;
    }

    /** Called by a device of this rollout after each change. */
    void deviceChanged(RolloutDevice d, RolloutDeviceState before) {
        if (before != d.state()) {
            tally(d.wave(), before, -1);
            tally(d.wave(), d.state(), 1);
        }
        dirty.add(d);
        Instant since = d.waitingSince();
        boolean waits = d.state() == RolloutDeviceState.ACTIVATING || d.state() == RolloutDeviceState.ROLLING_BACK;
        if (waits && since != null && (earliestWaiting == null || since.isBefore(earliestWaiting))) {
            earliestWaiting = since;
        }
    }

    /**
     * The devices changed since the store last committed them, in the order they changed. The store
     * calls this on every save, so devices written since the previous call are dropped here.
     */
    public List<RolloutDevice> unsavedDevices() {
        dirty.removeIf(d -> !d.unsaved());
        return new ArrayList<>(dirty);
    }

    /**
     * False when no device of this rollout can have been waiting for a report since before {@code t}
     * (so a timeout check may skip the walk over the devices). A lower bound: true may be a false alarm.
     */
    public boolean mayHaveWaitedSince(Instant t) {
        return earliestWaiting != null && !earliestWaiting.isAfter(t);
    }

    /**
     * After a walk over the devices: the earliest time one of them that can still time out started
     * waiting, null if none. Devices left out (offline, waiting for their update window) must call
     * {@link RolloutDevice#restartWaiting} when they count again, which lowers this bound.
     */
    public void earliestWaiting(Instant since) {
        earliestWaiting = since;
    }

    /** Devices of wave {@code number} in state {@code s}. */
    public int count(int number, RolloutDeviceState s) {
        int[] c = waveCounts.get(number);
        return c == null ? 0 : c[s.ordinal()];
    }

    /** Devices of wave {@code number} that need nothing more from it ({@link RolloutDeviceState#isSettled()}). */
    public int settled(int number) {
        int[] c = waveCounts.get(number);
        if (c == null) {
            return 0;
        }
        int n = 0;
        for (RolloutDeviceState s : STATES) {
            if (s.isSettled()) {
                n += c[s.ordinal()];
            }
        }
        return n;
    }

    public void moveTo(RolloutState next, String why, Instant now) {
        state = next;
        reason = why;
        updatedAt = now;
    }

    public void waveMovedTo(int wave, WaveState next, Instant now) {
        currentWave = wave;
        waveState = next;
        waveChangedAt = now;
        updatedAt = now;
    }

    public void touched(Instant now) {
        updatedAt = now;
    }

    /** Failures seen so far are accepted (an operator resumed after a pause on failure). */
    public void tolerateCurrentFailures() {
        toleratedFailures = (int) count(RolloutDeviceState.FAILED);
    }

    /** A device that joined after the rollout started (dynamic target). */
    public void add(RolloutDevice device) {
        adopt(device);
        wavesCache = null;
    }

    public int waveCount() {
        return waves;
    }

    /** The devices of wave {@code number}, in order (read-only; kept until a device joins: the engine asks on every report). */
    public List<RolloutDevice> wave(int number) {
        if (wavesCache == null) {
            Map<Integer, List<RolloutDevice>> byWave = new java.util.HashMap<>();
            for (RolloutDevice d : devices.values()) {
                byWave.computeIfAbsent(d.wave(), w -> new ArrayList<>()).add(d);
            }
            byWave.replaceAll((w, members) -> java.util.Collections.unmodifiableList(members));
            wavesCache = byWave;
        }
        return wavesCache.getOrDefault(number, List.of());
    }

    /** State of wave {@code number}, derived from the current wave. */
    public WaveState waveState(int number) {
        if (number < currentWave) {
            return WaveState.DONE;
        }
        if (number == currentWave) {
            return waveState;
        }
        return WaveState.PENDING;
    }

    public long count(RolloutDeviceState s) {
        return counts[s.ordinal()];
    }

    public String id() {
        return id;
    }

    public String app() {
        return app;
    }

    public String version() {
        return version;
    }

    public String target() {
        return target;
    }

    public RolloutStrategy strategy() {
        return strategy;
    }

    public Instant createdAt() {
        return createdAt;
    }

    public RolloutState state() {
        return state;
    }

    public String reason() {
        return reason;
    }

    public Instant updatedAt() {
        return updatedAt;
    }

    public int currentWave() {
        return currentWave;
    }

    public WaveState currentWaveState() {
        return waveState;
    }

    public Instant waveChangedAt() {
        return waveChangedAt;
    }

    public int toleratedFailures() {
        return toleratedFailures;
    }

    public Collection<RolloutDevice> devices() {
        return devices.values();
    }

    public RolloutDevice device(String deviceId) {
        return devices.get(deviceId);
    }

    /** Bytes the devices reported moving over the network to stage this release. */
    public long bytesMoved() {
        return devices().stream().mapToLong(RolloutDevice::bytesMoved).sum();
    }

    /** The full archive sizes of the devices that reported a download: what whole-archive downloads would have moved. */
    public long bytesFull() {
        return devices().stream().mapToLong(RolloutDevice::bytesFull).sum();
    }
}
