package dev.turnout.orchestrator.engine;

import com.google.protobuf.ByteString;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.orchestrator.port.FleetTransport;
import dev.turnout.orchestrator.store.DesiredRecord;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.AgentArtifact;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.BundleManifest;
import dev.turnout.proto.ComposeApp;
import dev.turnout.proto.SignedEnvelope;
import dev.turnout.proto.ContainerSpec;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.HealthCheck;
import dev.turnout.proto.Blob;
import dev.turnout.proto.ImageArtifact;
import dev.turnout.proto.LogConfig;
import dev.turnout.proto.ResourceLimits;
import dev.turnout.proto.Phase;
import dev.turnout.proto.KeyRotation;
import dev.turnout.proto.TrustedKey;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.proto.crypto.SigningKey;
import com.google.protobuf.ByteString;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Decides, signs and persists the desired state of each device. The sequence of a device only grows:
 * {@code max(last + 1, now in epoch millis)}, so a wiped store never goes backwards. A decision is
 * persisted ({@link #commit}) before it is published: the engine's decisions go out through its
 * outbox after the store commits; {@link #publish} serves republishing (at start, re-signed states).
 */
public final class DesiredStates {

    /** How long a signed desired state stays valid. */
    public static final Duration VALIDITY = Duration.ofDays(7);

    private final FleetStore store;
    /** The key that signs now (it changes at {@code turnout key activate}). */
    private final Supplier<SigningKey> signingKey;
    /** The keys devices are told to trust with every desired state; empty: no rotation yet, none sent. */
    private final Supplier<List<PublicKey>> rotation;
    private final FleetTransport transport;
    private final Clock clock;
    /** Enrolled devices, for the reconnect window signed into each state (ReconnectPolicy); none known: 0. */
    private volatile java.util.function.LongSupplier fleetSize = () -> 0;

    /** app:version -> its wire form; the most recently used releases (a device's desired state names a few). */
    private final java.util.Map<String, dev.turnout.proto.Release> releases = new java.util.LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<String, dev.turnout.proto.Release> eldest) {
            return size() > 256;
        }
    };

    public DesiredStates(FleetStore store, SigningKey signingKey, FleetTransport transport, Clock clock) {
        this(store, () -> signingKey, List::of, transport, clock);
    }

    /** With the orchestrator's {@link dev.turnout.orchestrator.security.Keyring}: its active key and trusted set. */
    public DesiredStates(FleetStore store, Supplier<SigningKey> signingKey, Supplier<List<PublicKey>> rotation,
                         FleetTransport transport, Clock clock) {
        this.store = store;
        this.signingKey = signingKey;
        this.rotation = rotation;
        this.transport = transport;
        this.clock = clock;
    }

    /**
     * Sizes the reconnect window of every state signed from now on to {@code devices} (a cheap, cached count): a
     * fleet of ten thousand spreads its reconnects after a broker restart over 20 s instead of arriving at once.
     */
    public DesiredStates sizeReconnectWindowBy(java.util.function.LongSupplier devices) {
        this.fleetSize = devices;
        return this;
    }

    /** The rollback floor of {@code app} (signed into each of its entries), or null. */
    public String floor(String app) {
        return store.findFloor(app).orElse(null);
    }

    /** The current desired entry of {@code app} on a device, or null. */
    public DesiredApp current(String deviceId, String app) {
        return store.findDesired(deviceId).map(d -> d.app(app)).orElse(null);
    }

    /** A persisted decision: the sequence and the exact signed bytes to publish. */
    public record Decision(String deviceId, long sequence, byte[] envelope) {
    }

    /**
     * Sets (or with {@code entry == null} removes) one app of a device's desired state, signs it
     * with a new sequence and persists it. Does not publish: see {@link #publish(Decision)}.
     */
    public Decision commit(String deviceId, String app, DesiredApp entry) {
        return commit(deviceId, app, entry, store.findDesired(deviceId).orElse(null));
    }

    private Decision commit(String deviceId, String app, DesiredApp entry, DesiredRecord last) {
        List<DesiredApp> apps = new ArrayList<>();
        if (last != null) {
            last.apps().stream().filter(a -> !a.app().equals(app)).forEach(apps::add);
        }
        if (entry != null) {
            apps.add(entry);
        }
        return sign(deviceId, last, apps);
    }

    /**
     * Like {@link #commit}, unless the stored desired state of the device already has exactly
     * {@code entry} for its app: then that stored decision (same sequence, same signed bytes) is
     * returned and nothing is signed or stored. A rollout taken over from a stopped orchestrator
     * thus never activates a device a second time with a new sequence.
     */
    public Decision commitOnce(String deviceId, String app, DesiredApp entry) {
        DesiredRecord last = store.findDesired(deviceId).orElse(null);
        if (last != null && entry != null && entry.equals(last.app(app))) {
            return new Decision(deviceId, last.sequence(), last.envelope());
        }
        return commit(deviceId, app, entry, last); // one read of the stored state, as for commit()
    }

    /** The stored desired state of a device as a decision to publish again (same bytes: devices ignore it), if it has one. */
    public java.util.Optional<Decision> stored(String deviceId) {
        return store.findDesired(deviceId).map(d -> new Decision(deviceId, d.sequence(), d.envelope()));
    }

    /**
     * Re-signs, with a new sequence and the same apps, every desired state issued longer than
     * {@code age} ago, so that devices never see it expire. Returns the decisions to publish.
     */
    public List<Decision> refreshOlderThan(Duration age) {
        Instant limit = clock.instant().minus(age);
        List<Decision> refreshed = new ArrayList<>();
        for (String deviceId : store.devicesWithDesired()) {
            DesiredRecord last = store.findDesired(deviceId).orElse(null);
            if (last != null && last.issuedAt().isBefore(limit)) {
                try {
                    refreshed.add(sign(deviceId, last, new ArrayList<>(last.apps())));
                } catch (dev.turnout.orchestrator.domain.ConflictException newer) {
                    // another orchestrator decided for this device meanwhile: its state is fresh
                }
            }
        }
        return refreshed;
    }

    private Decision sign(String deviceId, DesiredRecord last, List<DesiredApp> apps) {
        apps.sort((a, b) -> a.app().compareTo(b.app()));
        Instant now = clock.instant();
        long sequence = Math.max(last == null ? 1 : last.sequence() + 1, now.toEpochMilli());
        DesiredState.Builder state = DesiredState.newBuilder()
                .setDeviceId(deviceId)
                .setSequence(sequence)
                .setIssuedAtMs(now.toEpochMilli())
                .setExpiresAtMs(now.plus(VALIDITY).toEpochMilli());
        for (DesiredApp a : apps) {
            state.addApps(wire(a));
        }
        long window = dev.turnout.proto.ReconnectPolicy.windowFor(fleetSize.getAsLong(),
                dev.turnout.proto.ReconnectPolicy.DEFAULT_CONNECTS_PER_SECOND).toMillis();
        if (window > 0) {
            state.setReconnectWindowMs(window);
        }
        List<PublicKey> trusted = rotation.get();
        if (!trusted.isEmpty()) {
            KeyRotation.Builder keys = KeyRotation.newBuilder();
            trusted.forEach(k -> keys.addKeys(TrustedKey.newBuilder().setKeyId(k.keyId()).setPublicKey(ByteString.copyFrom(k.raw()))));
            state.setKeyRotation(keys);
        }
        byte[] envelope = signingKey.get().seal(state.build()).toByteArray();
        store.saveDesired(deviceId, new DesiredRecord(sequence, now, apps, envelope));
        return new Decision(deviceId, sequence, envelope);
    }

    /**
     * Re-signs every stored desired state now, with a new sequence and the same apps, and gives each
     * {@code enrolled} device without one a desired state with no app: after a change of the signing
     * keys, so that every device hears of it. Returns the decisions to publish.
     */
    public List<Decision> resignAll(List<String> enrolled) {
        List<Decision> decisions = refreshOlderThan(Duration.ofMillis(-1));
        java.util.Set<String> done = new java.util.HashSet<>(store.devicesWithDesired());
        for (String deviceId : enrolled) {
            if (!done.contains(deviceId)) { // never deployed to: a state with no app carries the keys
                decisions.add(sign(deviceId, null, new ArrayList<>()));
            }
        }
        return decisions;
    }

    /** Publishes a decision made by {@link #commit}. */
    public void publish(Decision decision) {
        transport.publishDesired(decision.deviceId(), decision.envelope());
    }

    /** Publishes a decision no wave waits on (re-signed, published again) behind the ones that decide. */
    public void publishInBackground(Decision decision) {
        transport.publishDesiredInBackground(decision.deviceId(), decision.envelope());
    }

    /** Publishes the persisted desired state of a device (idempotent: same bytes, same sequence). */
    public void publish(String deviceId) {
        store.findDesired(deviceId).ifPresent(d -> transport.publishDesired(deviceId, d.envelope()));
    }

    /**
     * Publishes every persisted desired state again, e.g. after a restart, behind what a resumed rollout decides
     * meanwhile (the transport keeps only a device's newest state).
     */
    public int republishAll() {
        List<String> ids = store.devicesWithDesired();
        ids.forEach(id -> stored(id).ifPresent(this::publishInBackground));
        return ids.size();
    }

    private AppDesired wire(DesiredApp a) {
        if (a.removes()) { // the app's name alone: nothing to fetch, no floor to check; the update lock as for an update
            return AppDesired.newBuilder().setApp(a.app()).setPhase(Phase.REMOVE).setForce(a.force())
                    .setLockTimeoutMs(a.lockTimeoutMs()).build();
        }
        return AppDesired.newBuilder()
                .setApp(a.app())
                .setRelease(wireRelease(a.app(), a.version()))
                .setPhase(a.phase() == dev.turnout.orchestrator.domain.Phase.ACTIVATE ? Phase.ACTIVATE : Phase.STAGE)
                .setRollback(a.rollback())
                .setRolloutId(a.rolloutId())
                .setMinVersion(store.findFloor(a.app()).orElse(""))
                .setForce(a.force())
                .setLockTimeoutMs(a.lockTimeoutMs())
                .setDownloadRateLimitBps(a.downloadRateLimitBps())
                .build();
    }

    /**
     * The wire form of a release, read from the store once: releases never change once created, and
     * a rollout signs two desired states per device that all carry the same one.
     */
    private dev.turnout.proto.Release wireRelease(String app, String version) {
        String key = app + ":" + version;
        synchronized (releases) {
            dev.turnout.proto.Release cached = releases.get(key);
            if (cached != null) {
                return cached;
            }
        }
        Release release = store.findRelease(app, version)
                .orElseThrow(() -> new IllegalStateException("release " + app + ":" + version + " is gone"));
        dev.turnout.proto.Release wired = wire(release);
        synchronized (releases) {
            releases.put(key, wired);
        }
        return wired;
    }

    /**
     * The signed manifest of an offline bundle of {@code release} ({@code turnout bundle export}):
     * a device imports its archives only if this verifies with its trusted keys.
     */
    public SignedEnvelope bundleManifest(Release release, String againstVersion) {
        return signingKey.get().seal(BundleManifest.newBuilder().setApp(release.app()).setRelease(wire(release))
                .setCreatedAtMs(clock.millis()).setAgainstVersion(againstVersion == null ? "" : againstVersion).build());
    }

    static dev.turnout.proto.Release wire(Release r) {
        dev.turnout.proto.Release.Builder b = dev.turnout.proto.Release.newBuilder().setApp(r.app()).setVersion(r.version());
        if (r.isAgent()) { // the edge daemon's distribution, signed like an image archive; nothing else (TrustRules)
            ReleaseImage d = r.agent();
            return b.setAgent(AgentArtifact.newBuilder().setDigest(d.digest()).setSize(d.size())
                    .setUrl("/api/v1/artifacts/" + d.digest())).build();
        }
        for (ReleaseImage i : r.images()) {
            b.addImages(ImageArtifact.newBuilder()
                    .setPlatform(i.platform())
                    .setImageRef(i.imageRef() == null ? "" : i.imageRef())
                    .setArchiveDigest(i.digest())
                    .setSize(i.size())
                    .setUrl("/api/v1/artifacts/" + i.digest())
                    .setImageId(i.imageId())
                    .setManifestDigest(i.manifestDigest() == null ? "" : i.manifestDigest())
                    .addAllDiffIds(i.diffIds())
                    .addAllBlobs(i.blobs().stream().map(blob -> Blob.newBuilder().setPath(blob.path()).setDigest(blob.digest())
                            .setSize(blob.size()).setDeltaBase(blob.deltaBase() == null ? "" : blob.deltaBase()).build()).toList()));
        }
        if (r.compose() != null) {
            ComposeApp.Builder compose = ComposeApp.newBuilder().setFileName(r.compose().file())
                    .setContent(ByteString.copyFromUtf8(r.compose().content()));
            r.compose().envFiles().forEach((name, content) -> compose.putEnvFiles(name, ByteString.copyFromUtf8(content)));
            compose.putAllVariables(r.compose().variables());
            b.setCompose(compose);
        }
        ReleaseSpec spec = r.spec();
        if (spec != null && spec.container() != null) {
            ReleaseSpec.Container c = spec.container();
            ContainerSpec.Builder cb = ContainerSpec.newBuilder();
            if (c.command() != null) {
                cb.addAllCommand(c.command());
            }
            if (c.env() != null) {
                cb.putAllEnv(c.env());
            }
            if (c.network() != null) {
                cb.setNetwork(c.network());
            }
            if (c.ports() != null) {
                cb.addAllPorts(c.ports());
            }
            if (c.volumes() != null) {
                cb.addAllVolumes(c.volumes());
            }
            if (c.devices() != null) {
                cb.addAllDevices(c.devices());
            }
            cb.setPrivileged(Boolean.TRUE.equals(c.privileged()));
            if (c.restart() != null) {
                cb.setRestart(c.restart());
            }
            if (c.user() != null) {
                cb.setUser(c.user());
            }
            if (c.capAdd() != null) {
                c.capAdd().forEach(name -> cb.addCapAdd(ReleaseSpec.capability(name)));
            }
            if (c.capDrop() != null) {
                c.capDrop().forEach(name -> cb.addCapDrop(ReleaseSpec.capability(name)));
            }
            cb.setMemoryBytes(c.memoryBytes()).setNanoCpus(c.nanoCpus());
            if (c.logging() != null) {
                // a key left out stays 0 or empty: the device fills in its own default
                ReleaseSpec.Logging l = c.logging();
                cb.setLog(LogConfig.newBuilder()
                        .setDriver(l.driver() == null ? "" : l.driver())
                        .setMaxSizeBytes(l.maxSizeBytes())
                        .setMaxFile(l.maxFile() == null ? 0 : l.maxFile()));
            }
            b.setContainer(cb);
        }
        if (spec != null && spec.health() != null) {
            ReleaseSpec.Health h = spec.health();
            HealthCheck.Builder hb = HealthCheck.newBuilder();
            if (h.exec() != null) {
                hb.addAllExec(h.exec());
            }
            if (h.http() != null) {
                hb.setHttp(h.http());
            }
            if (h.tcp() != null) {
                hb.setTcp(h.tcp());
            }
            hb.setDocker(Boolean.TRUE.equals(h.docker()));
            if (h.interval() != null) {
                hb.setIntervalMs(Durations.parse(h.interval(), "interval").toMillis());
            }
            if (h.timeout() != null) {
                hb.setTimeoutMs(Durations.parse(h.timeout(), "timeout").toMillis());
            }
            if (h.retries() != null) {
                hb.setRetries(h.retries());
            }
            if (h.soak() != null) {
                hb.setSoakMs(Durations.parse(h.soak(), "soak").toMillis());
            }
            b.setHealth(hb);
        }
        if (spec != null && spec.limits() != null) {
            ReleaseSpec.Limits l = spec.limits();
            ResourceLimits.Builder lb = ResourceLimits.newBuilder().setMemoryPercent(l.memoryPercent()).setDiskPercent(l.diskPercent());
            if (l.cpu() != null) {
                lb.setCpuPercent(l.cpu().percentValue()).setCpuForMs(l.cpu().forDuration().toMillis());
            }
            if (l.restarts() != null) {
                lb.setRestarts(l.restarts());
            }
            b.setLimits(lb);
        }
        return b.build();
    }
}
