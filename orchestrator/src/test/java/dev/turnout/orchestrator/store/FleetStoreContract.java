package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Artifact;
import dev.turnout.orchestrator.domain.ConflictException;
import dev.turnout.orchestrator.domain.DesiredApp;
import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.DeviceApp;
import dev.turnout.orchestrator.domain.Phase;
import dev.turnout.orchestrator.domain.Release;
import dev.turnout.orchestrator.domain.ReleaseImage;
import dev.turnout.orchestrator.domain.ReleaseSpec;
import dev.turnout.orchestrator.domain.Rollout;
import dev.turnout.orchestrator.domain.RolloutDevice;
import dev.turnout.orchestrator.domain.RolloutDeviceState;
import dev.turnout.orchestrator.domain.RolloutState;
import dev.turnout.orchestrator.domain.RolloutStrategy;
import dev.turnout.orchestrator.domain.WaveState;
import dev.turnout.orchestrator.domain.Webhook;
import dev.turnout.orchestrator.domain.WebhookDelivery;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What every {@link FleetStore} does, whatever the database: {@link SqliteFleetStoreTest} runs it
 * on the embedded SQLite, {@link PostgresFleetStoreIT} on a real PostgreSQL.
 */
abstract class FleetStoreContract {

    /** Opens the store under test; a second call opens the same data again (a restart). */
    protected abstract FleetStore open();

    protected final Instant now = Instant.parse("2026-11-22T10:15:30.123Z");

    @Test
    void everythingSurvivesAReopen() throws Exception {
        String digest = "sha256:" + "c".repeat(64);
        try (FleetStore store = open()) {
            store.insertDevice(new Device("pi-1", Map.of("site", "attic"), List.of("yard"), now, false, null, null));
            store.updatePresence("pi-1", true, now, "linux/arm64");
            store.saveDeviceApp("pi-1", new DeviceApp("web", "1.0.0", "1.1.0", "STAGED", null, "cached", 7, 0, now));
            store.saveArtifact(new Artifact(digest, 42, "sha256:" + "d".repeat(64), "demo/web:1.1.0", "linux/arm64", "sha256:" + "c".repeat(64), List.of("sha256:" + "a".repeat(64))));
            store.insertRelease(new Release("web", "1.1.0", now,
                    List.of(ReleaseImage.of("linux/arm64", store.findArtifact(digest).orElseThrow())),
                    new ReleaseSpec(new ReleaseSpec.Container(List.of("/bin/sh"), Map.of("A", "b"), "none", null, null, null, true,
                            "always"), null)));
            store.saveDesired("pi-1", new DesiredRecord(1234, now,
                    List.of(new DesiredApp("web", "1.1.0", Phase.STAGE, false, "r-1")), new byte[] {1, 2, 3}));
            RolloutStrategy strategy = RolloutStrategy.parse("1,100%", "5s", "10%", "rollback", "2m", true);
            RolloutDevice device = new RolloutDevice("pi-1", 1, new DesiredApp("web", "1.0.0", Phase.ACTIVATE, false, ""),
                    RolloutDeviceState.ACTIVATING, 1233, 1234, 0, now, null, null);
            store.saveRollout(new Rollout("r-1", "web", "1.1.0", "all", strategy, now, RolloutState.RUNNING, null, now, 1,
                    WaveState.ACTIVATING, now, 0, List.of(device)));
            store.appendAudit(new AuditEntry(now, "api", "device.enroll", "pi-1", null));
        }

        try (FleetStore store = open()) {
            Device d = store.findDevice("pi-1").orElseThrow();
            assertThat(d.online()).isTrue();
            assertThat(d.platform()).isEqualTo("linux/arm64");
            assertThat(d.labels()).containsEntry("site", "attic");
            assertThat(d.groups()).containsExactly("yard");
            assertThat(d.lastSeen()).isEqualTo(now);
            assertThat(store.deviceApps("pi-1")).containsExactly(new DeviceApp("web", "1.0.0", "1.1.0", "STAGED", null, "cached", 7, 0, now));
            assertThat(store.findArtifact(digest)).hasValueSatisfying(a -> {
                assertThat(a.platform()).isEqualTo("linux/arm64");
                assertThat(a.manifestDigest()).isEqualTo("sha256:" + "c".repeat(64));
                assertThat(a.diffIds()).containsExactly("sha256:" + "a".repeat(64));
            });
            Release release = store.findRelease("web", "1.1.0").orElseThrow();
            assertThat(release.images().get(0).manifestDigest()).isEqualTo("sha256:" + "c".repeat(64));
            assertThat(release.images().get(0).diffIds()).containsExactly("sha256:" + "a".repeat(64));
            assertThat(release.spec().container().restart()).isEqualTo("always");
            assertThat(release.spec().container().env()).containsEntry("A", "b");
            DesiredRecord desired = store.findDesired("pi-1").orElseThrow();
            assertThat(desired.sequence()).isEqualTo(1234);
            assertThat(desired.envelope()).containsExactly(1, 2, 3);
            assertThat(desired.app("web").phase()).isEqualTo(Phase.STAGE);

            Rollout r = store.activeRollouts().get(0);
            assertThat(r.id()).isEqualTo("r-1");
            assertThat(r.strategy().approveEachWave()).isTrue();
            assertThat(r.strategy().maxFailures().toString()).isEqualTo("10%");
            assertThat(r.strategy().wavesText()).isEqualTo("1,100%");
            RolloutDevice device = r.device("pi-1");
            assertThat(device.state()).isEqualTo(RolloutDeviceState.ACTIVATING);
            assertThat(device.activationSequence()).isEqualTo(1234);
            assertThat(device.previous().version()).isEqualTo("1.0.0");
            assertThat(store.audit(10)).hasSize(1);

            assertThatThrownBy(() -> store.insertDevice(new Device("pi-1", null, null, now, false, null, null)))
                    .isInstanceOf(ConflictException.class);
        }
    }

