package dev.turnout.edge.store;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.proto.rules.TrustMark;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Release;
import dev.turnout.proto.UpdateState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

class FileStateStoreTest {

    @TempDir
    Path dir;

    @Test
    void appRecordSurvivesAReload() {
        Release v1 = Release.newBuilder().setApp("web").setVersion("1.0.0").build();
        Release v2 = Release.newBuilder().setApp("web").setVersion("2.0.0").build();
        AppDesired target = AppDesired.newBuilder().setApp("web").setRelease(v2).setPhase(Phase.ACTIVATE).setRolloutId("r-9").build();
        AppRecord record = new AppRecord("web", UpdateState.VERIFYING, target, v1, null, 7, "r-9", "c1", "", "c2",
                Reason.HEALTH_CHECK_FAILED, "probe failed");
        new FileStateStore(dir).saveApp(record);

        FileStateStore reloaded = new FileStateStore(dir);
        assertThat(reloaded.loadApp("web")).contains(record);
        assertThat(reloaded.loadApps()).containsExactly(record);
        assertThat(reloaded.loadApp("other")).isEmpty();
    }

    @Test
    void theBootAndTheSoaksStartSurviveAReloadAndARecordWrittenWithoutThemReadsAsAnUnknownBoot() throws IOException {
        AppRecord verifying = AppRecord.idle("web").withState(UpdateState.VERIFYING).onBoot("d972ed30-53a5-44f3-aae6-bd7d6193a6af", 615_686_753_759L);
        new FileStateStore(dir).saveApp(verifying);
        assertThat(new FileStateStore(dir).loadApp("web")).contains(verifying);

        // written by a daemon from before boot ids were saved: judged as after a reboot
        Files.writeString(dir.resolve("apps/old.json"), "{\"app\": \"old\", \"state\": \"VERIFYING\"}");
        AppRecord old = new FileStateStore(dir).loadApp("old").orElseThrow();
        assertThat(old.bootId()).isEmpty();
        assertThat(old.soakStartNanos()).isZero();
    }

    @Test
    void enumsAreStoredByName() throws IOException {
        new FileStateStore(dir).saveApp(AppRecord.idle("web").withState(UpdateState.ROLLED_BACK));
        assertThat(Files.readString(dir.resolve("apps/web.json"))).contains("\"ROLLED_BACK\"");
    }

    @Test
    void trustMarkIsReplacedAtomicallyWithoutLeftovers() throws IOException {
        FileStateStore store = new FileStateStore(dir);
        assertThat(store.loadTrust()).isEqualTo(TrustMark.NONE);
        store.saveTrust(new TrustMark(3, 1000));
        store.saveTrust(new TrustMark(4, 2000));
        assertThat(new FileStateStore(dir).loadTrust()).isEqualTo(new TrustMark(4, 2000));
        store.saveTrust(new TrustMark(5, 3000, java.util.Map.of("web", "2.0.0", "db", "1.1.0")));
        assertThat(new FileStateStore(dir).loadTrust()).isEqualTo(new TrustMark(5, 3000, java.util.Map.of("web", "2.0.0", "db", "1.1.0")));
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("trust.json");
        }
    }

    @Test
    void overwritingKeepsOneFilePerApp() throws IOException {
        FileStateStore store = new FileStateStore(dir);
        store.saveApp(AppRecord.idle("web"));
        store.saveApp(AppRecord.idle("web").withState(UpdateState.DOWNLOADING));
        try (Stream<Path> files = Files.list(dir.resolve("apps"))) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("web.json");
        }
        assertThat(store.loadApp("web").orElseThrow().state()).isEqualTo(UpdateState.DOWNLOADING);
    }
}
