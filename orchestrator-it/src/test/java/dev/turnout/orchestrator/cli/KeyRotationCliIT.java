package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ScriptedDevice;
import dev.turnout.orchestrator.cli.CliFleet.Result;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Signing-key rotation (issue 21) from the {@code turnout} command line against a real orchestrator (HTTP API,
 * embedded HiveMQ CE, SQLite) with scripted devices that judge desired states by the devices' trust rules: the new
 * key is announced under the old one's signature, activation waits for every device (or --force), desired states
 * signed by the new key are accepted, and a retired key stops being trusted.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class KeyRotationCliIT {

    @TempDir
    static Path work;

    private static CliFleet fleet;
    private final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void startServer() throws Exception {
        fleet = CliFleet.start(work, new String[][] {{"kr-a", "site=attic"}, {"kr-b", "site=attic"}, {"kr-c", "site=shed"}});
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void devicesMoveToANewKeyAndOneThatWasAwayHoldsTheActivationBack() throws Exception {
        Result v1 = cli("deploy", "web:1.0.0", "--target", "all", "--waves", "100%", "--wait");
        assertThat(v1.code()).as(v1.toString()).isZero();
        ScriptedDevice a = fleet.devices.get(0);
        ScriptedDevice b = fleet.devices.get(1);
        ScriptedDevice away = fleet.devices.get(2);
        String oldKey = keys().path("activeKeyId").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> keys().path("keys").get(0).path("devicesTrusting").asInt() == 3);
        away.close(); // the shed's Pi is switched off before the rotation

        Result rotate = cli("key", "rotate");
        assertThat(rotate.code()).as(rotate.toString()).isZero();
        String newKey = rotate.out().lines().findFirst().orElseThrow().replaceAll("announced signing key (\\S+);.*", "$1");
        assertThat(rotate.out()).contains("key " + oldKey + " keeps signing until `turnout key activate`");
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            assertThat(a.trustedKeyIds()).containsExactlyInAnyOrder(newKey, oldKey);
            assertThat(b.trustedKeyIds()).containsExactlyInAnyOrder(newKey, oldKey);
        });
        assertThat(a.rejected()).as("the announcement is signed by the key the devices trust").isZero();
        JsonNode during = keys();
        assertThat(during.path("notTrustingNext")).extracting(JsonNode::asText).containsExactly("kr-c");
        JsonNode server = json.readTree(URI.create(fleet.url() + "/api/v1/server").toURL().openStream());
        assertThat(server.path("trustedKeys").findValuesAsText("keyId")).as("what a device enrolled now is told to trust")
                .containsExactly(oldKey, newKey);
        assertThat(server.path("keyId").asText()).isEqualTo(oldKey);

        Result refused = cli("key", "activate");
        assertThat(refused.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(refused.err()).contains("1 device(s) have not said they trust key " + newKey, "kr-c", "--force");
        assertThat(keys().path("activeKeyId").asText()).as("nothing changed").isEqualTo(oldKey);

        Result forced = cli("key", "activate", "--force");
        assertThat(forced.code()).as(forced.toString()).isZero();
        assertThat(forced.out()).contains("signing key " + newKey + " is active");
        Result v2 = cli("deploy", "web:2.0.0", "--target", "label:site=attic", "--waves", "100%", "--wait");
        assertThat(v2.code()).as("signed by the new key, accepted: " + v2).isZero();
        assertThat(a.running()).isEqualTo("2.0.0");
        assertThat(a.rejected() + b.rejected()).isZero();

        Result retire = cli("key", "retire", oldKey);
        assertThat(retire.code()).as(retire.toString()).isZero();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            assertThat(a.trustedKeyIds()).containsExactly(newKey);
            assertThat(b.trustedKeyIds()).containsExactly(newKey);
        });
        List<String> roles = keys().path("keys").findValuesAsText("role");
        assertThat(roles).containsExactly("active");
        assertThat(cli("key", "retire", oldKey).err()).contains("no previous key " + oldKey);
        assertThat(cli("history").out()).contains("key.rotate", "key.activate", "key.retire");
    }

    private JsonNode keys() throws Exception {
        Result list = cli("key", "list", "-o", "json");
        assertThat(list.code()).as(list.toString()).isZero();
        return json.readTree(list.out());
    }

    private static Result cli(String... args) {
        return fleet.cli(args);
    }
}