    @Test
    void webhooksAndTheirNewestThousandDeliveriesSurviveAReopenAndGoWithTheirWebhook() {
        Webhook a = new Webhook("wh-a", "https://example.test/hook", List.of("rollout.*", "device.failed"), "s".repeat(43), now);
        Webhook b = new Webhook("wh-b", "http://10.0.0.9:9000/x", List.of("*"), "t".repeat(43), now.plusSeconds(1));
        try (FleetStore store = open()) {
            store.insertWebhook(a);
            store.insertWebhook(b);
            assertThatThrownBy(() -> store.insertWebhook(a)).isInstanceOf(ConflictException.class);
            store.inTransaction(() -> {
                for (int i = 1; i <= WebhookStore.DELIVERIES_KEPT + 5; i++) {
                    store.appendDelivery(new WebhookDelivery("wh-a", "d-" + i, "rollout.started", WebhookDelivery.Result.DELIVERED,
                            200, null, 1, 12, now.plusMillis(i)));
                }
            });
            store.appendDelivery(new WebhookDelivery("wh-b", "e-1", "device.failed", WebhookDelivery.Result.FAILED, null,
                    "connection refused or unreachable", 5, 85_000, now));
        }
        try (FleetStore store = open()) {
            assertThat(store.listWebhooks()).containsExactly(a, b);
            assertThat(store.findWebhook("wh-b")).contains(b);
            List<WebhookDelivery> ofA = store.deliveries("wh-a", 2000);
            assertThat(ofA).hasSize(WebhookStore.DELIVERIES_KEPT);
            assertThat(ofA.get(0).deliveryId()).isEqualTo("d-" + (WebhookStore.DELIVERIES_KEPT + 5));
            assertThat(ofA.get(ofA.size() - 1).deliveryId()).isEqualTo("d-6");
            assertThat(store.deliveries("wh-b", 10)).containsExactly(new WebhookDelivery("wh-b", "e-1", "device.failed",
                    WebhookDelivery.Result.FAILED, null, "connection refused or unreachable", 5, 85_000, now));
            assertThat(store.deliveries(null, 2)).extracting(WebhookDelivery::deliveryId).containsExactly("e-1", "d-1005");

            assertThat(store.deleteWebhook("wh-a")).isTrue();
            assertThat(store.deleteWebhook("wh-a")).isFalse();
            assertThat(store.listWebhooks()).containsExactly(b);
            assertThat(store.deliveries("wh-a", 10)).isEmpty();
            assertThat(store.deliveries(null, 10)).hasSize(1);
        }
    }

