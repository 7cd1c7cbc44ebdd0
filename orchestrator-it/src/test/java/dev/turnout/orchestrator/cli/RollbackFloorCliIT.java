package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.cli.CliFleet.Result;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ScriptedDevice;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The rollback floor (issue 17) from the {@code turnout} command line against a real orchestrator (HTTP API, embedded
 * HiveMQ CE, SQLite) with scripted devices that judge desired states by the devices' trust rules: {@code app floor}
 * sets and shows it, a rollback or deploy below it is refused before anything is signed or sent, a lower floor needs
 * {@code --force}, and the floor reaches the devices signed with their next desired state.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RollbackFloorCliIT {

    @TempDir
    static Path work;

    private static CliFleet fleet;
    private final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void startServer() throws Exception {
        fleet = CliFleet.start(work, new String[][] {{"fl-a", "site=attic"}, {"fl-b", "site=cellar"}});
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aRollbackBelowTheFloorIsRefusedBeforeAnythingIsSent() throws Exception {
        Result v2 = cli("deploy", "web:2.0.0", "--target", "all", "--waves", "100%", "--wait");
        assertThat(v2.code()).as(v2.toString()).isZero();
        assertThat(cli("app", "floor", "web").out().strip()).isEqualTo("web has no rollback floor");

        Result set = run(fleet.signedIn(work, "dora", "deployer"), "app", "floor", "web", "2.0.0", "--server", fleet.url());
        assertThat(set.code()).as(set.toString()).isZero();
        assertThat(set.out().strip()).isEqualTo("web rollback floor 2.0.0 (was none); devices get it with their next desired state");
        assertThat(cli("app", "floor", "web").out().strip()).isEqualTo("web rollback floor 2.0.0");
        assertThat(cli("app", "floor", "web", "2.0.0").out().strip()).isEqualTo("web rollback floor 2.0.0 (unchanged)");

        int accepted = fleet.devices.stream().mapToInt(d -> d.accepted().size()).sum();
        int rollouts = json.readTree(cli("rollout", "list", "-o", "json").out()).path("rollouts").size();
        Result rollback = cli("rollback", "web", "--to", "1.0.0", "--target", "all");
        assertThat(rollback.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(rollback.err().strip()).isEqualTo("turnout: rollback to web:1.0.0 is below the rollback floor 2.0.0 of web"
                + " (turnout app floor); choose 2.0.0 or newer");
        Result deploy = cli("deploy", "web:1.0.0", "--target", "all");
        assertThat(deploy.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(deploy.err()).contains("deploy of web:1.0.0 is below the rollback floor 2.0.0");
        assertThat(json.readTree(cli("rollout", "list", "-o", "json").out()).path("rollouts")).as("no rollout").hasSize(rollouts);
        assertThat(fleet.devices.stream().mapToInt(d -> d.accepted().size()).sum()).as("nothing sent").isEqualTo(accepted);

        Result lower = cli("app", "floor", "web", "1.0.0");
        assertThat(lower.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(lower.err()).contains("the rollback floor of web is 2.0.0", "--force");
        Result unknown = cli("app", "floor", "web", "9.9.9");
        assertThat(unknown.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(unknown.err()).contains("release web:9.9.9 does not exist");
        assertThat(cli("app", "floor", "web", "--force").code()).isEqualTo(ExitCodes.USAGE);

        Result v3 = cli("deploy", "web:3.0.0", "--target", "all", "--waves", "100%", "--wait");
        assertThat(v3.code()).as(v3.toString()).isZero();
        for (ScriptedDevice d : fleet.devices) {
            List<dev.turnout.proto.DesiredState> seen = d.accepted();
            assertThat(seen.get(seen.size() - 1).getApps(0).getMinVersion()).as("signed floor on " + d).isEqualTo("2.0.0");
        }
        Result toFloor = cli("rollback", "web", "--to", "2.0.0", "--target", "all", "--waves", "100%", "--wait");
        assertThat(toFloor.code()).as("a rollback to the floor itself is allowed: " + toFloor).isZero();

        assertThat(cli("history", "--app", "web").out()).contains("app.floor", "dora", "none -> 2.0.0");
    }

    private static String firstId(String out) {
        return out.lines().filter(l -> l.matches("r-\\S+")).findFirst().orElseThrow();
    }

    private static Result cli(String... args) {
        return fleet.cli(args);
    }

    private static Result run(Map<String, String> env, String... args) {
        return fleet.run(env, args);
    }
}
