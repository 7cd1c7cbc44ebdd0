package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.port.HostBoot;
import dev.turnout.edge.port.StateStore;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Release;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;

import java.util.List;
import java.util.function.LongSupplier;

/** Desired states for unit tests. */
final class Fixtures {

    static final String DEVICE = "pi-1";
    static final String PLATFORM = "linux/arm64";
    static final long NOW = 1_800_000_000_000L;

    private Fixtures() {
    }

    static Release release(String version) {
        String hex = String.format("%064x", version.hashCode() & 0xffffffffL);
        return Release.newBuilder().setApp("web").setVersion(version)
                .addImages(ImageArtifact.newBuilder().setPlatform(PLATFORM).setImageRef("demo/web:" + version)
                        .setArchiveDigest("sha256:" + hex).setSize(100).setUrl("/api/v1/artifacts/sha256:" + hex).setImageId("sha256:id-" + version)
                        .setManifestDigest("sha256:manifest-" + version).addDiffIds("sha256:layer-" + version))
                .setContainer(ContainerSpec.newBuilder().setNetwork("none"))
                .setHealth(HealthCheck.newBuilder().addExec("true"))
                .build();
    }

    /** The verifier an engine test needs: this fixture's device and platform, {@code key} trusted, the wall clock at NOW. */
    static DesiredStateVerifier verifier(StateStore store, SigningKey key) {
        return new DesiredStateVerifier(DEVICE, PLATFORM, new EnvelopeVerifier(List.of(key.publicKey())), store,
                () -> NOW, app -> store.loadApp(app).map(AppRecord::runningVersion).orElse(""));
    }

    /** A host on boot {@code bootId} whose boot-wide monotonic clock reads {@code nanos}. */
    static HostBoot boot(String bootId, LongSupplier nanos) {
        return new HostBoot() {
            @Override
            public String bootId() {
                return bootId;
            }

            @Override
            public long nanoTime() {
                return nanos.getAsLong();
            }
        };
    }

    /** The version a fixture archive stands for (its image ref's tag): the tests keep it as {@code VERSION.tar}. */
    static String version(ImageArtifact artifact) {
        return artifact.getImageRef().substring(artifact.getImageRef().indexOf(':') + 1);
    }

    static DesiredState desired(long sequence, String version, Phase phase, boolean rollback) {
        return DesiredState.newBuilder().setDeviceId(DEVICE).setSequence(sequence).setIssuedAtMs(NOW).setExpiresAtMs(NOW + 3_600_000)
                .addApps(AppDesired.newBuilder().setApp("web").setRelease(release(version)).setPhase(phase).setRollback(rollback).setRolloutId("r-1"))
                .build();
    }

    static DesiredState activate(long sequence, String version) {
        return desired(sequence, version, Phase.ACTIVATE, false);
    }

    /** An activation by another rollout (an operator deploying the same version again). */
    static DesiredState activate(long sequence, String version, String rolloutId) {
        DesiredState state = activate(sequence, version);
        return state.toBuilder().setApps(0, state.getApps(0).toBuilder().setRolloutId(rolloutId)).build();
    }
}