    @Test
    void findsAuditEntriesAboutADeviceAndByAction() {
        try (FleetStore store = open()) {
            store.appendAudit(new AuditEntry(now, "api", "device.enroll", "pi-1", null));
            store.appendAudit(new AuditEntry(now.plusSeconds(1), "pi-1", "device.status", "pi-1", "web:1.0.0 ACTIVE"));
            store.appendAudit(new AuditEntry(now.plusSeconds(2), "engine", "rollout.failure", "r-1", "1 device(s) failed"));
            store.appendAudit(new AuditEntry(now.plusSeconds(3), "api", "device.enroll", "pi-2", null));
            store.appendAudit(new AuditEntry(now.plusSeconds(4), "engine", "rollout.failure", "r-2", "2 device(s) failed"));

            assertThat(store.auditAbout("pi-1", 10)).extracting(AuditEntry::action).containsExactly("device.status", "device.enroll");
            assertThat(store.auditAbout("pi-1", 1)).hasSize(1);
            assertThat(store.auditByAction("rollout.failure", now)).extracting(AuditEntry::subject).containsExactly("r-1", "r-2");
            assertThat(store.auditByAction("rollout.failure", now.plusSeconds(3))).extracting(AuditEntry::subject).containsExactly("r-2");
        }
    }

    @Test
    void refusesASecondReleaseOrDeviceOfTheSameName() {
        try (FleetStore store = open()) {
            store.insertRelease(new Release("web", "1.0.0", now, List.of(), null));
            assertThatThrownBy(() -> store.insertRelease(new Release("web", "1.0.0", now, List.of(), null)))
                    .isInstanceOf(ConflictException.class);
            store.saveArtifact(new Artifact("sha256:" + "e".repeat(64), 1, "sha256:" + "f".repeat(64), null, null, null, null));
            store.saveArtifact(new Artifact("sha256:" + "e".repeat(64), 1, "sha256:" + "f".repeat(64), null, null, null, null));
            assertThat(store.findArtifact("sha256:" + "e".repeat(64))).isPresent();
        }
    }

    @Test
    void aDevicesLabelsAndGroupsAreReplacedAndSurviveAReopenWithTheRestOfIt() {
        try (FleetStore store = open()) {
            store.insertDevice(new Device("pi-1", Map.of("site", "attic"), List.of("yard"), now, true, now, "linux/arm64"));
            assertThat(store.updateDeviceTags("pi-1", Map.of("site", "cellar", "tier", "2"), List.of("canary", "yard"))).isTrue();
            assertThat(store.updateDeviceTags("pi-9", Map.of("site", "cellar"), List.of())).as("not enrolled").isFalse();
        }
        try (FleetStore store = open()) {
            Device d = store.findDevice("pi-1").orElseThrow();
            assertThat(d.labels()).isEqualTo(Map.of("site", "cellar", "tier", "2"));
            assertThat(d.groups()).containsExactly("canary", "yard");
            assertThat(d.online()).isTrue();
            assertThat(d.platform()).isEqualTo("linux/arm64");
            assertThat(store.findDevice("pi-9")).isEmpty();
        }
    }

    @Test
    void aDesiredStateIsNeverReplacedByOneWithTheSameOrALowerSequence() {
        try (FleetStore store = open()) {
            store.saveDesired("pi-1", new DesiredRecord(10, now, List.of(), new byte[] {10}));
            store.saveDesired("pi-1", new DesiredRecord(11, now, List.of(), new byte[] {11}));
            assertThatThrownBy(() -> store.saveDesired("pi-1", new DesiredRecord(11, now, List.of(), new byte[] {12})))
                    .isInstanceOf(ConflictException.class).hasMessageContaining("pi-1");
            assertThat(store.findDesired("pi-1").orElseThrow().envelope()).containsExactly(11);
        }
    }

