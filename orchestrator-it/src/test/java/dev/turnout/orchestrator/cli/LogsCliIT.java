package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ScriptedDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code turnout logs} against a real orchestrator and embedded broker, the devices scripted (they answer log requests
 * by the daemon's rules): the lines print, a device that is offline or does not answer is a one-line error naming it
 * (exit 1), floods get 429, viewers 403, and bad input is refused before the device is asked.
 */
class LogsCliIT {

    @TempDir
    Path work;

    private CliFleet fleet;
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void tearDown() throws Exception {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void anOperatorReadsAContainersLogFromHomeAndGetsClearErrorsWhenTheDeviceCannotAnswer() throws Exception {
        fleet = CliFleet.start(work, new String[][] {{"lg-a", "site=attic"}, {"lg-b", "site=attic"}, {"lg-c", "site=attic"}});
        CliFleet.Result deployed = fleet.cli("deploy", "web:1.0.0", "--target", "all", "--wait");
        assertThat(deployed.code()).as(deployed.toString()).isZero();
        ScriptedDevice a = fleet.devices.get(0);

        // the lines, oldest first, control characters shown, not obeyed
        CliFleet.Result logs = fleet.cli("logs", "lg-a", "web");
        assertThat(logs.code()).as(logs.toString()).isZero();
        assertThat(logs.out()).isEqualTo("web 1.0.0 listening on :8080\nweb 1.0.0 ^[[32mhealthy^[[0m\n");
        assertThat(a.logRequestsAnswered()).isEqualTo(1);
        Thread.sleep(1100); // one request per device per second
        CliFleet.Result newest = fleet.cli("logs", "lg-a", "web", "--tail", "1", "--timestamps");
        assertThat(newest.out()).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+Z web 1.0.0 \\^\\[\\[32mhealthy\\^\\[\\[0m\\n");
        Thread.sleep(1100);
        JsonNode answer = json.readTree(fleet.cli("logs", "lg-a", "web", "--output", "json").out());
        assertThat(answer.path("device").asText()).isEqualTo("lg-a");
        assertThat(answer.path("version").asText()).isEqualTo("1.0.0");
        assertThat(answer.path("lines").get(1).path("text").asText()).isEqualTo("web 1.0.0 \u001b[32mhealthy\u001b[0m");
        assertThat(answer.path("lines").get(1).path("stream").asText()).isEqualTo("stdout");

        // follow: polls for the lines after the last one printed; nothing new, nothing printed twice
        Thread.sleep(1100);
        CliFleet.Result followed = fleet.cli("logs", "lg-b", "web", "--follow", "--follow-polls", "2");
        assertThat(followed.code()).as(followed.toString()).isZero();
        assertThat(followed.out()).isEqualTo("web 1.0.0 listening on :8080\nweb 1.0.0 ^[[32mhealthy^[[0m\n");
        assertThat(fleet.devices.get(1).logRequestsAnswered()).isEqualTo(3);

        // an app the device does not have: the device says so
        CliFleet.Result noApp = fleet.cli("logs", "lg-c", "signals");
        assertThat(noApp.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(noApp.err().strip()).isEqualTo("turnout: device lg-c: no app 'signals' on device lg-c");

        // a flood: the second request within a second is refused before anything is sent
        Thread.sleep(1100);
        assertThat(get("/api/v1/devices/lg-c/logs/web", fleet.server.operatorToken()).statusCode()).isEqualTo(200);
        HttpResponse<String> flood = get("/api/v1/devices/lg-c/logs/web", fleet.server.operatorToken());
        assertThat(flood.statusCode()).isEqualTo(429);
        assertThat(flood.headers().firstValue("Retry-After")).contains("1");
        assertThat(flood.body()).contains("device lg-c was asked for a log less than 1 s ago");

        // bad input never reaches a device
        int answered = a.logRequestsAnswered();
        assertThat(fleet.cli("logs", "lg-a", "web", "--tail", "1001").code()).isEqualTo(ExitCodes.USAGE);
        assertThat(get("/api/v1/devices/lg-a/logs/web?tail=0", fleet.server.operatorToken()).statusCode()).isEqualTo(400);
        assertThat(get("/api/v1/devices/lg-a/logs/web?since=yesterday", fleet.server.operatorToken()).statusCode()).isEqualTo(400);
        assertThat(get("/api/v1/devices/lg-none/logs/web", fleet.server.operatorToken()).statusCode()).isEqualTo(404);
        assertThat(a.logRequestsAnswered()).isEqualTo(answered);

        // viewers read device state, not live logs; deployers may
        Map<String, String> viewer = fleet.signedIn(work, "vera", "viewer");
        CliFleet.Result refused = fleet.run(viewer, "logs", "lg-a", "web", "--server", fleet.url());
        assertThat(refused.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(refused.err()).contains("deployer");
        Map<String, String> deployer = fleet.signedIn(work, "dora", "deployer");
        Thread.sleep(1100);
        assertThat(fleet.run(deployer, "logs", "lg-a", "web", "--server", fleet.url()).code()).isZero();

        // a device that does not answer (an old or hung daemon): 504 after 10 s, naming it
        fleet.devices.get(2).answerNoLogRequests(true);
        Thread.sleep(1100);
        long asked = System.nanoTime();
        CliFleet.Result silent = fleet.cli("logs", "lg-c", "web");
        assertThat(Duration.ofNanos(System.nanoTime() - asked)).isBetween(Duration.ofSeconds(9), Duration.ofSeconds(20));
        assertThat(silent.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(silent.err().strip()).startsWith("turnout: device lg-c did not answer within 10 s");

        // a device that is offline: at once, naming it
        ScriptedDevice c = fleet.devices.remove(2);
        c.publishOffline(); // as the broker does with the daemon's last will
        c.close();
        await().atMost(Duration.ofSeconds(20)).until(() -> !json.readTree(fleet.cli("device", "show", "lg-c", "--output", "json").out())
                .path("online").asBoolean());
        CliFleet.Result offline = fleet.cli("logs", "lg-c", "web");
        assertThat(offline.code()).isEqualTo(ExitCodes.ERROR);
        assertThat(offline.err().strip()).startsWith("turnout: device lg-c is offline (last seen ").endsWith("it cannot send the log of web now");
    }

    private HttpResponse<String> get(String path, String token) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(fleet.url() + path)).header("Authorization", "Bearer " + token).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
