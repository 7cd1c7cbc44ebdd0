package dev.turnout.proto.rules;

import com.google.protobuf.ByteString;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.ComposeApp;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.KeyRotation;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.TrustedKey;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every trust rule, one row each, on device pi-1 (linux/arm64) that runs web 2.0.0 after accepting
 * sequence 10, issued at {@code NOW}: the message, the device's clock, and the verdict with its reason
 * and the start of its message.
 */
class TrustRulesTest {

    private static final long NOW = 1_800_000_000_000L;
    private static final long HOUR = 3_600_000;
    private static final SigningKey KEY = SigningKey.generate();
    private static final SigningKey STRANGER = SigningKey.generate();
    private static final SigningKey NEXT = SigningKey.generate();
    private static final DeviceTrust AFTER_TEN = new DeviceTrust(new EnvelopeVerifier(List.of(KEY.publicKey())), new TrustMark(10, NOW));
    private static final Map<String, String> RUNNING = Map.of("web", "2.0.0", "turnout-edge", "0.1.0");

    private final TrustRules rules = new TrustRules("pi-1", "linux/arm64");

    /** A row: the rule, the device's wall clock and whether it is synchronised, the message, the verdict. */
    record Row(String rule, long wallClockMs, boolean synced, byte[] wire, Reason reason, String message) {
        @Override
        public String toString() {
            return rule;
        }
    }

