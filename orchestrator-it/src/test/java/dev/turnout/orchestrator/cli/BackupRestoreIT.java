package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.app.ScriptedDevice;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TlsOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Backup and restore (issue 21) end to end: a real orchestrator (HTTP API, embedded HiveMQ CE, SQLite)
 * with enrolled scripted devices and releases is backed up over HTTP while it runs; the backup is
 * restored into a new data directory and a new server started on it carries the fleet on: same
 * signing key, same operator token, the devices connect with the broker secrets they had and take a
 * rollout of a release created before the backup, and download its archive with their credentials.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class BackupRestoreIT {

    @TempDir
    Path work;

    private TurnoutServer server;
    private final List<AutoCloseable> devices = new ArrayList<>();
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stop() throws Exception {
        closeDevices();
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aBackupTakenWhileTheServerRunsRestoresAFleetThatCarriesOn() throws Exception {
        server = start(work.resolve("before"));
        String token = server.operatorToken();
        JsonNode info = serverInfo();
        PublicKey key = PublicKey.fromBase64(info.path("publicKey").asText());
        Map<String, String> passwords = new LinkedHashMap<>();
        for (String id : List.of("bk-a", "bk-b")) {
            Result enrolled = cli(token, "device", "enroll", id, "--label", "site=attic");
            assertThat(enrolled.code).as(enrolled.toString()).isZero();
            passwords.put(id, ScriptedDevice.passwordOf(enrolled.out));
        }
        connectDevices(passwords, key);
        Path spec = Files.writeString(work.resolve("spec.yaml"),
                "container:\n  command: [\"/bin/httpd\", \"-f\"]\n  network: none\nhealth:\n  exec: [\"/bin/true\"]\n");
        for (String version : List.of("1.0.0", "2.0.0")) {
            Path archive = work.resolve("web-" + version + ".tar");
            Files.write(archive, DockerSaveArchives.of("demo/web:" + version, version).bytes());
            Result created = cli(token, "release", "create", "web:" + version, "--image", "linux/arm64=" + archive, "--spec", spec.toString());
            assertThat(created.code).as(created.toString()).isZero();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> cli(token, "devices").out.lines().filter(l -> l.contains(" yes")).count() == 2);
        Result v1 = cli(token, "deploy", "web:1.0.0", "--target", "all", "--wait");
        assertThat(v1.code).as(v1.toString()).isZero();
        Result monitor = cli(token, "user", "add", "bk-mon", "--role", "monitor");
        assertThat(monitor.code).as(monitor.toString()).isZero();

        // only the operator takes a backup: a device and a monitor are refused
        assertThat(get("/api/v1/backup", basic("bk-a", passwords.get("bk-a"))).statusCode()).isEqualTo(403);
        assertThat(get("/api/v1/backup", basic("bk-mon", monitor.out.strip())).statusCode()).isEqualTo(403);
        assertThat(get("/api/v1/backup", null).statusCode()).isEqualTo(401);

        // the backup, while the server runs and the devices are connected
        Path backup = work.resolve("backups/turnout.tar.gz");
        Files.createDirectories(backup.getParent());
        Result olga = cli(token, "operator", "add", "olga", "--role", "admin");
        assertThat(olga.code).as(olga.toString()).isZero();
        java.net.http.HttpResponse<String> olgaToken = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create(server.url() + "/api/v1/tokens")).header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"name\":\"olga\",\"password\":\"" + olga.out.strip() + "\"}")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(olgaToken.statusCode()).as(olgaToken.body()).isEqualTo(201);
        Result taken = run(Map.of("TURNOUT_TOKEN", new ObjectMapper().readTree(olgaToken.body()).path("token").asText()), "backup", "--out", backup.toString(),
                "--server", server.url());
        assertThat(taken.code).as(taken.toString()).isZero();
        assertThat(taken.out).contains("wrote " + backup.toAbsolutePath(), "signing key " + info.path("keyId").asText());
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(backup))).isEqualTo("rw-------");
        try (var left = Files.list(backup.getParent())) {
            assertThat(left).containsExactly(backup);
        }
        assertThat(cli(token, "history").out).contains("backup.create", "olga");

        // a damaged backup and a used directory are refused, and nothing is written
        byte[] bytes = Files.readAllBytes(backup);
        bytes[bytes.length / 2] ^= 0x5a;
        Path damaged = Files.write(work.resolve("damaged.tar.gz"), bytes);
        Result refused = run(Map.of(), "restore", damaged.toString(), "--data", work.resolve("never").toString());
        assertThat(refused.code).as(refused.toString()).isEqualTo(ExitCodes.ERROR);
        assertThat(refused.err).contains(damaged.toString()).containsPattern("damaged|truncated").contains("was not changed");
        assertThat(work.resolve("never")).doesNotExist();
        Path truncated = Files.write(work.resolve("truncated.tar.gz"), java.util.Arrays.copyOf(Files.readAllBytes(backup), bytes.length - 100));
        Path used = Files.createDirectories(work.resolve("used"));
        Files.writeString(used.resolve("notes.txt"), "mine");
        assertThat(run(Map.of(), "restore", truncated.toString(), "--data", used.toString(), "--force").code).isEqualTo(ExitCodes.ERROR);
        Result notEmpty = run(Map.of(), "restore", backup.toString(), "--data", used.toString());
        assertThat(notEmpty.code).as(notEmpty.toString()).isEqualTo(ExitCodes.ERROR);
        assertThat(notEmpty.err).contains("is not empty");
        try (var left = Files.list(used)) {
            assertThat(left).containsExactly(used.resolve("notes.txt"));
        }

        // the old server is gone; the backup is restored into a new data directory
        closeDevices();
        server.close();
        server = null;
        Path after = work.resolve("after");
        Result restored = run(Map.of(), "restore", backup.toString(), "--data", after.toString());
        assertThat(restored.code).as(restored.toString()).isZero();
        assertThat(restored.out).contains("restored", "signing key " + info.path("keyId").asText());
        for (String secret : List.of("signing.key", "operator.token", "broker.secret", "turnout.db")) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(after.resolve(secret)))).as(secret).isEqualTo("rw-------");
        }

        // a new server on it carries the fleet on
        server = start(after);
        assertThat(serverInfo().path("keyId").asText()).isEqualTo(info.path("keyId").asText());
        assertThat(server.operatorToken()).isEqualTo(token);
        assertThat(cli(token, "release", "list").out).contains("1.0.0", "2.0.0");
        assertThat(cli(token, "history").out).contains("device.enroll");
        for (Map.Entry<String, String> d : passwords.entrySet()) {
            assertThat(server.brokerAccess().authenticate(d.getKey(), d.getValue().getBytes(StandardCharsets.UTF_8))).as(d.getKey()).isPresent();
            assertThat(get("/api/v1/devices", basic(d.getKey(), d.getValue())).statusCode()).as("known, so forbidden, not unauthorized")
                    .isEqualTo(403);
        }
        assertThat(get("/api/v1/devices", basic("bk-a", "not-" + passwords.get("bk-a"))).statusCode()).isEqualTo(401);
        connectDevices(passwords, key); // MQTT with the broker secrets they had; desired states checked against the old key
        await().atMost(Duration.ofSeconds(20)).until(() -> cli(token, "devices").out.lines().filter(l -> l.contains(" yes")).count() == 2);
        Result v2 = cli(token, "deploy", "web:2.0.0", "--target", "all", "--wait");
        assertThat(v2.code).as(v2.toString()).isZero();
        assertThat(v2.out).contains("succeeded: 2 device(s) active on web:2.0.0");
        String digest = json.readTree(cli(token, "release", "show", "web:2.0.0", "-o", "json").out).path("images").get(0).path("digest").asText();
        HttpResponse<String> download = get("/api/v1/artifacts/" + digest, basic("bk-a", passwords.get("bk-a")));
        assertThat(download.statusCode()).as(download.body()).isEqualTo(200);
    }

    @Test
    void aTlsServersCaAndCertificatesComeBackSoDevicesKeepTrustingIt() throws Exception {
        server = TurnoutServer.start(options(work.resolve("tls-before")).withTls(TlsOptions.generated()));
        String token = server.operatorToken();
        Path pinned = Files.copy(server.caFile(), work.resolve("pinned-ca.pem")); // what devices and the CLI pin
        String serverCertificate = Files.readString(work.resolve("tls-before/tls/server.pem"));
        Path backup = work.resolve("tls.tar.gz");
        Result taken = run(Map.of("TURNOUT_TOKEN", token, "TURNOUT_CA", pinned.toString()), "backup", "--out", backup.toString(),
                "--no-artifacts", "--server", server.url());
        assertThat(taken.code).as(taken.toString()).isZero();
        assertThat(taken.err).contains("the image archives are not in this backup");
        server.close();
        server = null;

        Result restored = run(Map.of(), "restore", backup.toString(), "--data", work.resolve("tls-after").toString());
        assertThat(restored.code).as(restored.toString()).isZero();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(work.resolve("tls-after/tls/ca.key")))).isEqualTo("rw-------");
        server = TurnoutServer.start(options(work.resolve("tls-after")).withTls(TlsOptions.generated()));
        assertThat(Files.readString(server.caFile())).isEqualTo(Files.readString(pinned));
        assertThat(Files.readString(work.resolve("tls-after/tls/server.pem"))).isEqualTo(serverCertificate);
        Result overTls = run(Map.of("TURNOUT_TOKEN", token, "TURNOUT_CA", pinned.toString()), "devices", "--server", server.url());
        assertThat(overTls.code).as("the CLI still trusts the restored server with the CA it pinned: " + overTls).isZero();
    }

    private static ServerOptions options(Path data) {
        return new ServerOptions(data, 0, Ports.free(), "127.0.0.1", null, "127.0.0.1", Topics.DEFAULT_PREFIX);
    }

    private TurnoutServer start(Path data) throws Exception {
        return TurnoutServer.start(options(data));
    }

    private JsonNode serverInfo() throws Exception {
        return json.readTree(get("/api/v1/server", null).body());
    }

    private void connectDevices(Map<String, String> passwords, PublicKey key) throws Exception {
        for (Map.Entry<String, String> d : passwords.entrySet()) {
            devices.add(new ScriptedDevice(d.getKey(), d.getValue(), server.brokerUrl(), Topics.defaults(), key, Set.of()));
        }
    }

    private void closeDevices() throws Exception {
        for (AutoCloseable d : devices) {
            d.close();
        }
        devices.clear();
    }

    private static String basic(String name, String secret) {
        return "Basic " + Base64.getEncoder().encodeToString((name + ":" + secret).getBytes(StandardCharsets.UTF_8));
    }

    private HttpResponse<String> get(String path, String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(server.url() + path)).GET();
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    private Result cli(String token, String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        full.add("--server");
        full.add(server.url());
        return run(Map.of("TURNOUT_TOKEN", token), full.toArray(String[]::new));
    }

    private static Result run(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                new HashMap<>(env), args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
