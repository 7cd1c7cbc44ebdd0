package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.cli.CliFleet.Result;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Day-2 operations (issue 17) from the {@code turnout} command line against a real orchestrator
 * (HTTP API, embedded HiveMQ CE, SQLite) with scripted devices: changing a device's labels and
 * groups, choosing the canary, and replacing a rollout under way. A server of its own: the devices
 * it enrolls would join the rollouts of other tests.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DayTwoCliIT {

    @TempDir
    static Path work;

    private static CliFleet fleet;
    private final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void startServer() throws Exception {
        fleet = CliFleet.start(work, new String[][] {{"d2-a", "site=attic"}, {"d2-b", "site=attic"}, {"d2-c", "site=cellar"}});
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void labelsAndGroupsChangeAndTheCanaryIsChosenAndARolloutUnderWayIsReplaced() throws Exception {
        // labels: the cellar device moves to the attic; a dry run targets by the new labels at once
        Result relabeled = run(fleet.signedIn(work, "carol", "admin"), "device", "label", "d2-c", "site=attic", "tier=2", "--server", fleet.url());
        assertThat(relabeled.code()).as(relabeled.toString()).isZero();
        assertThat(relabeled.out().strip()).isEqualTo("d2-c labels: site=attic,tier=2");
        assertThat(cli("device", "label", "d2-c", "--remove", "tier").out().strip()).isEqualTo("d2-c labels: site=attic");
        assertThat(cli("device", "label", "d2-c", "--remove", "tier").out().strip()).isEqualTo("d2-c labels: site=attic (unchanged)");
        Result grouped = cli("device", "group", "d2-c", "--add", "canary,yard");
        assertThat(grouped.out().strip()).as(grouped.toString()).isEqualTo("d2-c groups: canary,yard");
        JsonNode regrouped = json.readTree(cli("device", "group", "d2-c", "--remove", "yard", "-o", "json").out());
        assertThat(regrouped.path("device").path("groups").toString()).isEqualTo("[\"canary\"]");
        assertThat(regrouped.path("changed").asBoolean()).isTrue();
        assertThat(cli("device", "show", "d2-c").out()).containsPattern("labels\\s+site=attic").containsPattern("groups\\s+canary");

        // refusals: unknown device exits 1 like other unknown things, bad labels 1 with the rule, nothing given 2
        Result unknown = cli("device", "label", "d2-zz", "site=attic");
        assertThat(unknown.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(unknown.err().strip()).isEqualTo("turnout: device d2-zz is not enrolled");
        assertThat(cli("device", "group", "d2-zz", "--add", "yard").code()).isEqualTo(ExitCodes.ERROR);
        Result badKey = cli("device", "label", "d2-c", "a:b=c");
        assertThat(badKey.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(badKey.err()).contains("label key 'a:b' is invalid");
        assertThat(cli("device", "label", "d2-c", "novalue").code()).isEqualTo(ExitCodes.USAGE);
        assertThat(cli("device", "label", "d2-c").code()).isEqualTo(ExitCodes.USAGE);
        assertThat(cli("device", "group", "d2-c").code()).isEqualTo(ExitCodes.USAGE);
        assertThat(cli("history", "--device", "d2-c").out()).contains("device.labels", "carol", "{site=cellar} -> {site=attic, tier=2}",
                "device.groups");

        // the canary: first wave, whatever its id
        Result plan = cli("deploy", "web:1.0.0", "--target", "label:site=attic", "--waves", "1,100%", "--canary", "d2-c", "--dry-run");
        assertThat(plan.code()).as(plan.toString()).isZero();
        assertThat(plan.out()).containsPattern("(?m)^1\\s+1\\s+d2-c$").containsPattern("(?m)^2\\s+2\\s+d2-a,d2-b$");
        Result notTargeted = cli("deploy", "web:1.0.0", "--target", "device:d2-a,d2-b", "--canary", "d2-c,d2-x", "--dry-run");
        assertThat(notTargeted.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(notTargeted.err().strip()).isEqualTo("turnout: canary must be targeted devices: d2-x is not enrolled; d2-c is not"
                + " among the devices target 'device:d2-a,d2-b' selects");

        Result v1 = cli("deploy", "web:1.0.0", "--target", "all", "--waves", "1,100%", "--canary", "d2-b", "--wait");
        assertThat(v1.code()).as(v1.toString()).isZero();
        String v1Id = firstId(v1.out());
        JsonNode v1Rollout = json.readTree(cli("rollout", "status", v1Id, "-o", "json").out());
        assertThat(v1Rollout.path("waves").get(0).path("devices").toString()).isEqualTo("[\"d2-b\"]");

        // a rollout under way (its canary done, waiting for approval) is replaced only when asked to
        Result v2 = cli("deploy", "web:2.0.0", "--target", "all", "--waves", "1,100%", "--approve-each-wave");
        assertThat(v2.code()).as(v2.toString()).isZero();
        String v2Id = v2.out().strip();
        await().atMost(Duration.ofSeconds(20)).until(() -> json.readTree(cli("rollout", "status", v2Id, "-o", "json").out())
                .path("reason").asText().startsWith("waiting for approval"));
        Result refused = cli("deploy", "web:3.0.0", "--target", "all");
        assertThat(refused.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(refused.err()).contains("rollout " + v2Id + " of web:2.0.0 is still RUNNING", "deploy --supersede");
        assertThat(refused.err().strip().lines()).hasSize(1);

        Result v3 = cli("deploy", "web:3.0.0", "--target", "all", "--supersede", "--wait");
        assertThat(v3.code()).as(v3.toString()).isZero();
        String v3Id = firstId(v3.out());
        assertThat(v3.out()).contains("succeeded: 3 device(s) active on web:3.0.0");
        assertThat(v3.err().strip()).isEqualTo("superseded rollout " + v2Id + " (web:2.0.0): it ended ABORTED");

        Result replaced = cli("rollout", "status", v2Id);
        assertThat(replaced.code()).as("a superseded rollout ended without its release everywhere").isEqualTo(ExitCodes.ROLLOUT_FAILED);
        assertThat(replaced.out()).contains("ABORTED", "superseded by rollout " + v3Id + " (web:3.0.0)")
                .containsPattern("d2-a\\s+1\\s+ACTIVE").containsPattern("d2-b\\s+2\\s+SKIPPED").containsPattern("d2-c\\s+2\\s+SKIPPED");
        assertThat(cli("history", "--app", "web", "-o", "json").out()).contains("rollout.supersede");
        assertThat(cli("devices").out()).containsPattern("d2-a\\s+\\S+\\s+yes\\s+-\\s+web\\s+3.0.0");
    }

    @Test
    void anOperatorLogsInActsWithinTheirRoleChangesTheirPasswordAndIsLoggedOutOrRevoked() throws Exception {
        String url = fleet.url();
        Map<String, String> vera = fleet.signedIn(work, "vera", "viewer");
        Path config = Path.of(vera.get("TURNOUT_CLI_CONFIG"));
        String stored = java.nio.file.Files.readString(config);
        assertThat(stored).contains("server: \"" + url + "\"", "user: \"vera\"", "token:").doesNotContain("vera-long-password");
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(java.nio.file.Files.getPosixFilePermissions(config))).isEqualTo("rw-------");

        // a viewer reads; what needs another role is refused with the reason, and nothing changes
        assertThat(run(vera, "devices", "--server", url).code()).isZero();
        Result enroll = run(vera, "device", "enroll", "d2-x", "--server", url);
        assertThat(enroll.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(enroll.err()).contains("vera is a viewer", "needs the admin role");
        assertThat(cli("devices").out()).doesNotContain("d2-x");
        assertThat(run(vera, "operator", "list", "--server", url).err()).contains("needs the admin role");
        Result listed = cli("operator", "list");
        assertThat(listed.out()).containsPattern("admin\\s+admin\\s+\\(the operator token\\)").containsPattern("vera\\s+viewer");

        // her own password, with the current one; her token ends, a new login works
        Result wrongCurrent = fleet.runWithInput(vera, "not-her-password\nvera-newer-password\n", "operator", "passwd", "vera", "--password-stdin",
                "--server", url);
        assertThat(wrongCurrent.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(wrongCurrent.err()).contains("current password is wrong");
        Result passwd = fleet.runWithInput(vera, "vera-long-password\nvera-newer-password\n", "operator", "passwd", "vera", "--password-stdin",
                "--server", url);
        assertThat(passwd.code()).as(passwd.toString()).isZero();
        Result ended = run(vera, "devices", "--server", url);
        assertThat(ended.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(ended.err()).contains("refused the token from " + config);
        Result again = fleet.runWithInput(vera, "vera-newer-password\n", "login", "--user", "vera", "--password-stdin", "--server", url);
        assertThat(again.code()).as(again.toString()).isZero();
        assertThat(again.out()).contains("signed in to " + url + " as vera (viewer)");
        Result wrong = fleet.runWithInput(vera, "vera-long-password\n", "login", "--user", "vera", "--password-stdin", "--server", url);
        assertThat(wrong.err()).contains("wrong name or password");
        assertThat(java.nio.file.Files.readString(config)).as("a refused login keeps the token").contains("token:");

        // logout ends the token on the server and takes it out of the file
        String token = new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
                .readTree(config.toFile()).path("token").asText();
        assertThat(run(vera, "logout").code()).isZero();
        assertThat(java.nio.file.Files.readString(config)).doesNotContain("token").contains("server:");
        assertThat(run(Map.of("TURNOUT_TOKEN", token), "devices", "--server", url).err()).contains("refused the token from TURNOUT_TOKEN");

        // revoking ends every token of the account at once
        assertThat(fleet.runWithInput(vera, "vera-newer-password\n", "login", "--user", "vera", "--password-stdin", "--server", url).code()).isZero();
        assertThat(run(vera, "devices", "--server", url).code()).isZero();
        assertThat(cli("operator", "revoke", "vera").code()).isZero();
        assertThat(run(vera, "devices", "--server", url).code()).isEqualTo(ExitCodes.ERROR);
        assertThat(cli("history").out()).contains("operator.add", "operator.password", "operator.logout", "operator.revoke");
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
