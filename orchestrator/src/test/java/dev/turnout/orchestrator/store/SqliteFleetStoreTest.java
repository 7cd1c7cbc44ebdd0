package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ImageBlob;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WaveState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class SqliteFleetStoreTest extends FleetStoreContract {

    @TempDir
    Path data;

    @Override
    protected FleetStore open() {
        return SqliteFleetStore.open(data);
    }

    @Test
    void usesWalModeAndStoresEnumsByName() throws Exception {
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            assertThat(store.shared()).isFalse();
            store.saveRollout(new Rollout("r-2", "web", "1.0.0", "all", RolloutStrategy.parse(null, null, null, null, null, null),
                    now, RolloutState.PAUSED, "why", now, 0, WaveState.DONE, now, 0, List.of()));
        }
        assertThat(Files.exists(data.resolve("turnout.db"))).isTrue();
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"));
             ResultSet mode = c.createStatement().executeQuery("PRAGMA journal_mode");
             ResultSet state = c.createStatement().executeQuery("SELECT state, wave_state FROM rollouts")) {
            assertThat(mode.getString(1)).isEqualToIgnoringCase("wal");
            assertThat(state.getString(1)).isEqualTo("PAUSED");
            assertThat(state.getString(2)).isEqualTo("DONE");
        }
    }

    @Test
    void aQueryKeptForTheNextCallDoesNotStopThisStoreWritingAfterAnotherConnectionWrote() throws Exception {
        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            store.saveDesired("pi-1", new DesiredRecord(1, now, List.of(), new byte[] {1}));
            for (int round = 2; round <= 4; round++) {
                // the same query twice: its statement is kept between calls
                assertThat(store.findDesired("pi-2")).isEmpty();
                assertThat(store.findDesired("pi-1")).map(DesiredRecord::sequence).contains(round - 1L);
                try (Connection other = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"))) {
                    other.createStatement().executeUpdate("INSERT INTO audit (at, actor, action, subject, detail)"
                            + " VALUES (" + now.toEpochMilli() + ", 'other', 'x', 'y', 'z')");
                }
                // a kept statement that still held its read snapshot would make SQLite refuse this write (SQLITE_BUSY_SNAPSHOT)
                store.saveDesired("pi-1", new DesiredRecord(round, now, List.of(), new byte[] {(byte) round}));
            }
            assertThat(store.findDesired("pi-1")).map(DesiredRecord::sequence).contains(4L);
        }
    }

    @Test
    void aVersionOneStoreIsMigratedOnOpen() throws Exception {
        Files.createDirectories(data);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"))) {
            c.createStatement().execute("CREATE TABLE schema_version (version INTEGER NOT NULL)");
            c.createStatement().execute("INSERT INTO schema_version VALUES (1)");
        }
        try (FleetStore store = open()) {
            assertThat(store.claimRollout("r-1", "a", null, now, now.plusSeconds(5))).isTrue();
            assertThat(store.findFloor("web")).isEmpty(); // version 5: rollback floors
            store.saveFloor("web", "1.0.0", now, "ana");
            store.saveFloor("web", "2.0.0", now, "ana");
        }
        try (FleetStore store = open()) {
            assertThat(store.findFloor("web")).contains("2.0.0");
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"));
             ResultSet version = c.createStatement().executeQuery("SELECT COUNT(*), MAX(version) FROM schema_version")) {
            assertThat(version.getInt(1)).isEqualTo(1);
            assertThat(version.getInt(2)).isEqualTo(FleetSchema.VERSION).isEqualTo(13);
        }
    }

    @Test
    void aVersionEightStoreKeepsItsDevicesAndLearnsTheirDaemonVersion() throws Exception {
        Files.createDirectories(data);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"))) {
            c.createStatement().execute("CREATE TABLE schema_version (version INTEGER NOT NULL)");
            c.createStatement().execute("INSERT INTO schema_version VALUES (8)");
            c.createStatement().execute("CREATE TABLE devices (id TEXT PRIMARY KEY, labels TEXT NOT NULL, groups_json TEXT NOT NULL,"
                    + " enrolled_at INTEGER NOT NULL, online INTEGER NOT NULL DEFAULT 0, last_seen INTEGER, platform TEXT)");
            c.createStatement().execute("INSERT INTO devices VALUES ('pi-1', '{}', '[]', 0, 1, 0, 'linux/arm64')");
        }
        try (FleetStore store = open()) {
            assertThat(store.findDevice("pi-1").orElseThrow().agentVersion()).as("not said yet").isNull();
            store.updatePresence("pi-1", true, now, null, "0.2.0");
            assertThat(store.findDevice("pi-1").orElseThrow().agentVersion()).isEqualTo("0.2.0");
            store.updatePresence("pi-1", false, now, null, null); // the broker's will names no version: the known one stays
            assertThat(store.findDevice("pi-1").orElseThrow().agentVersion()).isEqualTo("0.2.0");
            assertThat(store.findDevice("pi-1").orElseThrow().platform()).isEqualTo("linux/arm64");
        }
    }

    @Test
    void aVersionTwoStoreKeepsItsArtifactsAndLearnsWhatIdentifiesTheirImages() throws Exception {
        Files.createDirectories(data);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"))) {
            c.createStatement().execute("CREATE TABLE schema_version (version INTEGER NOT NULL)");
            c.createStatement().execute("INSERT INTO schema_version VALUES (2)");
            c.createStatement().execute("CREATE TABLE artifacts (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, image_id TEXT NOT NULL,"
                    + " image_ref TEXT, created_at INTEGER NOT NULL)");
            c.createStatement().execute("INSERT INTO artifacts VALUES ('sha256:" + "a".repeat(64) + "', 7, 'sha256:" + "b".repeat(64)
                    + "', 'web:1', 0)");
        }
        try (FleetStore store = open()) {
            Artifact old = store.findArtifact("sha256:" + "a".repeat(64)).orElseThrow();
            assertThat(old.imageId()).isEqualTo("sha256:" + "b".repeat(64));
            assertThat(old.manifestDigest()).as("unknown for an archive stored before").isNull();
            store.saveArtifact(new Artifact("sha256:" + "c".repeat(64), 8, "sha256:" + "d".repeat(64), "web:2", "linux/arm64",
                    "sha256:" + "e".repeat(64), List.of("sha256:" + "f".repeat(64))));
            assertThat(store.findArtifact("sha256:" + "c".repeat(64)).orElseThrow().manifestDigest()).isEqualTo("sha256:" + "e".repeat(64));
            assertThat(old.blobs()).as("version 13: an archive stored before is offered only whole").isEmpty();
            ImageBlob layer = new ImageBlob("blobs/sha256/" + "9".repeat(64), "sha256:" + "9".repeat(64), 30);
            store.saveArtifact(new Artifact("sha256:" + "8".repeat(64), 40, "sha256:" + "d".repeat(64), "web:3", "linux/arm64",
                    "sha256:" + "e".repeat(64), List.of("sha256:" + "f".repeat(64)), List.of(layer)));
            assertThat(store.findArtifact("sha256:" + "8".repeat(64)).orElseThrow().blobs()).containsExactly(layer);
        }
    }

    @Test
    void aVersionThreeStoreKeepsItsDeviceReportsAndOrdersTheNextOnes() throws Exception {
        Files.createDirectories(data);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"))) {
            c.createStatement().execute("CREATE TABLE schema_version (version INTEGER NOT NULL)");
            c.createStatement().execute("INSERT INTO schema_version VALUES (3)");
            c.createStatement().execute("CREATE TABLE device_apps (device_id TEXT NOT NULL, app TEXT NOT NULL, running_version TEXT,"
                    + " version TEXT, state TEXT, reason TEXT, message TEXT, sequence INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
                    + " PRIMARY KEY (device_id, app))");
            c.createStatement().execute("INSERT INTO device_apps VALUES ('pi-1', 'web', '1.0.0', '1.0.0', 'ACTIVE', NULL, NULL, 3, 0)");
        }
        try (FleetStore store = open()) {
            assertThat(store.deviceApps("pi-1")).singleElement().satisfies(a -> {
                assertThat(a.runningVersion()).isEqualTo("1.0.0");
                assertThat(a.reportSeq()).as("stored before reports were numbered").isZero();
            });
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.1.0", "1.1.0", "ACTIVE", null, null, 4, 50, now))).isTrue();
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.0.0", "1.1.0", "STAGED", null, null, 4, 49, now))).isFalse();
            assertThat(store.deviceApps("pi-1")).singleElement().extracting(DeviceApp::runningVersion).isEqualTo("1.1.0");
        }
    }

    @Test
    void aVersionEightStoreKeepsItsReportsAndAuditAndLearnsLogTails() throws Exception {
        Files.createDirectories(data);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"))) {
            c.createStatement().execute("CREATE TABLE schema_version (version INTEGER NOT NULL)");
            c.createStatement().execute("INSERT INTO schema_version VALUES (8)");
            c.createStatement().execute("CREATE TABLE device_apps (device_id TEXT NOT NULL, app TEXT NOT NULL, running_version TEXT,"
                    + " version TEXT, state TEXT, reason TEXT, message TEXT, sequence INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
                    + " report_seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (device_id, app))");
            c.createStatement().execute("INSERT INTO device_apps VALUES ('pi-1', 'web', '1.0.0', '2.0.0', 'ROLLED_BACK',"
                    + " 'HEALTH_CHECK_FAILED', 'probe failed', 3, 0, 7)");
            c.createStatement().execute("CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,"
                    + " action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT)");
            c.createStatement().execute("INSERT INTO audit (at, actor, action, subject, detail) VALUES (0, 'pi-1', 'device.status', 'pi-1',"
                    + " 'web:2.0.0 ROLLED_BACK HEALTH_CHECK_FAILED seq 3')");
        }
        try (FleetStore store = open()) {
            assertThat(store.deviceApps("pi-1")).singleElement().satisfies(a -> {
                assertThat(a.reason()).isEqualTo("HEALTH_CHECK_FAILED");
                assertThat(a.logTail()).as("reported before failure reports carried logs").isNull();
            });
            assertThat(store.audit(10)).singleElement().satisfies(e -> {
                assertThat(e.detail()).startsWith("web:2.0.0 ROLLED_BACK");
                assertThat(e.logTail()).isNull();
            });
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.0.0", "3.0.0", "ROLLED_BACK", "CRASH_LOOP", null, 4, 8, now,
                    "panic: no track power"))).isTrue();
            assertThat(store.deviceApps("pi-1")).singleElement().extracting(DeviceApp::logTail).isEqualTo("panic: no track power");
        }
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + data.resolve("turnout.db"));
             ResultSet version = c.createStatement().executeQuery("SELECT MAX(version) FROM schema_version")) {
            assertThat(version.getInt(1)).isEqualTo(FleetSchema.VERSION);
        }
    }
}