    @Test
    void anOlderReportNeverReplacesANewerOneAndAnUnnumberedOneAlwaysDoes() {
        try (FleetStore store = open()) {
            store.insertDevice(new Device("pi-1", Map.of(), List.of(), now, true, now, null));
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.2.0", "1.2.0", "ACTIVE", null, null, 9, 1_000, now))).isTrue();
            // the presence the broker replays after a restart was published before that report
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.1.0", "1.2.0", "STAGED", null, null, 9, 990, now))).isFalse();
            assertThat(store.deviceApps("pi-1")).singleElement().extracting(DeviceApp::runningVersion).isEqualTo("1.2.0");
            // the same report again (a QoS 1 duplicate) is taken, a newer one too
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.2.0", "1.2.0", "ACTIVE", null, null, 9, 1_000, now))).isTrue();
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.2.0", "1.3.0", "STAGED", null, null, 10, 1_001, now))).isTrue();
            // a daemon that does not number its reports is taken as before, and keeps the number to beat
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.3.0", "1.3.0", "ACTIVE", null, null, 10, 0, now))).isTrue();
            assertThat(store.deviceApps("pi-1")).singleElement().satisfies(a -> {
                assertThat(a.runningVersion()).isEqualTo("1.3.0");
                assertThat(a.reportSeq()).isEqualTo(1_001);
            });
            assertThat(store.saveDeviceApp("pi-1", new DeviceApp("web", "1.2.0", "1.2.0", "ACTIVE", null, null, 9, 1_000, now))).isFalse();
        }
    }

    @Test
    void aFailureReportsLogTailIsKeptWithTheAppStateAndItsAuditEntryUntilTheNextReport() {
        String tail = "starting\npanic: cannot open /dev/ttyACM0 — no such device \uD83D\uDE82";
        try (FleetStore store = open()) {
            store.insertDevice(new Device("pi-1", Map.of(), List.of(), now, true, now, null));
            store.saveDeviceApp("pi-1", new DeviceApp("web", "1.0.0", "2.0.0", "ROLLED_BACK", "HEALTH_CHECK_FAILED", "probe failed", 5, 10,
                    now, tail));
            store.appendAudit(new AuditEntry(now, "pi-1", "device.status", "pi-1", "web:2.0.0 ROLLED_BACK HEALTH_CHECK_FAILED seq 5", tail));
            store.appendAudit(new AuditEntry(now.plusSeconds(1), "pi-1", "device.online", "pi-1", null));
        }
        try (FleetStore store = open()) {
            assertThat(store.deviceApps("pi-1")).singleElement().extracting(DeviceApp::logTail).isEqualTo(tail);
            assertThat(store.auditAbout("pi-1", 10)).extracting(AuditEntry::logTail).containsExactly(null, tail);
            // the next report of the app replaces it (none: null)
            store.saveDeviceApp("pi-1", new DeviceApp("web", "1.0.0", "3.0.0", "ACTIVE", null, null, 6, 11, now));
            assertThat(store.deviceApps("pi-1")).singleElement().extracting(DeviceApp::logTail).isNull();
        }
    }

    @Test
    void aRolloutSavedAgainKeepsItsDevicesAndChangesTheChangedOnes() {
        try (FleetStore store = open()) {
            RolloutStrategy strategy = RolloutStrategy.parse(null, null, null, null, null, null);
            RolloutDevice a = RolloutDevice.planned("pi-a", 1, null);
            RolloutDevice b = RolloutDevice.planned("pi-b", 1, null);
            Rollout r = new Rollout("r-3", "web", "1.0.0", "all", strategy, now, RolloutState.RUNNING, null, now, 0,
                    WaveState.DONE, now, 0, List.of(a, b));
            store.saveRollout(r);
            b.staging(5);
            r.moveTo(RolloutState.SUCCEEDED, "done", now.plusSeconds(1));
            store.saveRollout(r);
            Rollout again = store.findRollout("r-3").orElseThrow();
            assertThat(again.state()).isEqualTo(RolloutState.SUCCEEDED);
            assertThat(again.device("pi-b").stageSequence()).isEqualTo(5);
            assertThat(again.devices()).hasSize(2);
            assertThat(store.activeRollouts()).isEmpty();
            assertThat(store.activeRolloutIds()).isEmpty();
        }
    }

