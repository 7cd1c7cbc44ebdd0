package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.AppDesired;
import dev.turnout.proto.DesiredState;
import dev.turnout.proto.Phase;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Mosquitto;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 20's fault matrix, "duplicated, reordered and stale reports": a real orchestrator on a real
 * Mosquitto, two scripted devices, and status reports crafted and published on a device's own
 * status topic with its own broker login, while a rollout waits between its waves.
 *
 * <ul>
 *   <li><b>duplicated</b>: the canary's ACTIVE and the other device's STAGED, delivered again;</li>
 *   <li><b>reordered</b>: DOWNLOADING / APPLYING / VERIFYING of a sequence arriving after its outcome;</li>
 *   <li><b>stale</b>: reports of the previous rollout (1.0.0, its sequences and rollout id), published
 *       retained, so the broker hands them to the orchestrator again after it restarts.</li>
 * </ul>
 *
 * Twice: first numbered 0 (an older daemon, which does not number its reports: the engine's own
 * sequence rules must hold them), then with the report numbers a current daemon sends (a
 * duplicate repeats its number; reordered and stale ones have lower numbers and must not reach the
 * inventory either). Both rollout records stay byte for byte as they were, no desired state is sent
 * again, the inventory says what each device runs, and after the approval every device is
 * activated exactly once and the rollout succeeds.
 */
class ReportOrderIT {

    @TempDir
    Path work;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Closer toClose = new Closer();
    private final Map<String, String> passwords = new HashMap<>();
    private TurnoutServer server;

