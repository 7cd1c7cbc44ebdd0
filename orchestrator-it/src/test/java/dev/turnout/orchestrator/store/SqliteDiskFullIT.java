package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.Tmpfs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 20's fault matrix, "orchestrator disk full": the store's data directory on a real 2 MiB
 * tmpfs (mounted by the test, so it needs root: skipped without, failed when {@code CI=true}),
 * filled by another file until the kernel says ENOSPC. Writes are then refused with a
 * {@link StoreException} that says the disk is full; a transaction that does not fit is refused and
 * leaves nothing half written; everything committed before stays readable; once space returns the same
 * store writes again, and a reopened store holds every committed row and no other.
 */
class SqliteDiskFullIT {

    private static final Instant T0 = Instant.parse("2026-12-06T06:00:00Z");

    @TempDir
    Path work;

    private Tmpfs disk;

    @AfterEach
    void unmount() throws Exception {
        if (disk != null) {
            disk.close();
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aFullDiskRefusesWritesWithAClearErrorLosesNothingCommittedAndWritingResumesWhenSpaceReturns() throws Exception {
        Path mounted = work.resolve("disk");
        disk = Tmpfs.mount(mounted, "2m");
        Requirements.require(disk != null, "root, to mount a 2 MiB tmpfs (mount -t tmpfs -o size=2m tmpfs DIR)");
        Path data = mounted.resolve("data");
        Path filler = mounted.resolve("filler");
        int committed = 0;

        try (SqliteFleetStore store = SqliteFleetStore.open(data)) {
            store.insertDevice(device("pi-1"));
            store.appendAudit(entry(committed++));

            Tmpfs.fill(filler);
            StoreException refused = null;
            for (int i = 0; i < 5_000 && refused == null; i++) {
                try {
                    store.appendAudit(entry(committed));
                    committed++;
                } catch (StoreException e) {
                    refused = e;
                }
            }
            assertThat(refused).as("a write on a full disk").isNotNull();
            assertThat(refused.getMessage()).as("the error names the cause").containsIgnoringCase("full");

            // a transaction that does not fit: refused, neither of its writes is kept. (Its message is not clear
            // today: SQLite rolled the transaction back by itself, so the commit says "cannot commit - no
            // transaction is active"; the ENOSPC is not named.)
            assertThatThrownBy(() -> store.inTransaction(() -> {
                store.insertDevice(device("pi-2"));
                store.appendAudit(new AuditEntry(T0, "test", "device.enroll", "pi-2", "x".repeat(256 * 1024)));
            })).isInstanceOf(StoreException.class);
            assertThat(store.listDevices()).extracting(Device::id).containsExactly("pi-1");
            assertThat(store.audit(100_000)).as("audit entries readable while the disk is full").hasSize(committed);

            // space returns: the same store writes again
            Files.delete(filler);
            store.insertDevice(device("pi-2"));
            store.appendAudit(entry(committed++));
            assertThat(store.listDevices()).extracting(Device::id).containsExactlyInAnyOrder("pi-1", "pi-2");
            assertThat(store.audit(100_000)).hasSize(committed);
        }

        try (SqliteFleetStore reopened = SqliteFleetStore.open(data)) {
            assertThat(reopened.listDevices()).extracting(Device::id).containsExactlyInAnyOrder("pi-1", "pi-2");
            List<AuditEntry> audit = reopened.audit(100_000);
            assertThat(audit).as("every committed audit entry, and no other").hasSize(committed);
            assertThat(audit).extracting(AuditEntry::detail).doesNotContain("x".repeat(256 * 1024));
        }
    }

    private static Device device(String id) {
        return new Device(id, Map.of("site", "attic"), List.of(), T0, false, null, null);
    }

    private static AuditEntry entry(int n) {
        return new AuditEntry(T0.plusSeconds(n), "test", "device.status", "pi-1", "web:1.0.0 ACTIVE seq " + n + " " + "p".repeat(900));
    }
}