    @Test
    void aRolloutChangeWhoseTransactionRolledBackIsWrittenAtTheNextSaveEvenWithNothingChangedSince() {
        try (FleetStore store = open()) {
            RolloutStrategy strategy = RolloutStrategy.parse(null, null, null, null, null, null);
            RolloutDevice a = RolloutDevice.planned("pi-a", 1, null);
            Rollout r = new Rollout("r-5", "web", "1.0.0", "all", strategy, now, RolloutState.RUNNING, null, now, 0,
                    WaveState.DONE, now, 0, List.of(a));
            store.saveRollout(r);

            // a batch of reports: the rollout is saved after each; the second save changes nothing of its row
            store.inTransaction(() -> {
                r.moveTo(RolloutState.PAUSED, "1 device(s) failed", now.plusSeconds(1));
                store.saveRollout(r);
                store.saveRollout(r);
            });
            assertThat(store.findRollout("r-5").orElseThrow().state()).isEqualTo(RolloutState.PAUSED);

            assertThatThrownBy(() -> store.inTransaction(() -> {
                r.moveTo(RolloutState.RUNNING, null, now.plusSeconds(2));
                store.saveRollout(r);
                throw new IllegalStateException("the batch failed");
            })).isInstanceOf(IllegalStateException.class);
            assertThat(store.findRollout("r-5").orElseThrow().state()).as("rolled back").isEqualTo(RolloutState.PAUSED);

            store.saveRollout(r); // the object says RUNNING: what did not commit is written now
            Rollout stored = store.findRollout("r-5").orElseThrow();
            assertThat(stored.state()).isEqualTo(RolloutState.RUNNING);
            assertThat(stored.reason()).isNull();
            assertThat(stored.updatedAt()).isEqualTo(now.plusSeconds(2));
        }
    }

    @Test
    void aTransactionStoresEverythingOrNothingAndPublishesOnlyAfterItsCommit() {
        try (FleetStore store = open()) {
            RolloutStrategy strategy = RolloutStrategy.parse(null, null, null, null, null, null);
            RolloutDevice a = RolloutDevice.planned("pi-a", 1, null);
            Rollout r = new Rollout("r-4", "web", "1.0.0", "all", strategy, now, RolloutState.RUNNING, null, now, 0,
                    WaveState.DONE, now, 0, List.of(a));
            List<String> published = new java.util.ArrayList<>();

            assertThatThrownBy(() -> store.inTransaction(() -> {
                store.saveRollout(r);
                store.appendAudit(new AuditEntry(now, "engine", "rollout.create", "r-4", null));
                store.afterCommit(() -> published.add("rolled back"));
                throw new IllegalStateException("the decision failed");
            })).isInstanceOf(IllegalStateException.class);
            assertThat(store.findRollout("r-4")).as("nothing of a rolled back transaction is stored").isEmpty();
            assertThat(store.audit(10)).isEmpty();
            assertThat(published).as("nor published").isEmpty();
            assertThat(a.unsaved()).as("its devices are still to be written").isTrue();

            store.inTransaction(() -> {
                store.saveRollout(r);
                store.afterCommit(() -> published.add("committed: " + store.findRollout("r-4").isPresent()));
                assertThat(published).as("not before the commit").isEmpty();
            });
            assertThat(published).containsExactly("committed: true");
            assertThat(a.unsaved()).as("saved once committed").isFalse();
            assertThat(store.findRollout("r-4").orElseThrow().devices()).hasSize(1);

            store.afterCommit(() -> published.add("outside a transaction"));
            assertThat(published).as("at once outside a transaction").hasSize(2);
        }
    }

