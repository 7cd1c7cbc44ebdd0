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
        devices.forEach(d -> this.devices.put(d.deviceId(), d));
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
        devices.put(device.deviceId(), device);
        wavesCache = null;
    }

    public int waveCount() {
        return devices.values().stream().mapToInt(RolloutDevice::wave).max().orElse(0);
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
        return devices.values().stream().filter(d -> d.state() == s).count();
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
}
