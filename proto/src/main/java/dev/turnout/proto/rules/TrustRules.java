package dev.turnout.proto.rules;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.TrustedKey;
import dev.turnout.proto.agent.AgentDistribution;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.crypto.VerificationException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * A device's trust rules for one desired-state message, the same on the edge daemon and on a simulated
 * device. Pure: no I/O and no clock; the caller passes what the device trusts and the time, and
 * persists the next {@link DeviceTrust} before it acts on an accepted state.
 *
 * <p>Deny by default, in this order: the signature (over the exact payload bytes, by a trusted key),
 * the payload parses, it names this device, its sequence is not older than the last accepted one (the
 * same sequence again is a repeat, its apps still checked), it has a sequence and an expiry not before
 * its issue time, it has not expired by the device's time floor nor by its wall clock (an unsynchronised
 * clock cannot alone expire it), and every app entry is complete (a REMOVE entry: an app name and no release), has
 * an image for this platform (an entry of the reserved app {@value AgentDistribution#APP}: the edge daemon's
 * distribution instead, and nothing else) and
 * does not go below the running version unless it is a signed rollback, nor below the app's rollback floor
 * (the higher of the one the device keeps and the entry's own {@code min_version}; signed rollbacks included;
 * the version that runs already is not a move and passes).
 * A signed key rotation replaces the trusted keys; the floors an accepted state carries raise the kept ones
 * (never lower them).
 */
public final class TrustRules {

    /** The verdict on one desired-state message. */
    public sealed interface Verdict permits Accepted, Repeated, Refused {
    }

    /**
     * A newer desired state.
     *
     * @param next         what the device trusts from now on; persist it before acting on {@code state}
     * @param rotatedKeys  the keys a signed rotation installs, in the order signed (empty: no rotation)
     */
    public record Accepted(DesiredState state, DeviceTrust next, List<PublicKey> rotatedKeys) implements Verdict {
    }

    /** The same sequence as the last accepted one (QoS 1 duplicate or retained redelivery); the trust does not change. */
    public record Repeated(DesiredState state) implements Verdict {
    }

    /** Refused; {@code state} is null when the payload could not be trusted or parsed. */
    public record Refused(Reason reason, String message, DesiredState state) implements Verdict {
    }

    private final String deviceId;
    private final String platform;

    /**
     * @param deviceId the device's own id: a desired state for another one is refused
     * @param platform the device's platform, e.g. {@code linux/arm64}: every release needs an image for it
     */
    public TrustRules(String deviceId, String platform) {
        this.deviceId = deviceId;
        this.platform = platform;
    }

    /**
     * Judges one message as it came off the wire.
     *
     * @param trust          the keys and high-water mark the device holds now
     * @param wallClockMs    the device's wall clock
     * @param clockSynced    whether the wall clock is known to be right (NTP synchronised); an unsynced clock
     *                       never moves the time floor and cannot alone expire a payload
     * @param runningVersion the version of an app that runs now (null or empty: none)
     */
    public Verdict judge(byte[] wire, DeviceTrust trust, long wallClockMs, boolean clockSynced,
                         Function<String, String> runningVersion) {
        byte[] payload;
        try {
            payload = trust.keys().open(wire);
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
        TrustMark mark = trust.mark();
        if (state.getSequence() < mark.lastSequence()) {
            return new Refused(Reason.REPLAY, "sequence " + state.getSequence() + " is older than the last accepted "
                    + mark.lastSequence(), state);
        }
        if (state.getSequence() == mark.lastSequence() && mark.lastSequence() > 0) {
            // the device still converges apps that a crash kept from seeing this sequence: same per-app rules
            Refused refused = checkApps(state, mark, runningVersion);
            return refused != null ? refused : new Repeated(state);
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
        if (state.getExpiresAtMs() < wallClockMs) {
            if (!clockSynced) {
                return new Refused(Reason.CLOCK_UNTRUSTED, "desired state expired at " + state.getExpiresAtMs()
                        + " ms by the wall clock (" + wallClockMs + " ms), which is not synchronised; not acting", state);
            }
            return new Refused(Reason.EXPIRED, "desired state expired at " + state.getExpiresAtMs() + " ms, device clock is "
                    + wallClockMs, state);
        }
        Refused refused = checkApps(state, mark, runningVersion);
        if (refused != null) {
            return refused;
        }
        List<PublicKey> rotatedKeys;
        try {
            rotatedKeys = rotatedKeys(state);
        } catch (IllegalArgumentException e) {
            return new Refused(Reason.MALFORMED, "key rotation: " + e.getMessage(), state);
        }
        long floor = Math.max(mark.timeFloorMs(), state.getIssuedAtMs());
        TrustMark nextMark = new TrustMark(state.getSequence(), clockSynced ? Math.max(floor, wallClockMs) : floor,
                mark.raisedFloors(versionFloors(state)));
        EnvelopeVerifier nextKeys = rotatedKeys.isEmpty() ? trust.keys() : new EnvelopeVerifier(rotatedKeys);
        return new Accepted(state, new DeviceTrust(nextKeys, nextMark), rotatedKeys);
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
        return List.copyOf(keys);
    }

    /** app -> the rollback floor its entry carries (entries without one left out). */
    private static Map<String, String> versionFloors(DesiredState state) {
        Map<String, String> floors = new TreeMap<>();
        for (AppDesired app : state.getAppsList()) {
            if (!app.getMinVersion().isEmpty()) {
                floors.merge(app.getApp(), app.getMinVersion(), (a, b) -> SemVer.compare(a, b) >= 0 ? a : b);
            }
        }
        return floors;
    }

    private Refused checkApps(DesiredState state, TrustMark mark, Function<String, String> runningVersion) {
        for (AppDesired app : state.getAppsList()) {
            Refused refused = checkApp(app, state, mark, runningVersion);
            if (refused != null) {
                return refused;
            }
        }
        return null;
    }

    private Refused checkApp(AppDesired app, DesiredState state, TrustMark mark, Function<String, String> runningVersion) {
        if (app.getPhase() == Phase.REMOVE) { // names the app only: nothing to download, no version to compare
            return app.getApp().isEmpty() || app.hasRelease() ? new Refused(Reason.MALFORMED, "remove entry '"
                    + printable(app.getApp()) + "' has no app name or carries a release", state) : null;
        }
        if (app.getApp().isEmpty() || !app.hasRelease() || app.getRelease().getVersion().isEmpty()
                || app.getPhase() == Phase.PHASE_UNSPECIFIED || app.getPhase() == Phase.UNRECOGNIZED) {
            return new Refused(Reason.MALFORMED, "app entry '" + printable(app.getApp()) + "' has no name, release, version or phase", state);
        }
        if (AgentDistribution.isAgent(app.getApp()) || app.getRelease().hasAgent()) {
            Refused malformed = checkAgent(app, state);
            if (malformed != null) {
                return malformed;
            }
            return checkVersion(app, state, mark, runningVersion);
        }
        boolean hasImage = app.getRelease().getImagesList().stream().anyMatch(i -> platform.equals(i.getPlatform()));
        if (!hasImage) {
            return new Refused(Reason.NO_IMAGE_FOR_PLATFORM, "release " + app.getApp() + " " + app.getRelease().getVersion()
                    + " has no image for " + platform, state);
        }
        if (app.getRelease().hasCompose()) {
            String problem = composeProblem(app.getRelease());
            if (problem != null) {
                return new Refused(Reason.MALFORMED, "release " + app.getApp() + " " + app.getRelease().getVersion() + ": " + problem, state);
            }
        }
        return checkVersion(app, state, mark, runningVersion);
    }

    /**
     * An entry of the reserved app {@value AgentDistribution#APP}: a release of the edge daemon itself, with its
     * distribution (digest, size) and nothing a container app has; its version names a directory on the device.
     */
    private static Refused checkAgent(AppDesired app, DesiredState state) {
        dev.turnout.proto.Release r = app.getRelease();
        String what = "release " + printable(app.getApp()) + " " + printable(r.getVersion());
        if (!AgentDistribution.isAgent(app.getApp())) {
            return new Refused(Reason.MALFORMED, what + " carries an edge daemon distribution, which only releases of "
                    + AgentDistribution.APP + " may", state);
        }
        if (!r.hasAgent() || r.getImagesCount() > 0 || r.hasContainer() || r.hasCompose()) {
            return new Refused(Reason.MALFORMED, what + " must carry the edge daemon's distribution and no image, container"
                    + " or Compose file (" + AgentDistribution.APP + " is reserved for the daemon itself)", state);
        }
        if (!SemVer.isWellFormed(r.getVersion()) || !r.getAgent().getDigest().matches("sha256:[0-9a-f]{64}")
                || r.getAgent().getSize() <= 0 || r.getAgent().getUrl().isEmpty()) {
            return new Refused(Reason.MALFORMED, what + " has no semantic version, digest, size or URL", state);
        }
        return null;
    }

    /** The rollback floor and the downgrade rule, for any entry that names a release. */
    private Refused checkVersion(AppDesired app, DesiredState state, TrustMark mark, Function<String, String> runningVersion) {
        String version = app.getRelease().getVersion();
        String running = runningVersion.apply(app.getApp());
        String floor = higher(mark.versionFloor(app.getApp()), app.getMinVersion());
        // the version that runs already is no move below the floor (a floor never stops what runs): a re-signed state
        // that restates it is accepted, and brings the floor
        if (floor != null && !version.equals(running) && SemVer.compare(version, floor) < 0) {
            return new Refused(Reason.BELOW_FLOOR, app.getApp() + " " + printable(version) + " is below the rollback floor "
                    + printable(floor) + (app.getRollback() ? " (a signed rollback too)" : ""), state);
        }
        if (running != null && !running.isEmpty() && !app.getRollback()
                && SemVer.compare(app.getRelease().getVersion(), running) < 0) {
            return new Refused(Reason.DOWNGRADE, app.getApp() + " " + app.getRelease().getVersion() + " is older than running "
                    + running + " and not marked as a rollback", state);
        }
        return null;
    }

    /**
     * Why a Compose release cannot run here, or null: its file must read as the device reads it (with the release's
     * variables; the device's own are not known to these rules, so a required one they lack is refused here too) and
     * every image its services name must have an archive for this platform.
     */
    private String composeProblem(dev.turnout.proto.Release release) {
        java.util.Map<String, String> envFiles = new java.util.LinkedHashMap<>();
        release.getCompose().getEnvFilesMap().forEach((name, bytes) -> envFiles.put(name, bytes.toStringUtf8()));
        dev.turnout.proto.compose.ComposeFile file;
        try {
            file = dev.turnout.proto.compose.ComposeReader.read(release.getCompose().getFileName(),
                    release.getCompose().getContent().toStringUtf8(), release.getCompose().getVariablesMap(), envFiles);
        } catch (dev.turnout.proto.compose.InvalidComposeException e) {
            return e.getMessage();
        }
        for (String image : file.images()) {
            boolean archived = release.getImagesList().stream().anyMatch(i -> platform.equals(i.getPlatform()) && image.equals(i.getImageRef()));
            if (!archived) {
                return "image " + printable(image) + " has no archive for " + platform;
            }
        }
        return null;
    }

    /** The higher of two floors; null or empty is none. */
    private static String higher(String a, String b) {
        if (a == null || a.isEmpty()) {
            return b == null || b.isEmpty() ? null : b;
        }
        return b == null || b.isEmpty() || SemVer.compare(a, b) >= 0 ? a : b;
    }

    private static String printable(String s) {
        String cut = s.length() > 64 ? s.substring(0, 64) + "..." : s;
        return cut.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