    @Test
    void operatorAccountsAndTheirTokensSurviveAReopenAndEndWithTheAccount() {
        var alice = new dev.turnout.orchestrator.domain.OperatorAccount("alice", dev.turnout.orchestrator.domain.OperatorRole.DEPLOYER,
                "$argon2id$hash-a", now, "admin");
        try (FleetStore store = open()) {
            store.insertOperator(alice);
            store.insertOperator(new dev.turnout.orchestrator.domain.OperatorAccount("bob",
                    dev.turnout.orchestrator.domain.OperatorRole.VIEWER, "$argon2id$hash-b", now, "alice"));
            assertThatThrownBy(() -> store.insertOperator(alice)).isInstanceOf(ConflictException.class);
            store.insertOperatorToken("t-1", "alice", now, now.plusSeconds(60));
            store.insertOperatorToken("t-2", "alice", now, now.plusSeconds(60));
            store.insertOperatorToken("t-3", "bob", now, now.plusSeconds(60));
        }
        try (FleetStore store = open()) {
            assertThat(store.listOperators()).extracting(dev.turnout.orchestrator.domain.OperatorAccount::name).containsExactly("alice", "bob");
            assertThat(store.findOperator("alice")).contains(alice);
            assertThat(store.operatorByToken("t-1", now)).contains(alice);
            assertThat(store.operatorByToken("t-1", now.plusSeconds(60))).as("expired").isEmpty();
            assertThat(store.operatorByToken("nope", now)).isEmpty();
            assertThat(store.deleteOperatorToken("t-1", now)).isTrue();
            assertThat(store.operatorByToken("t-1", now)).isEmpty();
            assertThat(store.operatorByToken("t-2", now)).isPresent();
            // a new password ends every token of that account, none of another's
            assertThat(store.updateOperatorPassword("alice", "$argon2id$hash-a2")).isTrue();
            assertThat(store.operatorByToken("t-2", now)).isEmpty();
            assertThat(store.findOperator("alice").orElseThrow().passwordHash()).isEqualTo("$argon2id$hash-a2");
            assertThat(store.operatorByToken("t-3", now)).isPresent();
            assertThat(store.deleteOperator("bob")).isTrue();
            assertThat(store.operatorByToken("t-3", now)).isEmpty();
            assertThat(store.deleteOperator("bob")).isFalse();
            assertThat(store.updateOperatorPassword("bob", "x")).isFalse();
        }
    }

    @Test
    void aRolloutLeaseHasOneOwnerUntilItExpires() {
        try (FleetStore a = open(); FleetStore b = open()) {
            assertThat(a.claimRollout("r-1", "orch-a", "http://a:8080", now, now.plusSeconds(10))).isTrue();
            assertThat(b.claimRollout("r-1", "orch-b", "http://b:8080", now.plusSeconds(5), now.plusSeconds(15)))
                    .as("taken while it is valid").isFalse();
            assertThat(a.holdsRollout("r-1", "orch-a", now.plusSeconds(5), now.plusSeconds(20))).as("renewed").isTrue();
            assertThat(b.claimRollout("r-1", "orch-b", "http://b:8080", now.plusSeconds(15), now.plusSeconds(25))).isFalse();
            // orch-a stops renewing: once it expired, orch-b takes over and orch-a can no longer renew
            assertThat(b.claimRollout("r-1", "orch-b", "http://b:8080", now.plusSeconds(21), now.plusSeconds(31))).isTrue();
            assertThat(a.holdsRollout("r-1", "orch-a", now.plusSeconds(22), now.plusSeconds(32))).isFalse();
            assertThat(a.rolloutLease("r-1").orElseThrow()).isEqualTo(
                    new RolloutLease("r-1", "orch-b", "http://b:8080", now.plusSeconds(31)));
            a.releaseRollout("r-1", "orch-a");
            assertThat(b.rolloutLease("r-1")).as("only the owner releases").isPresent();
            b.releaseRollout("r-1", "orch-b");
            assertThat(a.rolloutLease("r-1")).isEmpty();
        }
    }

    @Test
    void forwardedReportsAreTakenOnceInOrderByTheirRollout() {
        try (FleetStore a = open(); FleetStore b = open()) {
            a.inTransaction(() -> {
                a.forwardReport("r-1", "pi-1", "status", new byte[] {1}, now);
                a.forwardReport("r-2", "pi-2", "presence", new byte[] {2}, now);
                a.forwardReport("r-1", "pi-3", "status", new byte[] {3}, now.plusMillis(5));
            });
            List<ForwardedReport> taken = b.takeForwardedReports(List.of("r-1"), 100);
            assertThat(taken).extracting(ForwardedReport::deviceId).containsExactly("pi-1", "pi-3");
            assertThat(taken.get(1).payload()).containsExactly(3);
            assertThat(taken.get(1).receivedAt()).isEqualTo(now.plusMillis(5));
            assertThat(b.takeForwardedReports(List.of("r-1"), 100)).isEmpty();
            assertThat(a.takeForwardedReports(List.of("r-1", "r-2"), 100)).extracting(ForwardedReport::kind)
                    .containsExactly("presence");
        }
    }
}