    static Stream<Row> refusals() {
        return Stream.of(
                new Row("not an envelope", NOW, true, new byte[] {(byte) 0xff, 1, 2}, Reason.MALFORMED, "not a signed envelope"),
                new Row("unknown key", NOW, true, STRANGER.seal(activate(11, "3.0.0")).toByteArray(), Reason.UNKNOWN_KEY,
                        "signed by unknown key"),
                new Row("bad signature", NOW, true, flipSignature(KEY.seal(activate(11, "3.0.0"))), Reason.BAD_SIGNATURE,
                        "signature does not verify"),
                new Row("signed payload that is not a desired state", NOW, true, sealRaw(new byte[] {(byte) 0xff, (byte) 0xff}),
                        Reason.MALFORMED, "signed payload is not a desired state"),
                new Row("another device", NOW, true, seal(activate(11, "3.0.0"), s -> s.setDeviceId("pi-2\n")), Reason.WRONG_DEVICE,
                        "desired state is for device 'pi-2?'"),
                new Row("older sequence", NOW, true, seal(activate(9, "3.0.0")), Reason.REPLAY,
                        "sequence 9 is older than the last accepted 10"),
                new Row("the last sequence again with a downgrade", NOW, true, seal(activate(10, "1.0.0")), Reason.DOWNGRADE,
                        "web 1.0.0 is older than running 2.0.0"),
                new Row("no expiry", NOW, true, seal(activate(11, "3.0.0"), s -> s.setExpiresAtMs(0)), Reason.MALFORMED,
                        "desired state has no expiry or expires before it was issued"),
                new Row("issued after it expires", NOW, true, seal(times(activate(11, "3.0.0"), NOW + 2 * HOUR, NOW + HOUR)),
                        Reason.MALFORMED, "desired state has no expiry or expires before it was issued"),
                new Row("expired by the time floor while the clock is back in 1970", 0, false,
                        seal(times(activate(11, "3.0.0"), NOW - 3 * HOUR, NOW - 2 * HOUR)), Reason.EXPIRED,
                        "desired state expired at " + (NOW - 2 * HOUR) + " ms, device time floor is " + NOW),
                new Row("expired by a synced clock", NOW + 3 * HOUR, true, seal(activate(11, "3.0.0")), Reason.EXPIRED,
                        "desired state expired at " + (NOW + HOUR) + " ms, device clock is " + (NOW + 3 * HOUR)),
                new Row("expired only by an unsynced clock", NOW + 3 * HOUR, false, seal(activate(11, "3.0.0")),
                        Reason.CLOCK_UNTRUSTED, "desired state expired at " + (NOW + HOUR) + " ms by the wall clock"),
                new Row("an app entry without a phase", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setApps(0, s.getApps(0).toBuilder().setPhase(Phase.PHASE_UNSPECIFIED))),
                        Reason.MALFORMED, "app entry 'web' has no name, release, version or phase"),
                new Row("an app entry without a release", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setApps(0, s.getApps(0).toBuilder().clearRelease())),
                        Reason.MALFORMED, "app entry 'web' has no name, release, version or phase"),
                new Row("a remove entry that carries a release", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setApps(0, s.getApps(0).toBuilder().setPhase(Phase.REMOVE))),
                        Reason.MALFORMED, "remove entry 'web' has no app name or carries a release"),
                new Row("a remove entry without an app name", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setApps(0, s.getApps(0).toBuilder().clearRelease().setApp("").setPhase(Phase.REMOVE))),
                        Reason.MALFORMED, "remove entry '' has no app name or carries a release"),
                new Row("no image for this platform", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setApps(0, s.getApps(0).toBuilder().setRelease(release("3.0.0", "linux/amd64")))),
                        Reason.NO_IMAGE_FOR_PLATFORM, "release web 3.0.0 has no image for linux/arm64"),
                new Row("a Compose app whose file the device does not read", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setApps(0, s.getApps(0).toBuilder().setRelease(s.getApps(0).getRelease()
                                .toBuilder().setCompose(ComposeApp.newBuilder().setFileName("docker-compose.yml")
                                        .setContent(ByteString.copyFromUtf8("services:\n  web:\n    image: web:3\n    build: .\n")))))),
                        Reason.MALFORMED, "release web 3.0.0: docker-compose.yml: services.web.build: not supported by Turnout"
                        + " (supported keys: docs/compose.md)"),
                new Row("a Compose app with an image that has no archive here", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setApps(0, s.getApps(0).toBuilder().setRelease(s.getApps(0).getRelease()
                                .toBuilder().setCompose(ComposeApp.newBuilder().setFileName("docker-compose.yml")
                                        .setContent(ByteString.copyFromUtf8("services:\n  web:\n    image: web:3\n")))))),
                        Reason.MALFORMED, "release web 3.0.0: image web:3 has no archive for linux/arm64"),
                new Row("an edge daemon release that also names an image", NOW, true,
                        seal(agentActivation(11, "0.2.0", r -> r.addImages(ImageArtifact.newBuilder().setPlatform("linux/arm64")))),
                        Reason.MALFORMED, "release turnout-edge 0.2.0 must carry the edge daemon's distribution and no image"),
                new Row("an edge daemon release without its distribution", NOW, true,
                        seal(agentActivation(11, "0.2.0", Release.Builder::clearAgent)),
                        Reason.MALFORMED, "release turnout-edge 0.2.0 must carry the edge daemon's distribution"),
                new Row("an edge daemon distribution without a digest", NOW, true,
                        seal(agentActivation(11, "0.2.0", r -> r.setAgent(r.getAgent().toBuilder().setDigest("")))),
                        Reason.MALFORMED, "release turnout-edge 0.2.0 has no semantic version, digest, size or URL"),
                new Row("an edge daemon release whose version is no directory name", NOW, true,
                        seal(agentActivation(11, "../0.2.0", r -> r)),
                        Reason.MALFORMED, "release turnout-edge ../0.2.0 has no semantic version"),
                new Row("another app carrying an edge daemon distribution", NOW, true,
                        seal(activate(11, "3.0.0", s -> s.setApps(0, s.getApps(0).toBuilder().setRelease(s.getApps(0).getRelease()
                                .toBuilder().clearImages().setAgent(agentRelease("3.0.0").getAgent()))))),
                        Reason.MALFORMED, "release web 3.0.0 carries an edge daemon distribution"),
                new Row("an edge daemon older than the one that runs, not a rollback", NOW, true,
                        seal(agentActivation(11, "0.0.9", r -> r)), Reason.DOWNGRADE,
                        "turnout-edge 0.0.9 is older than running 0.1.0"),
                new Row("downgrade without signed rollback", NOW, true, seal(activate(11, "1.10.0")), Reason.DOWNGRADE,
                        "web 1.10.0 is older than running 2.0.0 and not marked as a rollback"),
                new Row("a rotated key whose id does not match", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setKeyRotation(KeyRotation.newBuilder().addKeys(TrustedKey.newBuilder()
                                .setKeyId(STRANGER.keyId()).setPublicKey(ByteString.copyFrom(NEXT.publicKey().raw()))))),
                        Reason.MALFORMED, "key rotation: key id " + STRANGER.keyId() + " does not match its key"),
                new Row("a rotated key that is not a key", NOW, true,
                        seal(activate(11, "3.0.0"), s -> s.setKeyRotation(KeyRotation.newBuilder().addKeys(TrustedKey.newBuilder()
                                .setPublicKey(ByteString.copyFrom(new byte[] {1, 2, 3}))))),
                        Reason.MALFORMED, "key rotation: ")
        );
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusals")
    void refusedWithItsReasonAndMessage(Row row) {
        TrustRules.Verdict verdict = rules.judge(row.wire(), AFTER_TEN, row.wallClockMs(), row.synced(), RUNNING::get);

        assertThat(verdict).isInstanceOf(TrustRules.Refused.class);
        TrustRules.Refused refused = (TrustRules.Refused) verdict;
        assertThat(refused.reason()).isEqualTo(row.reason());
        assertThat(refused.message()).startsWith(row.message());
    }

    /** A row: the device's clock, the message's issue time, the time floor the device keeps after accepting it. */
    record FloorRow(String rule, long wallClockMs, boolean synced, long issuedAtMs, long floorAfter) {
        @Override
        public String toString() {
            return rule;
        }
    }

    static Stream<FloorRow> floors() {
        return Stream.of(
                new FloorRow("a synced clock ahead of the message moves the floor to the clock", NOW + 10, true, NOW + 5, NOW + 10),
                new FloorRow("a message issued ahead of the clock moves the floor to its issue time", NOW + 5, true, NOW + 10, NOW + 10),
                new FloorRow("an unsynced clock never moves the floor", NOW + 10, false, NOW + 5, NOW + 5),
                new FloorRow("an older issue time keeps the floor", 0, false, NOW - 5, NOW)
        );
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("floors")
    void acceptedMovesTheSequenceAndTheTimeFloor(FloorRow row) {
        DesiredState state = times(activate(11, "3.0.0"), row.issuedAtMs(), NOW + HOUR);
        TrustRules.Verdict verdict = rules.judge(seal(state), AFTER_TEN, row.wallClockMs(), row.synced(), RUNNING::get);

        assertThat(verdict).isInstanceOf(TrustRules.Accepted.class);
        TrustRules.Accepted accepted = (TrustRules.Accepted) verdict;
        assertThat(accepted.state()).isEqualTo(state);
        assertThat(accepted.next().mark()).isEqualTo(new TrustMark(11, row.floorAfter()));
        assertThat(accepted.next().keys()).isSameAs(AFTER_TEN.keys());
        assertThat(accepted.rotatedKeys()).isEmpty();
    }

    @Test
    void theFirstDesiredStateIsAcceptedByADeviceThatTrustsOnlyItsKeys() {
        DeviceTrust fresh = DeviceTrust.of(List.of(KEY.publicKey()));
        TrustRules.Verdict verdict = rules.judge(seal(activate(1, "1.0.0")), fresh, NOW, true, app -> null);
        assertThat(verdict).isInstanceOf(TrustRules.Accepted.class);
        assertThat(((TrustRules.Accepted) verdict).next().mark()).isEqualTo(new TrustMark(1, NOW));
    }

    @Test
    void aDeviceThatAcceptedNothingRefusesADesiredStateWithoutSequence() {
        DeviceTrust fresh = DeviceTrust.of(List.of(KEY.publicKey()));
        assertThat(rules.judge(seal(activate(0, "1.0.0")), fresh, NOW, true, app -> null)).isEqualTo(
                new TrustRules.Refused(Reason.MALFORMED, "desired state has no sequence", activate(0, "1.0.0")));
    }

    @Test
    void theLastSequenceAgainIsARepeatAndChangesNothing() {
        DesiredState state = activate(10, "2.0.0");
        assertThat(rules.judge(seal(state), AFTER_TEN, NOW, true, RUNNING::get)).isEqualTo(new TrustRules.Repeated(state));
    }

    @Test
    void newerVersionsAndSignedRollbacksAreNotDowngrades() {
        assertThat(rules.judge(seal(activate(11, "2.10.0")), AFTER_TEN, NOW, true, RUNNING::get)).isInstanceOf(TrustRules.Accepted.class);
        DesiredState rollback = activate(11, "1.9.9", s -> s.setApps(0, s.getApps(0).toBuilder().setRollback(true)));
        assertThat(rules.judge(seal(rollback), AFTER_TEN, NOW, true, RUNNING::get)).isInstanceOf(TrustRules.Accepted.class);
        assertThat(rules.judge(seal(activate(11, "1.0.0")), AFTER_TEN, NOW, true, app -> "")).isInstanceOf(TrustRules.Accepted.class);
    }

    @Test
    void aRemoveEntryNamesTheAppOnlyAndIsNeitherADowngradeNorBelowAFloor() {
        DesiredState remove = activate(11, "3.0.0", s -> s.setApps(0, s.getApps(0).toBuilder().clearRelease().setPhase(Phase.REMOVE)
                .setMinVersion("9.0.0")));
        assertThat(rules.judge(seal(remove), AFTER_TEN, NOW, true, RUNNING::get)).isInstanceOf(TrustRules.Accepted.class);
    }

    @Test
    void aSignedRotationReplacesTheTrustedKeys() {
        DesiredState rotating = activate(11, "3.0.0", s -> s.setKeyRotation(KeyRotation.newBuilder().addKeys(TrustedKey.newBuilder()
                .setKeyId(NEXT.keyId()).setPublicKey(ByteString.copyFrom(NEXT.publicKey().raw())))));
        TrustRules.Verdict verdict = rules.judge(seal(rotating), AFTER_TEN, NOW, true, RUNNING::get);

        assertThat(verdict).isInstanceOf(TrustRules.Accepted.class);
        TrustRules.Accepted accepted = (TrustRules.Accepted) verdict;
        assertThat(accepted.rotatedKeys()).containsExactly(NEXT.publicKey());
        DeviceTrust next = accepted.next();
        assertThat(rules.judge(seal(activate(12, "3.0.0")), next, NOW, true, RUNNING::get))
                .isInstanceOfSatisfying(TrustRules.Refused.class, r -> assertThat(r.reason()).isEqualTo(Reason.UNKNOWN_KEY));
        byte[] byTheNextKey = NEXT.seal(activate(12, "3.0.0")).toByteArray();
        assertThat(rules.judge(byTheNextKey, next, NOW, true, RUNNING::get)).isInstanceOf(TrustRules.Accepted.class);
    }

    /**
     * A rollback-floor row: the floor the device keeps for web (null: none), the message's version, whether it is a
     * signed rollback, the floor it carries (empty: none), and then the refusal (null: accepted) or the floor kept after.
     */
    record VersionFloorRow(String rule, String keptFloor, String version, boolean rollback, String carried, Reason refused,
                           String floorAfter) {
        @Override
        public String toString() {
            return rule;
        }
    }

    static Stream<VersionFloorRow> versionFloors() {
        return Stream.of(
                new VersionFloorRow("no floor anywhere behaves as before", null, "1.9.9", true, "", null, null),
                new VersionFloorRow("a signed rollback below the kept floor", "2.0.0", "1.9.9", true, "", Reason.BELOW_FLOOR, null),
                new VersionFloorRow("a signed rollback below the floor it carries", null, "1.9.9", true, "2.0.0", Reason.BELOW_FLOOR, null),
                new VersionFloorRow("a downgrade below the floor says BELOW_FLOOR, not DOWNGRADE", "2.0.0", "1.0.0", false, "",
                        Reason.BELOW_FLOOR, null),
                new VersionFloorRow("a rollback to the floor itself", "1.5.0", "1.5.0", true, "1.5.0", null, "1.5.0"),
                new VersionFloorRow("an upgrade above the floor", "2.0.0", "3.0.0", false, "2.0.0", null, "2.0.0"),
                new VersionFloorRow("a carried floor is kept", null, "3.0.0", false, "2.0.0", null, "2.0.0"),
                new VersionFloorRow("a higher carried floor raises the kept one", "1.0.0", "3.0.0", false, "2.5.0", null, "2.5.0"),
                new VersionFloorRow("a lower carried floor does not lower the kept one", "2.5.0", "3.0.0", false, "1.0.0", null, "2.5.0"),
                new VersionFloorRow("no carried floor keeps the kept one", "2.5.0", "3.0.0", false, "", null, "2.5.0"),
                new VersionFloorRow("a lower carried floor cannot let a rollback below the kept one", "2.0.0", "1.5.0", true, "1.0.0",
                        Reason.BELOW_FLOOR, null),
                new VersionFloorRow("a pre-release of the floor is below it", "2.0.0", "2.0.0-rc.1", true, "", Reason.BELOW_FLOOR, null),
                new VersionFloorRow("restating the running version below the floor is no move: accepted, and the floor kept",
                        null, "2.0.0", false, "2.5.0", null, "2.5.0"),
                new VersionFloorRow("below the floor and below the running version", "2.5.0", "1.0.0", false, "", Reason.BELOW_FLOOR, null)
        );
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("versionFloors")
    void theRollbackFloorOnlyRisesAndRefusesWhatIsBelowIt(VersionFloorRow row) {
        Map<String, String> kept = row.keptFloor() == null ? Map.of() : Map.of("web", row.keptFloor());
        DeviceTrust trust = new DeviceTrust(AFTER_TEN.keys(), new TrustMark(10, NOW, kept));
        DesiredState state = activate(11, row.version(), s -> s.setApps(0, s.getApps(0).toBuilder().setRollback(row.rollback())
                .setMinVersion(row.carried())));

        TrustRules.Verdict verdict = rules.judge(seal(state), trust, NOW, true, RUNNING::get);

        if (row.refused() != null) {
            assertThat(verdict).isInstanceOfSatisfying(TrustRules.Refused.class, r -> {
                assertThat(r.reason()).isEqualTo(row.refused());
                assertThat(r.message()).startsWith("web " + row.version() + " is below the rollback floor ");
            });
        } else {
            assertThat(verdict).isInstanceOfSatisfying(TrustRules.Accepted.class, a -> assertThat(a.next().mark().versionFloor("web"))
                    .isEqualTo(row.floorAfter()));
        }
    }

    @Test
    void aReplayedOlderMessageCannotLowerTheFloor() {
        DeviceTrust trust = new DeviceTrust(AFTER_TEN.keys(), new TrustMark(10, NOW, Map.of("web", "2.0.0")));
        DesiredState older = activate(9, "1.0.0", s -> s.setApps(0, s.getApps(0).toBuilder().setRollback(true).setMinVersion("1.0.0")));
        assertThat(rules.judge(seal(older), trust, NOW, true, RUNNING::get))
                .isInstanceOfSatisfying(TrustRules.Refused.class, r -> assertThat(r.reason()).isEqualTo(Reason.REPLAY));
        DesiredState repeated = activate(10, "1.0.0", s -> s.setApps(0, s.getApps(0).toBuilder().setRollback(true)));
        assertThat(rules.judge(seal(repeated), trust, NOW, true, RUNNING::get))
                .isInstanceOfSatisfying(TrustRules.Refused.class, r -> assertThat(r.reason()).isEqualTo(Reason.BELOW_FLOOR));
    }

    private static DesiredState activate(long sequence, String version) {
        return DesiredState.newBuilder().setDeviceId("pi-1").setSequence(sequence).setIssuedAtMs(NOW).setExpiresAtMs(NOW + HOUR)
                .addApps(AppDesired.newBuilder().setApp("web").setRelease(release(version, "linux/arm64")).setPhase(Phase.ACTIVATE)
                        .setRolloutId("r-1"))
                .build();
    }

    private static DesiredState activate(long sequence, String version, UnaryOperator<DesiredState.Builder> change) {
        return change.apply(activate(sequence, version).toBuilder()).build();
    }

    private static DesiredState times(DesiredState state, long issuedAtMs, long expiresAtMs) {
        return state.toBuilder().setIssuedAtMs(issuedAtMs).setExpiresAtMs(expiresAtMs).build();
    }

    /** An edge daemon release (the reserved app turnout-edge): its distribution, nothing else. */
    private static Release agentRelease(String version) {
        String digest = "sha256:" + "ab".repeat(32);
        return Release.newBuilder().setApp("turnout-edge").setVersion(version).setAgent(dev.turnout.proto.AgentArtifact.newBuilder()
                .setDigest(digest).setSize(10_000_000).setUrl("/api/v1/artifacts/" + digest)).build();
    }

    private static DesiredState agentActivation(long sequence, String version, UnaryOperator<Release.Builder> change) {
        return DesiredState.newBuilder().setDeviceId("pi-1").setSequence(sequence).setIssuedAtMs(NOW).setExpiresAtMs(NOW + HOUR)
                .addApps(AppDesired.newBuilder().setApp("turnout-edge").setRelease(change.apply(agentRelease(version).toBuilder()))
                        .setPhase(Phase.ACTIVATE).setRolloutId("r-2"))
                .build();
    }

    @Test
    void anEdgeDaemonReleaseNeedsNoImageForThePlatformAndIsJudgedLikeAnyVersion() {
        assertThat(rules.judge(seal(agentActivation(11, "0.2.0", r -> r)), AFTER_TEN, NOW, true, RUNNING::get))
                .isInstanceOf(TrustRules.Accepted.class);
        DesiredState rollback = agentActivation(11, "0.0.9", r -> r);
        rollback = rollback.toBuilder().setApps(0, rollback.getApps(0).toBuilder().setRollback(true)).build();
        assertThat(rules.judge(seal(rollback), AFTER_TEN, NOW, true, RUNNING::get)).isInstanceOf(TrustRules.Accepted.class);
        DesiredState removal = agentActivation(11, "0.2.0", r -> r);
        removal = removal.toBuilder().setApps(0, removal.getApps(0).toBuilder().clearRelease().setPhase(Phase.REMOVE)).build();
        assertThat(rules.judge(seal(removal), AFTER_TEN, NOW, true, RUNNING::get)).isInstanceOf(TrustRules.Accepted.class);
    }

    private static Release release(String version, String platform) {
        return Release.newBuilder().setApp("web").setVersion(version)
                .addImages(ImageArtifact.newBuilder().setPlatform(platform).setImageRef("demo/web:" + version)).build();
    }

    private static byte[] seal(DesiredState state) {
        return KEY.seal(state).toByteArray();
    }

    private static byte[] seal(DesiredState state, UnaryOperator<DesiredState.Builder> change) {
        return seal(change.apply(state.toBuilder()).build());
    }

    private static byte[] sealRaw(byte[] payload) {
        return SignedEnvelope.newBuilder().setKeyId(KEY.keyId()).setPayload(ByteString.copyFrom(payload))
                .setSignature(ByteString.copyFrom(KEY.sign(payload))).build().toByteArray();
    }

    private static byte[] flipSignature(SignedEnvelope envelope) {
        byte[] signature = envelope.getSignature().toByteArray();
        signature[0] ^= 1;
        return envelope.toBuilder().setSignature(ByteString.copyFrom(signature)).build().toByteArray();
    }
}
