package dev.turnout.edge.engine;

import dev.turnout.proto.Reason;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * The newest desired state refused for the device's clock (EXPIRED by the wall clock, or CLOCK_UNTRUSTED), judged again
 * once the wall clock has been set: a clock that jumped a year ahead and is put right takes the state it refused
 * meanwhile by itself, instead of waiting for the broker to hand it out again (which it does only when the device
 * reconnects) or for the orchestrator to re-sign it (days). "Set" means the wall clock moved against the boot's
 * monotonic clock by more than {@link #MOVED}; no look happens while it runs steadily. In memory only: a restart gets
 * the retained state from the broker anyway. Not thread-safe: the engine's worker thread only.
 */
final class ClockRefusals {

    /** How far the wall clock must move against the monotonic clock to count as set (NTP slews far less). */
    static final Duration MOVED = Duration.ofMinutes(1);

    private final LongSupplier wallClockMs;
    private final LongSupplier nanoTime;
    private byte[] refused;
    /** Wall clock minus monotonic clock, in ms, when {@link #refused} was refused. */
    private long offsetMs;

    ClockRefusals(LongSupplier wallClockMs, LongSupplier nanoTime) {
        this.wallClockMs = wallClockMs;
        this.nanoTime = nanoTime;
    }

    /** Whether a refusal for {@code reason} depends on the device's clock, so that setting the clock may change it. */
    static boolean isClocks(Reason reason) {
        return reason == Reason.EXPIRED || reason == Reason.CLOCK_UNTRUSTED;
    }

    /** {@code wire} was refused for the clock now. */
    void refused(byte[] wire) {
        refused = wire;
        offsetMs = offset();
    }

    /** A desired state was taken (or waits for space): nothing refused before it is judged again. */
    void forget() {
        refused = null;
    }

    /** The refused state to judge again now that the wall clock was set, or null (taken out either way). */
    byte[] dueAfterClockSet() {
        if (refused == null || Math.abs(offset() - offsetMs) <= MOVED.toMillis()) {
            return null;
        }
        byte[] wire = refused;
        refused = null;
        return wire;
    }

    private long offset() {
        return wallClockMs.getAsLong() - nanoTime.getAsLong() / 1_000_000;
    }
}
