package dev.turnout.edge.engine;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.edge.domain.SemVer;
import dev.turnout.edge.domain.TrustMark;
import dev.turnout.edge.port.StateStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.TrustedKey;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.crypto.VerificationException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * Decides whether a desired state may be acted on: signature first (over the exact payload bytes), then
 * parsing and the device's trust rules. On acceptance the high-water mark is persisted before the caller
 * does anything else.
 */
public final class DesiredStateVerifier {

    /** The verdict on one desired-state message. */
    public sealed interface Verdict permits Accepted, Repeated, Refused {
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

    private static final Logger log = LoggerFactory.getLogger(DesiredStateVerifier.class);

    private final String deviceId;
    private final String platform;
    private volatile EnvelopeVerifier envelopes;
    private final StateStore store;
    private final LongSupplier wallClockMs;
    private final Function<String, String> runningVersionOfApp;
    private final BooleanSupplier wallClockSynced;

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
        this.wallClockSynced = wallClockSynced;
        this.deviceId = deviceId;
        this.platform = platform;
        List<byte[]> rotated = store.loadRotatedKeys();
        this.envelopes = rotated.isEmpty() ? envelopes : new EnvelopeVerifier(rotated.stream().map(PublicKey::of).toList());
        this.store = store;
        this.wallClockMs = wallClockMs;
        this.runningVersionOfApp = runningVersionOfApp;
    }

    public Verdict verify(byte[] wire) {
        byte[] payload;
        try {
            payload = envelopes.open(wire);
        } catch (VerificationException e) {
            return new Refused(e.reason(), e.getMessage(), null);
        }
        DesiredState state;
        try {
            state = DesiredState.parseFrom(payload);
        } catch (InvalidProtocolBufferException e) {
            return new Refused(Reason.MALFORMED, "signed payload is not a desired state", null);
        }
        if (!deviceId.equals(state.getDeviceId())) {
            return new Refused(Reason.WRONG_DEVICE, "desired state is for device '" + printable(state.getDeviceId()) + "'", state);
        }
        TrustMark mark = store.loadTrust();
        if (state.getSequence() < mark.lastSequence()) {
            return new Refused(Reason.REPLAY, "sequence " + state.getSequence() + " is older than the last accepted "
                    + mark.lastSequence(), state);
        }
        if (state.getSequence() == mark.lastSequence() && mark.lastSequence() > 0) {
            // the engine still converges apps that a crash kept from seeing this sequence: same per-app rules
            for (AppDesired app : state.getAppsList()) {
                Refused refused = checkApp(app, state);
                if (refused != null) {
                    return refused;
                }
            }
            return new Repeated(state);
        }
        if (state.getSequence() == 0) {
            return new Refused(Reason.MALFORMED, "desired state has no sequence", state);
        }
        if (state.getExpiresAtMs() <= 0 || state.getIssuedAtMs() > state.getExpiresAtMs()) {
            return new Refused(Reason.MALFORMED, "desired state has no expiry or expires before it was issued", state);
        }
        // The floor (newest issued_at accepted, or a synced clock) only grows and is trusted; the wall clock of a
        // Pi without RTC may be anywhere until NTP syncs.
        if (state.getExpiresAtMs() < mark.timeFloorMs()) {
            return new Refused(Reason.EXPIRED, "desired state expired at " + state.getExpiresAtMs() + " ms, device time floor is "
                    + mark.timeFloorMs(), state);
        }
        long wall = wallClockMs.getAsLong();
        boolean synced = wallClockSynced.getAsBoolean();
        if (state.getExpiresAtMs() < wall) {
            if (!synced) {
                return new Refused(Reason.CLOCK_UNTRUSTED, "desired state expired at " + state.getExpiresAtMs()
                        + " ms by the wall clock (" + wall + " ms), which is not synchronised; not acting", state);
            }
            return new Refused(Reason.EXPIRED, "desired state expired at " + state.getExpiresAtMs() + " ms, device clock is " + wall, state);
        }
        for (AppDesired app : state.getAppsList()) {
            Refused refused = checkApp(app, state);
            if (refused != null) {
                return refused;
            }
        }
        List<PublicKey> rotatedKeys;
        try {
            rotatedKeys = rotatedKeys(state);
        } catch (IllegalArgumentException e) {
            return new Refused(Reason.MALFORMED, "key rotation: " + e.getMessage(), state);
        }
        long floor = Math.max(mark.timeFloorMs(), state.getIssuedAtMs());
        store.saveTrust(new TrustMark(state.getSequence(), synced ? Math.max(floor, wall) : floor));
        if (!rotatedKeys.isEmpty()) {
            store.saveRotatedKeys(rotatedKeys.stream().map(PublicKey::raw).toList());
            envelopes = new EnvelopeVerifier(rotatedKeys);
            log.info("trusted keys rotated to {}", rotatedKeys.stream().map(PublicKey::keyId).toList());
        }
        return new Accepted(state);
    }

    /** The keys a signed rotation installs (empty: no rotation); a key whose id does not match is an error. */
    private static List<PublicKey> rotatedKeys(DesiredState state) {
        if (!state.hasKeyRotation() || state.getKeyRotation().getKeysCount() == 0) {
            return List.of();
        }
        List<PublicKey> keys = new ArrayList<>();
        for (TrustedKey k : state.getKeyRotation().getKeysList()) {
            PublicKey key = PublicKey.of(k.getPublicKey().toByteArray());
            if (!k.getKeyId().isEmpty() && !k.getKeyId().equals(key.keyId())) {
                throw new IllegalArgumentException("key id " + printable(k.getKeyId()) + " does not match its key");
            }
            keys.add(key);
        }
        return keys;
    }

    private Refused checkApp(AppDesired app, DesiredState state) {
        if (app.getApp().isEmpty() || !app.hasRelease() || app.getRelease().getVersion().isEmpty()
                || app.getPhase() == Phase.PHASE_UNSPECIFIED || app.getPhase() == Phase.UNRECOGNIZED) {
            return new Refused(Reason.MALFORMED, "app entry '" + printable(app.getApp()) + "' has no name, release, version or phase", state);
        }
        boolean hasImage = app.getRelease().getImagesList().stream().anyMatch(i -> platform.equals(i.getPlatform()));
        if (!hasImage) {
            return new Refused(Reason.NO_IMAGE_FOR_PLATFORM, "release " + app.getApp() + " " + app.getRelease().getVersion()
                    + " has no image for " + platform, state);
        }
        String running = runningVersionOfApp.apply(app.getApp());
        if (running != null && !running.isEmpty() && !app.getRollback()
                && SemVer.compare(app.getRelease().getVersion(), running) < 0) {
            return new Refused(Reason.DOWNGRADE, app.getApp() + " " + app.getRelease().getVersion() + " is older than running "
                    + running + " and not marked as a rollback", state);
        }
        return null;
    }

    private static String printable(String s) {
        String cut = s.length() > 64 ? s.substring(0, 64) + "..." : s;
        return cut.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