    @AfterEach
    void tearDown() {
        toClose.close();
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void duplicatedReorderedAndStaleReportsChangeNoRecordAndActivateNothingTwice() throws Exception {
        Mosquitto mosquitto = Mosquitto.anonymous(work.resolve("mosquitto"));
        toClose.add(mosquitto);
        Path dataDir = work.resolve("server");
        server = start(dataDir, mosquitto.url());
        toClose.add(() -> {
            if (server != null) {
                server.close();
            }
        });
        PublicKey key = PublicKey.fromBase64(getJson("/api/v1/server").path("publicKey").asText());
        createReleases("1.0.0", "2.0.0");
        Map<String, ScriptedDevice> devices = new HashMap<>();
        for (String id : List.of("ro-a", "ro-b")) {
            enroll(id);
            ScriptedDevice d = new ScriptedDevice(id, passwords.get(id), server.brokerUrl(), Topics.defaults(), key, Set.of());
            toClose.add(d);
            devices.put(id, d);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> countOnline() == 2);

        // the older rollout: 1.0.0 everywhere
        String r1 = rollout("1.0.0", false);
        await().atMost(Duration.ofSeconds(30)).until(() -> state(r1).equals("SUCCEEDED"));

        // the rollout under way: 2.0.0, a canary, then the rest once approved
        String r2 = rollout("2.0.0", true);
        await().atMost(Duration.ofSeconds(30)).until(() -> getJson("/api/v1/rollouts/" + r2).path("reason").asText()
                .equals("waiting for approval to start wave 2"));
        String canaryId = devices.keySet().stream().filter(id -> activationOf(devices.get(id), "2.0.0") != null).findFirst().orElseThrow();
        String otherId = canaryId.equals("ro-a") ? "ro-b" : "ro-a";
        ScriptedDevice canary = devices.get(canaryId);
        ScriptedDevice other = devices.get(otherId);
        await().atMost(Duration.ofSeconds(10)).until(() -> device(canaryId).path("state").asText().equals("ACTIVE")
                && device(otherId).path("state").asText().equals("STAGED"));

        long canaryOld = activationOf(canary, "1.0.0").getSequence();
        long otherOld = activationOf(other, "1.0.0").getSequence();
        long otherOldStage = stageOf(other, "1.0.0").getSequence();
        long canaryNow = activationOf(canary, "2.0.0").getSequence();
        long otherNow = stageOf(other, "2.0.0").getSequence();
        assertThat(activationOf(other, "2.0.0")).as("wave 2 waits for the approval").isNull();

        JsonNode r1Before = getJson("/api/v1/rollouts/" + r1);
        JsonNode r2Before = getJson("/api/v1/rollouts/" + r2);
        int acceptedByCanary = canary.accepted().size();
        int acceptedByOther = other.accepted().size();
        List<String> r1Audit = auditOf(r1);
        List<String> r2Audit = auditOf(r2);

        // true reports as the device sent them (the scripted device numbers none)
        StatusEvent canaryActive = status(canaryId, "2.0.0", UpdateState.ACTIVE, canaryNow, r2, "2.0.0");
        StatusEvent otherStaged = status(otherId, "2.0.0", UpdateState.STAGED, otherNow, r2, "1.0.0");

        for (long numbered : new long[] {0, 1000}) {
            long older = numbered == 0 ? 0 : numbered - 10;
            long oldest = numbered == 0 ? 0 : 10;
            int canaryStatusBefore = auditCount(canaryId, "device.status");
            int otherStatusBefore = auditCount(otherId, "device.status");

            // duplicated: the outcome of each device's last decision, three times over
            for (int i = 0; i < 3; i++) {
                canary.publishStatus(numbered(canaryActive, numbered), false);
                other.publishStatus(numbered(otherStaged, numbered), false);
            }
            // reordered: the steps before those outcomes, arriving after them
            for (UpdateState step : List.of(UpdateState.VERIFYING, UpdateState.APPLYING, UpdateState.DOWNLOADING)) {
                canary.publishStatus(numbered(status(canaryId, "2.0.0", step, canaryNow, r2, "1.0.0"), older), false);
            }
            other.publishStatus(numbered(status(otherId, "2.0.0", UpdateState.DOWNLOADING, otherNow, r2, "1.0.0"), older), false);
            // stale, retained: what the devices reported during the older rollout, and failures of it
            canary.publishStatus(numbered(status(canaryId, "1.0.0", UpdateState.ACTIVE, canaryOld, r1, "1.0.0"), oldest), true);
            canary.publishStatus(numbered(failed(status(canaryId, "1.0.0", UpdateState.ROLLED_BACK, canaryOld, r1, ""),
                    Reason.HEALTH_CHECK_FAILED), oldest), true);
            other.publishStatus(numbered(failed(status(otherId, "1.0.0", UpdateState.FAILED, otherOldStage, r1, ""),
                    Reason.DOWNLOAD_FAILED), oldest), false);
            other.publishStatus(numbered(status(otherId, "1.0.0", UpdateState.ACTIVE, otherOld, r1, "1.0.0"), oldest), true);
            // and the true outcome once more: the reports of one device are handled in order, so once it is
            // recorded everything before it was handled
            canary.publishStatus(numbered(canaryActive, numbered), false);
            other.publishStatus(numbered(otherStaged, numbered), false);

            // unnumbered reports all reach the inventory (and its audit trail); numbered ones only if not older
            int canaryExpected = canaryStatusBefore + (numbered == 0 ? 3 + 3 + 2 + 1 : 3 + 1);
            int otherExpected = otherStatusBefore + (numbered == 0 ? 3 + 1 + 2 + 1 : 3 + 1);
            await().atMost(Duration.ofSeconds(20)).until(() -> auditCount(canaryId, "device.status") >= canaryExpected
                    && auditCount(otherId, "device.status") >= otherExpected);
            assertThat(auditCount(canaryId, "device.status")).as("reports of %s recorded", canaryId).isEqualTo(canaryExpected);
            assertThat(auditCount(otherId, "device.status")).as("reports of %s recorded", otherId).isEqualTo(otherExpected);
            assertNothingChanged(r1, r1Before, r1Audit, r2, r2Before, r2Audit);
            assertThat(canary.accepted()).as("desired states sent to the canary").hasSize(acceptedByCanary);
            assertThat(other.accepted()).as("desired states sent to the other device").hasSize(acceptedByOther);
            assertReportedState(canaryId, "2.0.0", "2.0.0", "ACTIVE");
            assertReportedState(otherId, "1.0.0", "2.0.0", "STAGED");
        }
        // a newer report than all of those, and the stale ones the broker kept: older numbers, ignored
        canary.publishStatus(numbered(status(canaryId, "1.0.0", UpdateState.ACTIVE, canaryOld, r1, "1.0.0"), 20), true);
        other.publishStatus(numbered(status(otherId, "1.0.0", UpdateState.ACTIVE, otherOld, r1, "1.0.0"), 20), true);

        // the orchestrator restarts: the broker hands it the retained stale reports again
        server.close();
        server = start(dataDir, mosquitto.url());
        assertThat(state(r2)).isEqualTo("RUNNING");
        Thread.sleep(2_000); // retained messages arrive right after the subscription; give them time to be handled
        assertNothingChanged(r1, r1Before, r1Audit, r2, r2Before, r2Audit);
        assertThat(canary.accepted()).as("desired states sent to the canary after the restart").hasSize(acceptedByCanary);
        assertThat(other.accepted()).as("desired states sent to the other device after the restart").hasSize(acceptedByOther);
        assertReportedState(canaryId, "2.0.0", "2.0.0", "ACTIVE");
        assertReportedState(otherId, "1.0.0", "2.0.0", "STAGED");

        // the rollout goes on as its policy says, and nothing was applied twice
        assertThat(post("/api/v1/rollouts/" + r2 + "/approve", "").statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(30)).until(() -> state(r2).equals("SUCCEEDED"));
        assertThat(getJson("/api/v1/rollouts/" + r1)).as("the older rollout's record").isEqualTo(r1Before);
        for (JsonNode d : getJson("/api/v1/rollouts/" + r2).path("devices")) {
            assertThat(d.path("state").asText()).as(d.toString()).isEqualTo("ACTIVE");
            assertThat(d.path("message").asText("")).as(d.toString()).doesNotContain("late");
        }
        for (ScriptedDevice d : devices.values()) {
            assertThat(d.running()).isEqualTo("2.0.0");
            assertThat(d.accepted().stream().filter(s -> isActivationOf(s, "2.0.0")).count()).as("activations of 2.0.0").isEqualTo(1);
            assertThat(d.accepted()).as("stage + activate of each release, nothing more").hasSize(4);
        }
        assertThat(auditOf(r2).stream().filter(e -> e.startsWith("rollout.state SUCCEEDED")).count()).isEqualTo(1);
        assertThat(auditOf(r1)).isEqualTo(r1Audit);
    }

    private void assertNothingChanged(String r1, JsonNode r1Before, List<String> r1Audit, String r2, JsonNode r2Before,
                                      List<String> r2Audit) throws Exception {
        assertThat(getJson("/api/v1/rollouts/" + r1)).as("the older rollout's record").isEqualTo(r1Before);
        assertThat(getJson("/api/v1/rollouts/" + r2)).as("the record of the rollout under way").isEqualTo(r2Before);
        assertThat(auditOf(r1)).as("audit entries of the older rollout").isEqualTo(r1Audit);
        assertThat(auditOf(r2)).as("audit entries of the rollout under way").isEqualTo(r2Audit);
    }

    /** What the inventory ({@code GET /api/v1/devices/ID}) says of app web. */
    private void assertReportedState(String deviceId, String running, String version, String state) throws Exception {
        JsonNode app = getJson("/api/v1/devices/" + deviceId).path("apps").get(0);
        assertThat(app.path("runningVersion").asText()).as("%s runs", deviceId).isEqualTo(running);
        assertThat(app.path("state").asText()).as("%s reported state", deviceId).isEqualTo(state);
        assertThat(app.path("desiredVersion").asText()).as("%s desired", deviceId).isEqualTo(version);
    }

    private static StatusEvent status(String deviceId, String version, UpdateState state, long sequence, String rolloutId,
                                      String running) {
        return StatusEvent.newBuilder().setDeviceId(deviceId).setApp("web").setVersion(version).setState(state)
                .setSequence(sequence).setRolloutId(rolloutId).setRunningVersion(running).setTimestampMs(1_700_000_000_000L).build();
    }

    private static StatusEvent failed(StatusEvent e, Reason reason) {
        return e.toBuilder().setReason(reason).setMessage("crafted: " + reason).build();
    }

    private static StatusEvent numbered(StatusEvent e, long reportSeq) {
        return e.toBuilder().setReportSeq(reportSeq).build();
    }

    private static DesiredState activationOf(ScriptedDevice d, String version) {
        return d.accepted().stream().filter(s -> isActivationOf(s, version)).findFirst().orElse(null);
    }

    private static DesiredState stageOf(ScriptedDevice d, String version) {
        return d.accepted().stream().filter(s -> s.getAppsList().stream()
                .anyMatch(a -> a.getPhase() == Phase.STAGE && a.getRelease().getVersion().equals(version))).findFirst().orElseThrow();
    }

    private static boolean isActivationOf(DesiredState s, String version) {
        for (AppDesired a : s.getAppsList()) {
            if (a.getPhase() == Phase.ACTIVATE && a.getRelease().getVersion().equals(version)) {
                return true;
            }
        }
        return false;
    }

    private TurnoutServer start(Path dataDir, String brokerUrl) throws Exception {
        return TurnoutServer.start(new ServerOptions(dataDir, 0, 0, "127.0.0.1", brokerUrl, "127.0.0.1", Topics.DEFAULT_PREFIX));
    }

    private void enroll(String id) throws Exception {
        HttpResponse<String> response = post("/api/v1/devices", "{\"id\":\"" + id + "\"}");
        assertThat(response.statusCode()).as(response.body()).isEqualTo(201);
        passwords.put(id, ScriptedDevice.passwordOf(json.readTree(response.body()).path("config").asText()));
    }

    private void createReleases(String... versions) throws Exception {
        for (String version : versions) {
            HttpResponse<String> uploaded = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/artifacts"))
                            .header("Authorization", "Bearer " + server.operatorToken())
                            .POST(HttpRequest.BodyPublishers.ofByteArray(DockerSaveArchives.of("demo/web:" + version, version).bytes())).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(uploaded.statusCode()).as(uploaded.body()).isEqualTo(201);
            String digest = json.readTree(uploaded.body()).path("digest").asText();
            HttpResponse<String> created = post("/api/v1/releases", """
                    {"app":"web","version":"%s","images":[{"platform":"linux/arm64","digest":"%s"}],
                     "spec":{"container":{"command":["/bin/httpd"],"restart":"unless-stopped"}}}""".formatted(version, digest));
            assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        }
    }

    private String rollout(String version, boolean approveEachWave) throws Exception {
        HttpResponse<String> created = post("/api/v1/rollouts", """
                {"app":"web","version":"%s","target":"all","waves":"1,100%%","onFailure":"pause","deviceTimeout":"60s",
                 "approveEachWave":%s}""".formatted(version, approveEachWave));
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        return json.readTree(created.body()).path("id").asText();
    }

    private String state(String rolloutId) throws Exception {
        return getJson("/api/v1/rollouts/" + rolloutId).path("state").asText();
    }

    /** The device's entry in the newest rollout. */
    private JsonNode device(String deviceId) throws Exception {
        JsonNode newest = getJson("/api/v1/rollouts").path("rollouts").get(0);
        for (JsonNode d : newest.path("devices")) {
            if (d.path("id").asText().equals(deviceId)) {
                return d;
            }
        }
        throw new AssertionError("no device " + deviceId + " in " + newest);
    }

    private long countOnline() throws Exception {
        long online = 0;
        for (JsonNode d : getJson("/api/v1/devices").path("devices")) {
            online += d.path("online").asBoolean() ? 1 : 0;
        }
        return online;
    }

    /** "action detail" of the audit entries about {@code subject}, oldest first. */
    private List<String> auditOf(String subject) throws Exception {
        List<String> entries = new java.util.ArrayList<>();
        for (JsonNode e : getJson("/api/v1/audit?subject=" + URLEncoder.encode(subject, StandardCharsets.UTF_8)).path("entries")) {
            entries.add(0, e.path("action").asText() + " " + e.path("detail").asText() + " @" + e.path("at").asText());
        }
        return entries;
    }

    private int auditCount(String subject, String action) throws Exception {
        return (int) auditOf(subject).stream().filter(e -> e.startsWith(action + " ")).count();
    }

    private JsonNode getJson(String path) throws Exception {
        return json.readTree(http.send(HttpRequest.newBuilder(URI.create(server.url() + path))
                .header("Authorization", "Bearer " + server.operatorToken()).build(), HttpResponse.BodyHandlers.ofString()).body());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + server.operatorToken())
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
