package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.engine.DownloadBoard;
import dev.turnout.proto.transfer.ByteRate;
import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseCompose;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.Threshold;
import dev.turnout.orchestrator.store.DesiredRecord;
import dev.turnout.proto.compose.ComposeFile;
import dev.turnout.proto.compose.ComposeReader;
import dev.turnout.proto.compose.InvalidComposeException;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** The JSON shapes of docs/api.md, built from domain objects. */
final class JsonViews {

    private static final DateTimeFormatter TIMESTAMP =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);

    private JsonViews() {
    }

    static String timestamp(Instant t) {
        return t == null ? null : TIMESTAMP.format(t);
    }

    static Map<String, Object> device(Device d, List<DeviceApp> reported, DesiredRecord desired) {
        return device(d, reported, desired, null, null);
    }

    /** As {@link #device(Device, List, DesiredRecord)}, with each app's running download from {@code downloads} (null: none). */
    static Map<String, Object> device(Device d, List<DeviceApp> reported, DesiredRecord desired, DownloadBoard downloads,
                                      java.time.Instant now) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("id", d.id());
        v.put("labels", new TreeMap<>(d.labels()));
        v.put("groups", d.groups());
        v.put("online", d.online());
        v.put("lastSeen", timestamp(d.lastSeen()));
        v.put("platform", d.platform());
        v.put("agentVersion", d.agentVersion());
        Map<String, Map<String, Object>> apps = new TreeMap<>();
        for (DeviceApp a : reported) {
            Map<String, Object> app = new LinkedHashMap<>();
            app.put("app", a.app());
            app.put("runningVersion", a.runningVersion());
            app.put("desiredVersion", null);
            app.put("phase", null);
            app.put("state", a.state());
            app.put("reason", a.reason());
            app.put("message", a.message());
            app.put("fetchNote", a.fetchNote());
            app.put("updatedAt", timestamp(a.updatedAt()));
            app.put("logTail", a.logTail());
            apps.put(a.app(), app);
        }
        if (desired != null) {
            for (DesiredApp a : desired.apps()) {
                Map<String, Object> app = apps.computeIfAbsent(a.app(), name -> {
                    Map<String, Object> empty = new LinkedHashMap<>();
                    empty.put("app", name);
                    empty.put("runningVersion", null);
                    empty.put("desiredVersion", null);
                    empty.put("phase", null);
                    empty.put("state", null);
                    empty.put("reason", null);
                    empty.put("message", null);
                    empty.put("fetchNote", null);
                    empty.put("updatedAt", null);
                    empty.put("logTail", null);
                    return empty;
                });
                app.put("desiredVersion", a.version());
                app.put("phase", a.phase().name());
            }
        }
        for (Map<String, Object> app : apps.values()) {
            app.put("download", downloads == null || !"DOWNLOADING".equals(app.get("state")) ? null
                    : downloads.progress(d.id(), (String) app.get("app"), now).map(JsonViews::download).orElse(null));
        }
        v.put("apps", new ArrayList<>(apps.values()));
        return v;
    }

    static Map<String, Object> artifact(Artifact a) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("digest", a.digest());
        v.put("size", a.size());
        v.put("platform", a.platform());
        v.put("imageId", a.imageId());
        v.put("manifestDigest", a.manifestDigest());
        v.put("layers", a.diffIds());
        v.put("imageRef", a.imageRef());
        return v;
    }

    /**
     * What an upload stored: one artifact per platform the archive holds, under {@code images}; an archive of one
     * platform also answers with that artifact's fields at the top, as before multi-platform archives.
     */
    static Map<String, Object> upload(List<Artifact> artifacts) {
        Map<String, Object> v = artifacts.size() == 1 ? artifact(artifacts.get(0)) : new LinkedHashMap<>();
        v.put("images", artifacts.stream().map(JsonViews::artifact).toList());
        return v;
    }

    static Map<String, Object> release(Release r) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("app", r.app());
        v.put("version", r.version());
        v.put("createdAt", timestamp(r.createdAt()));
        List<Map<String, Object>> images = new ArrayList<>();
        if (r.isAgent()) { // the edge daemon's distribution: no image
            Map<String, Object> agent = new LinkedHashMap<>();
            agent.put("digest", r.agent().digest());
            agent.put("size", r.agent().size());
            v.put("agent", agent);
        }
        for (ReleaseImage i : r.isAgent() ? List.<ReleaseImage>of() : r.images()) {
            Map<String, Object> image = new LinkedHashMap<>();
            image.put("platform", i.platform());
            image.put("digest", i.digest());
            image.put("size", i.size());
            image.put("imageId", i.imageId());
            image.put("manifestDigest", i.manifestDigest());
            image.put("layers", i.diffIds());
            image.put("imageRef", i.imageRef());
            images.add(image);
        }
        v.put("images", images);
        v.put("spec", r.spec());
        if (r.compose() != null) {
            v.put("compose", compose(r.compose()));
        }
        return v;
    }

    /** A Compose release's file, and its services as the file declares them (variables left to the device unresolved). */
    private static Map<String, Object> compose(ReleaseCompose c) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("file", c.file());
        v.put("content", c.content());
        v.put("envFiles", c.envFiles().keySet());
        v.put("variables", c.variables());
        List<Map<String, Object>> services = new ArrayList<>();
        try {
            ComposeFile app = ComposeReader.check(c.file(), c.content(), c.variables(), c.envFiles());
            for (String name : app.startOrder()) {
                ComposeFile.Service s = app.services().get(name);
                Map<String, Object> service = new LinkedHashMap<>();
                service.put("name", name);
                service.put("image", s.image());
                Map<String, String> dependsOn = new LinkedHashMap<>();
                s.dependsOn().forEach((dependency, condition) -> dependsOn.put(dependency, condition.composeName()));
                service.put("dependsOn", dependsOn);
                service.put("ports", s.ports().stream().filter(java.util.Objects::nonNull).toList());
                service.put("healthcheck", s.healthcheck() != null && !s.healthcheck().disabled());
                services.add(service);
            }
        } catch (InvalidComposeException e) {
            v.put("error", e.getMessage()); // checked when the release was made; only a change of rules lands here
        }
        v.put("services", services);
        return v;
    }

    static Map<String, Object> rollout(Rollout r, Set<String> offline) {
        return rollout(r, offline, null, null);
    }

    /** As {@link #rollout(Rollout, Set)}, with each device's running download from {@code downloads} (null: none shown). */
    static Map<String, Object> rollout(Rollout r, Set<String> offline, DownloadBoard downloads, java.time.Instant now) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("id", r.id());
        v.put("app", r.app());
        v.put("version", r.version());
        v.put("target", r.target());
        v.put("state", r.state().name());
        v.put("terminal", r.state().isTerminal());
        v.put("reason", r.reason());
        v.put("createdAt", timestamp(r.createdAt()));
        v.put("updatedAt", timestamp(r.updatedAt()));
        v.put("strategy", strategy(r.strategy()));
        v.put("currentWave", r.currentWave());
        List<Map<String, Object>> waves = new ArrayList<>();
        for (int n = 1; n <= r.waveCount(); n++) {
            List<RolloutDevice> members = r.wave(n);
            Map<String, Object> wave = new LinkedHashMap<>();
            wave.put("number", n);
            wave.put("state", r.waveState(n).name());
            wave.put("devices", members.stream().map(RolloutDevice::deviceId).toList());
            Map<String, Object> counts = new LinkedHashMap<>();
            counts.put("pending", count(members, RolloutDeviceState.PENDING));
            counts.put("staged", count(members, RolloutDeviceState.STAGED));
            counts.put("activating", count(members, RolloutDeviceState.ACTIVATING));
            counts.put("active", count(members, RolloutDeviceState.ACTIVE));
            counts.put("failed", count(members, RolloutDeviceState.FAILED));
            counts.put("rollingBack", count(members, RolloutDeviceState.ROLLING_BACK));
            counts.put("rolledBack", count(members, RolloutDeviceState.ROLLED_BACK));
            counts.put("cancelled", count(members, RolloutDeviceState.CANCELLED));
            counts.put("skipped", count(members, RolloutDeviceState.SKIPPED));
            counts.put("offline", members.stream().filter(d -> offline.contains(d.deviceId())).count());
            wave.put("counts", counts);
            waves.add(wave);
        }
        v.put("waves", waves);
        List<Map<String, Object>> devices = new ArrayList<>();
        for (RolloutDevice d : r.devices()) {
            Map<String, Object> device = new LinkedHashMap<>();
            device.put("id", d.deviceId());
            device.put("wave", d.wave());
            device.put("state", d.state().name());
            boolean back = d.state() == RolloutDeviceState.ROLLING_BACK || d.state() == RolloutDeviceState.ROLLED_BACK
                    || d.state() == RolloutDeviceState.CANCELLED;
            device.put("version", d.state() == RolloutDeviceState.SKIPPED ? null
                    : back && d.previous() != null ? d.previous().version() : back ? null : r.version());
            device.put("reason", d.reason());
            device.put("message", d.message());
            device.put("bytesMoved", d.bytesMoved());
            device.put("bytesFull", d.bytesFull());
            device.put("download", downloads == null ? null
                    : downloads.progress(d.deviceId(), r.app(), now).filter(p -> p.version().equals(r.version()))
                        .map(JsonViews::download).orElse(null));
            devices.add(device);
        }
        v.put("devices", devices);
        Map<String, Object> bytes = new LinkedHashMap<>();
        bytes.put("moved", r.bytesMoved());
        bytes.put("full", r.bytesFull());
        v.put("bytes", bytes);
        return v;
    }

    /** A running download as the API shows it. */
    static Map<String, Object> download(DownloadBoard.Progress p) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("version", p.version());
        v.put("bytesDone", p.bytesDone());
        v.put("bytesTotal", p.bytesTotal());
        v.put("bytesPerSecond", p.bytesPerSecond());
        v.put("bytesMoved", p.bytesMoved());
        v.put("at", timestamp(p.at()));
        return v;
    }

    private static Map<String, Object> strategy(RolloutStrategy s) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("waves", s.waves().stream().map(Threshold::toString).toList());
        v.put("soak", Durations.format(s.soak()));
        v.put("maxFailures", s.maxFailures().toString());
        v.put("onFailure", s.onFailure().wireName());
        v.put("deviceTimeout", Durations.format(s.deviceTimeout()));
        v.put("approveEachWave", s.approveEachWave());
        v.put("offlineCountsAsFailure", s.offlineCountsAsFailure());
        v.put("static", s.staticTarget());
        v.put("rollback", s.rollback());
        v.put("emergency", s.emergency());
        v.put("force", s.force());
        v.put("lockTimeout", s.lockTimeout() == null ? null : Durations.format(s.lockTimeout()));
        v.put("rateLimit", s.downloadRateLimit() == 0 ? null : ByteRate.format(s.downloadRateLimit()));
        v.put("rateLimitBytesPerSecond", s.downloadRateLimit());
        return v;
    }

    private static long count(List<RolloutDevice> devices, RolloutDeviceState state) {
        return devices.stream().filter(d -> d.state() == state).count();
    }
}
