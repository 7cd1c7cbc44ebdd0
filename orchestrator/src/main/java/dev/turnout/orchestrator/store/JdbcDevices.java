package dev.turnout.orchestrator.store;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.port.DeviceRegistry;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static dev.turnout.orchestrator.store.JdbcSession.instant;
import static dev.turnout.orchestrator.store.JdbcSession.millis;

/** Enrolled devices and what each last reported per app: tables {@code devices} and {@code device_apps}. */
final class JdbcDevices implements DeviceRegistry {

    private final JdbcSession session;

    JdbcDevices(JdbcSession session) {
        this.session = session;
    }

    void insertDevice(Device d) {
        synchronized (session) {
            if (findDevice(d.id()).isPresent()) {
                throw new ConflictException("device " + d.id() + " is already enrolled");
            }
            // ON CONFLICT: another orchestrator on the same store may enroll the same id at the same moment
            if (session.update("INSERT INTO devices (id, labels, groups_json, enrolled_at, online, last_seen, platform)"
                            + " VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
                    d.id(), StoredJson.write(d.labels()), StoredJson.write(d.groups()), millis(d.enrolledAt()),
                    d.online() ? 1 : 0, millis(d.lastSeen()), d.platform()) == 0) {
                throw new ConflictException("device " + d.id() + " is already enrolled");
            }
        }
    }

    /** Replaces a device's labels and groups; false when no such device is enrolled. */
    boolean updateTags(String id, Map<String, String> labels, List<String> groups) {
        return session.update("UPDATE devices SET labels = ?, groups_json = ? WHERE id = ?",
                StoredJson.write(new java.util.TreeMap<>(labels)), StoredJson.write(groups), id) > 0;
    }

    @Override
    public Optional<Device> findDevice(String id) {
        return session.query("SELECT * FROM devices WHERE id = ?", JdbcDevices::device, id).stream().findFirst();
    }

    @Override
    public List<Device> listDevices() {
        return session.query("SELECT * FROM devices ORDER BY id", JdbcDevices::device);
    }

    @Override
    public void updatePresence(String deviceId, boolean online, Instant lastSeen, String platform, String agentVersion) {
        session.update("UPDATE devices SET online = ?, last_seen = ?, platform = COALESCE(?, platform),"
                        + " agent_version = COALESCE(?, agent_version) WHERE id = ?",
                online ? 1 : 0, millis(lastSeen), platform == null || platform.isBlank() ? null : platform,
                agentVersion == null || agentVersion.isBlank() ? null : agentVersion, deviceId);
    }

    @Override
    public boolean saveDeviceApp(String deviceId, DeviceApp a) {
        // one statement, so two orchestrators writing the same device cannot interleave a check and a write:
        // an older report (a lower report number) never replaces a newer one; an unnumbered one (0) always does
        return session.update("INSERT INTO device_apps (device_id, app, running_version, version, state, reason, message,"
                        + " sequence, report_seq, updated_at, log_tail) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (device_id, app) DO UPDATE SET"
                        + " running_version = excluded.running_version, version = excluded.version, state = excluded.state,"
                        + " reason = excluded.reason, message = excluded.message, sequence = excluded.sequence,"
                        + " log_tail = excluded.log_tail,"
                        + " report_seq = CASE WHEN excluded.report_seq = 0 THEN device_apps.report_seq ELSE excluded.report_seq END,"
                        + " updated_at = excluded.updated_at"
                        + " WHERE excluded.report_seq = 0 OR excluded.report_seq >= device_apps.report_seq",
                deviceId, a.app(), a.runningVersion(), a.version(), a.state(), a.reason(), a.message(), a.sequence(),
                a.reportSeq(), millis(a.updatedAt()), a.logTail()) > 0;
    }

    @Override
    public List<DeviceApp> deviceApps(String deviceId) {
        return session.query("SELECT * FROM device_apps WHERE device_id = ? ORDER BY app", JdbcDevices::deviceApp, deviceId);
    }

    @Override
    public Map<String, DeviceApp> unsettledDeviceApps(String rolloutId, String app) {
        Map<String, DeviceApp> apps = new HashMap<>();
        session.query("SELECT a.* FROM device_apps a JOIN rollout_devices d ON d.device_id = a.device_id"
                        + " WHERE d.rollout_id = ? AND a.app = ? AND d.state IN ('PENDING','STAGED','ACTIVATING','ROLLING_BACK')",
                rs -> apps.put(rs.getString("device_id"), deviceApp(rs)), rolloutId, app);
        return apps;
    }

    private static Device device(ResultSet rs) throws SQLException {
        return new Device(rs.getString("id"), StoredJson.read(rs.getString("labels"), new TypeReference<Map<String, String>>() { }),
                StoredJson.read(rs.getString("groups_json"), new TypeReference<List<String>>() { }), instant(rs, "enrolled_at"),
                rs.getInt("online") == 1, instant(rs, "last_seen"), rs.getString("platform"), rs.getString("agent_version"));
    }

    private static DeviceApp deviceApp(ResultSet rs) throws SQLException {
        return new DeviceApp(rs.getString("app"), rs.getString("running_version"), rs.getString("version"),
                rs.getString("state"), rs.getString("reason"), rs.getString("message"), rs.getLong("sequence"),
                rs.getLong("report_seq"), instant(rs, "updated_at"), rs.getString("log_tail"));
    }
}
