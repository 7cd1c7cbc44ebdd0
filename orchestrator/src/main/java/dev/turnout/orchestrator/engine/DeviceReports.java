package dev.turnout.orchestrator.engine;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.port.DeviceRegistry;
import dev.turnout.orchestrator.port.RolloutStore;
import dev.turnout.orchestrator.store.AuditEntry;
import dev.turnout.proto.HealthReport;
import dev.turnout.proto.Presence;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.logs.LogTail;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Report ingestion: what the fleet says about itself before any rollout looks at it. Drops reports
 * whose payload names another device than their topic or that come from devices not enrolled,
 * records presence, "last seen" and each device's last report per app, writes the audit rows, and
 * knows which devices are offline (their rollout timeouts wait until they are back).
 */
final class DeviceReports {

    private static final Logger LOG = LoggerFactory.getLogger(RolloutEngine.class);
    /**
     * While a device stays online, reports write its "online, last seen now" at most this often (a
     * rollout brings seven reports per device within seconds); presence messages are always written.
     */
    static final Duration LAST_SEEN_EVERY = Duration.ofSeconds(5);

    private final DeviceRegistry devices;
    private final RolloutStore store;
    /** Told when a device that was offline is back: the time it has to report starts again. */
    private final BiConsumer<String, Instant> backOnline;
    /** Devices whose last presence said offline. */
    private final Set<String> offline = new HashSet<>();
    /** When each device's "online, last seen now" was last written because of a report. */
    private final Map<String, Instant> seenWritten = new HashMap<>();
    /** Enrolled device ids seen so far (devices are never deleted): the store is asked once per device. */
    private final Set<String> known = new HashSet<>();

    DeviceReports(DeviceRegistry devices, RolloutStore store, BiConsumer<String, Instant> backOnline) {
        this.devices = devices;
        this.store = store;
        this.backOnline = backOnline;
    }

    /** Starts from what the store says is offline. */
    void reset() {
        offline.clear();
        devices.listDevices().stream().filter(d -> !d.online()).forEach(d -> offline.add(d.id()));
    }

    boolean isOffline(String deviceId) {
        return offline.contains(deviceId);
    }

    /** Devices offline now (an upper bound for any group of them). */
    int offlineCount() {
        return offline.size();
    }

    /** A device is offline (a presence, a device just enrolled that has not spoken yet). */
    void wentOffline(String deviceId) {
        offline.add(deviceId);
    }

    /** A device spoke: true if it was offline (the caller decides what that restarts). */
    boolean markOnline(String deviceId) {
        return offline.remove(deviceId);
    }

    /** A device spoke: if it was offline, its rollouts' timeouts start again now. */
    void online(String deviceId, Instant now) {
        if (offline.remove(deviceId)) {
            backOnline.accept(deviceId, now);
        }
    }

    /**
     * Takes presence from the store ({@code inventory}): with several orchestrators, a device's presence
     * reaches one of them, which stores it; the others learn it here (and from forwarded reports).
     */
    void refresh(List<Device> inventory, Instant now) {
        Set<String> nowOffline = new HashSet<>();
        inventory.stream().filter(d -> !d.online()).forEach(d -> nowOffline.add(d.id()));
        for (String id : List.copyOf(offline)) {
            if (!nowOffline.contains(id)) {
                online(id, now);
            }
        }
        offline.addAll(nowOffline);
    }

    /** The audit action of a status report that arrived after a newer one of its app: recorded, not applied. */
    static final String LATE_STATUS = "device.status.late";

    /**
     * Records a status report; false when it is dropped: a payload naming another device, a device not
     * enrolled, or a report older (by the device's report number) than the one stored for its app, such
     * as a copy the broker replays after a restart. An older report is not judged either.
     */
    boolean status(String topicDeviceId, StatusEvent e, Instant now) {
        if (!e.getDeviceId().equals(topicDeviceId)) {
            LOG.warn("dropped a status for device '{}' published on the topic of device '{}'", e.getDeviceId(), topicDeviceId);
            return false;
        }
        if (!enrolled(topicDeviceId)) {
            LOG.info("ignored a status from unknown device {}", topicDeviceId);
            return false;
        }
        String reason = reason(e);
        // the device's row before its app's row, as a presence writes them: two orchestrators on one store take
        // them in the same order and wait for each other instead of deadlocking (an older report is still news
        // that the device is there)
        seen(topicDeviceId, now);
        // bounded here too: what a device sends is not trusted to be what the contract allows
        String logTail = blankToNull(LogTail.forFailure(e.getLogTail()));
        DeviceApp before = logTail == null ? null : devices.deviceApps(topicDeviceId).stream()
                .filter(a -> a.app().equals(e.getApp())).findFirst().orElse(null);
        if (!devices.saveDeviceApp(topicDeviceId, new DeviceApp(e.getApp(), blankToNull(e.getRunningVersion()), e.getVersion(),
                e.getState().name(), reason, blankToNull(DeviceApp.withFetchNote(e.getMessage(), e.getFetchNote())), e.getSequence(),
                e.getReportSeq(), now, logTail))) {
            LOG.info("ignored an older status of {} ({}:{} {}, report {}): a newer one is recorded", topicDeviceId, e.getApp(),
                    e.getVersion(), e.getState(), e.getReportSeq());
            // not applied, still recorded: the device was told it arrived (acknowledged once stored), so the audit trail
            // has it, under an action of its own (a report a device sent again after a reconnect, behind newer ones: the
            // chaos soak counted one such acknowledged report missing from the trail)
            audit(now, topicDeviceId, LATE_STATUS, e.getApp() + ":" + e.getVersion() + " " + e.getState()
                    + (reason == null ? "" : " " + reason) + " seq " + e.getSequence() + " (report " + e.getReportSeq()
                    + ", after a newer one: not applied)", null);
            return false;
        }
        online(topicDeviceId, now);
        // the failure's entry keeps its log; the same report repeated after a reconnect does not store it again
        boolean repeated = logTail != null && before != null && logTail.equals(before.logTail()) && e.getState().name().equals(before.state());
        audit(now, topicDeviceId, "device.status", e.getApp() + ":" + e.getVersion() + " " + e.getState()
                + (reason == null ? "" : " " + reason) + " seq " + e.getSequence()
                + (e.getFetchNote().isBlank() ? "" : " (" + DeviceApp.withFetchNote(null, e.getFetchNote()) + ")"), repeated ? null : logTail);
        return true;
    }

