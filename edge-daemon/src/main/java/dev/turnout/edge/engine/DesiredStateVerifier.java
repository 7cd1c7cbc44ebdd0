package dev.turnout.edge.engine;

import dev.turnout.edge.domain.DiskFull;
import dev.turnout.edge.port.StateStore;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Reason;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.rules.DeviceTrust;
import dev.turnout.proto.rules.TrustRules;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * Decides whether a desired state may be acted on, by the device's {@link TrustRules} (signature first, over
 * the exact payload bytes, then parsing and the rules) against the trusted keys and high-water mark this
 * device keeps. On acceptance the high-water mark (and a signed key rotation) is persisted before the caller
 * does anything else.
 */
public final class DesiredStateVerifier {

    /** The verdict on one desired-state message. */
    public sealed interface Verdict permits Accepted, Repeated, Refused, Unsaved {
    }

    /** A newer desired state; the high-water mark already covers it. */
    public record Accepted(DesiredState state) implements Verdict {
    }

    /** The same sequence as the last accepted one (QoS 1 duplicate or retained redelivery). */
    public record Repeated(DesiredState state) implements Verdict {
    }

    /** Refused; {@code state} is null when the payload could not be trusted or parsed. */
    public record Refused(Reason reason, String message, DesiredState state) implements Verdict {
    }

    /**
     * Trusted, but the device's disk is full: its trust record (the high-water mark) could not be saved, so the state is
     * not accepted yet and nothing changed; the caller says so and tries the same bytes again once space returns.
     */
    public record Unsaved(DesiredState state, String message) implements Verdict {
    }

    private static final Logger log = LoggerFactory.getLogger(DesiredStateVerifier.class);

    private final TrustRules rules;
    private volatile EnvelopeVerifier envelopes;
    private final StateStore store;
    private final LongSupplier wallClockMs;
    private final Function<String, String> runningVersionOfApp;
    private final BooleanSupplier wallClockSynced;
    private volatile Runnable onKeysRotated = () -> { };
    private volatile java.util.function.Consumer<DesiredState> onAccepted = state -> { };

    /** A verifier that trusts the wall clock (tests, devices with a real-time clock). */
    public DesiredStateVerifier(String deviceId, String platform, EnvelopeVerifier envelopes, StateStore store,
                                LongSupplier wallClockMs, Function<String, String> runningVersionOfApp) {
        this(deviceId, platform, envelopes, store, wallClockMs, () -> true, runningVersionOfApp);
    }

    /**
     * @param wallClockSynced whether the wall clock is known to be right (NTP synchronised); an unsynced
     *                        clock never moves the time floor and cannot alone expire a payload
     */
    public DesiredStateVerifier(String deviceId, String platform, EnvelopeVerifier envelopes, StateStore store,
                                LongSupplier wallClockMs, BooleanSupplier wallClockSynced, Function<String, String> runningVersionOfApp) {
        this.rules = new TrustRules(deviceId, platform);
        this.wallClockSynced = wallClockSynced;
        List<byte[]> rotated = store.loadRotatedKeys();
        this.envelopes = rotated.isEmpty() ? envelopes : new EnvelopeVerifier(rotated.stream().map(PublicKey::of).toList());
        this.store = store;
        this.wallClockMs = wallClockMs;
        this.runningVersionOfApp = runningVersionOfApp;
    }

    /** The ids of the keys trusted now: the configured ones, or those of the last signed rotation. */
    public List<String> trustedKeyIds() {
        return envelopes.trustedKeys().stream().map(PublicKey::keyId).toList();
    }

    /** The keys trusted now, for other messages the orchestrator signs as it signs desired states (log requests). */
    public EnvelopeVerifier trustedKeys() {
        return envelopes;
    }

    /** Runs {@code action} after a signed rotation changed the trusted keys (the daemon tells the orchestrator). */
    public void onKeysRotated(Runnable action) {
        this.onKeysRotated = action;
    }

    /** Runs {@code action} with every desired state accepted (e.g. to take up its reconnect window). */
    public void onAccepted(java.util.function.Consumer<DesiredState> action) {
        this.onAccepted = action;
    }

    public Verdict verify(byte[] wire) {
        DeviceTrust trust = new DeviceTrust(envelopes, store.loadTrust());
        TrustRules.Verdict verdict = rules.judge(wire, trust, wallClockMs.getAsLong(), wallClockSynced.getAsBoolean(),
                runningVersionOfApp);
        if (verdict instanceof TrustRules.Refused refused) {
            return new Refused(refused.reason(), refused.message(), refused.state());
        }
        if (verdict instanceof TrustRules.Repeated repeated) {
            return new Repeated(repeated.state());
        }
        TrustRules.Accepted accepted = (TrustRules.Accepted) verdict;
        try {
            store.saveTrust(accepted.next().mark());
        } catch (java.io.UncheckedIOException e) {
            if (!DiskFull.is(e)) {
                throw e;
            }
            log.warn("desired state sequence {} not taken yet, the disk is full: {}", accepted.state().getSequence(), e.getMessage());
            return new Unsaved(accepted.state(), "the device's disk is full: it could not save the desired state's trust record ("
                    + e.getMessage() + "); nothing changed, it tries again once space returns");
        }
        if (!accepted.rotatedKeys().isEmpty()) {
            store.saveRotatedKeys(accepted.rotatedKeys().stream().map(PublicKey::raw).toList());
            List<String> before = trustedKeyIds();
            envelopes = accepted.next().keys();
            if (!before.equals(trustedKeyIds())) {
                log.info("trusted keys rotated to {}", trustedKeyIds());
                onKeysRotated.run();
            }
        }
        onAccepted.accept(accepted.state());
        return new Accepted(accepted.state());
    }
}