    /**
     * Records a presence message and the app summaries it carries; false when it is dropped. The broker
     * keeps only a device's newest presence, so its online flag is always taken; an app summary older
     * than the report stored for that app (a presence replayed after the device reported on) is not.
     *
     * @return the presence with the app summaries taken (the ones a rollout may judge), or empty when dropped
     */
    Optional<Presence> presence(String topicDeviceId, Presence p, Instant now) {
        if (!p.getDeviceId().isEmpty() && !p.getDeviceId().equals(topicDeviceId)) {
            LOG.warn("dropped a presence for device '{}' published on the topic of device '{}'", p.getDeviceId(), topicDeviceId);
            return Optional.empty();
        }
        if (!enrolled(topicDeviceId)) {
            LOG.info("ignored a presence from unknown device {}", topicDeviceId);
            return Optional.empty();
        }
        devices.updatePresence(topicDeviceId, p.getOnline(), now, blankToNull(p.getPlatform()), blankToNull(p.getAgentVersion()));
        if (p.getOnline()) {
            seenWritten.put(topicDeviceId, now);
            online(topicDeviceId, now);
        } else {
            seenWritten.remove(topicDeviceId);
            offline.add(topicDeviceId);
        }
        audit(now, topicDeviceId, p.getOnline() ? "device.online" : "device.offline", null, null);
        Map<String, DeviceApp> last = new LinkedHashMap<>();
        devices.deviceApps(topicDeviceId).forEach(a -> last.put(a.app(), a));
        Presence.Builder taken = p.toBuilder().clearApps();
        for (var summary : p.getAppsList()) {
            DeviceApp before = last.get(summary.getApp());
            boolean newer = devices.saveDeviceApp(topicDeviceId, new DeviceApp(summary.getApp(), blankToNull(summary.getRunningVersion()),
                    before == null ? blankToNull(summary.getRunningVersion()) : before.version(), summary.getState().name(),
                    before == null ? null : before.reason(), before == null ? null : before.message(),
                    before == null ? p.getLastSequence() : before.sequence(), p.getReportSeq(), now,
                    before == null ? null : before.logTail()));
            if (newer) {
                taken.addApps(summary);
            } else {
                LOG.info("ignored {}'s older presence about {} ({} {}, report {}): a newer report is recorded", topicDeviceId,
                        summary.getApp(), summary.getRunningVersion(), summary.getState(), p.getReportSeq());
            }
        }
        return Optional.of(taken.build());
    }

    /** A health report only says the device is there. */
    void health(String topicDeviceId, HealthReport h, Instant now) {
        if (!h.getDeviceId().isEmpty() && !h.getDeviceId().equals(topicDeviceId)) {
            LOG.warn("dropped a health report for device '{}' published on the topic of device '{}'", h.getDeviceId(), topicDeviceId);
            return;
        }
        if (!enrolled(topicDeviceId)) {
            return;
        }
        seen(topicDeviceId, now);
        online(topicDeviceId, now);
    }

    /** The reason code of a status report, or null. */
    static String reason(StatusEvent e) {
        return e.getReason() == dev.turnout.proto.Reason.REASON_UNSPECIFIED ? null : e.getReason().name();
    }

    boolean enrolled(String deviceId) {
        if (known.contains(deviceId)) {
            return true;
        }
        if (devices.findDevice(deviceId).isPresent()) {
            known.add(deviceId);
            return true;
        }
        return false;
    }

    /** A report from a device: it is online and was seen now (written unless it was, online, moments ago). */
    private void seen(String deviceId, Instant now) {
        Instant last = seenWritten.get(deviceId);
        if (last == null || offline.contains(deviceId) || !now.isBefore(last.plus(LAST_SEEN_EVERY))) {
            devices.updatePresence(deviceId, true, now, null);
            seenWritten.put(deviceId, now);
        }
    }

    private void audit(Instant now, String deviceId, String action, String detail, String logTail) {
        store.appendAudit(new AuditEntry(now, deviceId, action, deviceId, detail, logTail));
    }

    static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
