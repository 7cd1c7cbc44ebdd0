package dev.turnout.packaging;

import dev.turnout.packaging.Commands.Result;

import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The orchestrator's Docker image: {@code packaging/src/image/build-image.sh} (what {@code bin/package} runs) builds
 * it FROM scratch into an archive, {@code docker load} loads it, and it runs as a user would run it: on a volume,
 * answering on the dashboard and the API, its HEALTHCHECK turning healthy, as a non-root user, and keeping its
 * signing key and operator token across a new container on the same volume, that one on an external Mosquitto whose
 * password and ACL files the image wrote (as config/compose.yaml runs them). A read-only or foreign data directory is
 * refused by name. Both compose files pass {@code docker-compose config}, and config/compose.yaml runs: Mosquitto (a
 * stand-in for eclipse-mosquitto made from Debian's, see mosquitto-standin.sh) with the files the image writes, then
 * the orchestrator on it, and a device enrolled afterwards can log in to that Mosquitto.
 * Image names: {@code $TURNOUT_IMAGE_REPO} (default {@code turnout/server}); containers and volumes carry that name.
 */
class ServerImageIT {

    private static final Path TARGET = Path.of("target").toAbsolutePath();
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final String IMAGE_REPO = System.getenv().getOrDefault("TURNOUT_IMAGE_REPO", "turnout/server");
    private static final String PREFIX = IMAGE_REPO.replaceAll("[^a-z0-9]+", "-") + "-it-" + UUID.randomUUID().toString().substring(0, 8);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static String version;
    private static final List<String> containers = new ArrayList<>();
    private static final List<String> volumes = new ArrayList<>();

    @BeforeAll
    static void buildAndLoadTheImage() throws IOException {
        Requirements.dockerEngine();
        for (String tool : List.of("zip", "unzip", "objcopy", "jlink")) {
            Requirements.require(exec(List.of("sh", "-c", "command -v " + tool)).exit() == 0, tool + " (bin/test installs binutils, zip, unzip)");
        }
        try (var dir = Files.newDirectoryStream(TARGET, "turnout_*_all.deb")) {
            String deb = dir.iterator().next().getFileName().toString();
            version = deb.replaceAll("^turnout_(.*)_all\\.deb$", "$1").replace('~', '-');
        }
        Path archive = TARGET.resolve("turnout-server-image.tar");
        long start = System.nanoTime();
        Result build = exec(List.of(REPO.resolve("packaging/src/image/build-image.sh").toString(), archive.toString(), version));
        assertThat(build.exit()).as(build.out()).isZero();
        System.out.printf("server image: built in %.1f s (build-image.sh)%n%s%n", (System.nanoTime() - start) / 1e9, build.out());
        // what a user does with the archive: load it into an engine that has never seen the image
        exec(List.of("docker", "rmi", IMAGE_REPO + ":" + version, IMAGE_REPO + ":latest"));
        String loaded = run("docker", "load", "-i", archive.toString());
        assertThat(loaded).contains("Loaded image: " + IMAGE_REPO + ":" + version, "Loaded image: " + IMAGE_REPO + ":latest");
        long size = Long.parseLong(run("docker", "image", "inspect", "-f", "{{.Size}}", IMAGE_REPO + ":" + version).strip());
        System.out.printf("server image: %s:%s %.1f MB, archive %.1f MiB%n", IMAGE_REPO, version, size / 1e6, Files.size(archive) / 1048576.0);
        assertThat(run("docker", "image", "inspect", "-f", "{{.Config.User}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}}",
                IMAGE_REPO + ":latest")).contains("10001 ", "\"8080/tcp\"", "\"1883/tcp\"", "\"/var/lib/turnout\"");
    }

    @AfterAll
    static void removeContainersAndVolumes() {
        for (String container : containers) {
            exec(List.of("docker", "rm", "-f", container));
        }
        for (String volume : volumes) {
            exec(List.of("docker", "volume", "rm", "-f", volume));
        }
    }

    @Test
    void runsHealthyAsNonRootAndKeepsItsKeyAndTokenOnItsVolume() throws Exception {
        Requirements.require("0".equals(run("id", "-u").strip()), "root (the test hands a directory to uid 10001)");
        Requirements.mosquitto();
        String volume = PREFIX + "-data";
        volumes.add(volume);
        int httpPort = Ports.free();
        int mqttPort = Ports.free();

        double baseline = hostStartSeconds();
        String first = startServer(volume, httpPort, "--mqtt-port " + mqttPort, null, baseline);
        String keyId = keyId(httpPort);
        String token = readToken(first);
        assertThat(token).hasSizeGreaterThan(20);

        // the dashboard and the API, which wants the operator token
        HttpResponse<String> dashboard = get(httpPort, "/", null);
        assertThat(dashboard.statusCode()).isEqualTo(200);
        assertThat(dashboard.body()).containsIgnoringCase("<html").contains("Turnout");
        assertThat(get(httpPort, "/api/v1/devices", null).statusCode()).isEqualTo(401);
        HttpResponse<String> devices = get(httpPort, "/api/v1/devices", token);
        assertThat(devices.statusCode()).as(devices.body()).isEqualTo(200);

        // the JVM runs as turnout (10001), in the group mosquitto too, as the kernel sees it
        String pid = run("docker", "inspect", "-f", "{{.State.Pid}}", first).strip();
        String status = Files.readString(Path.of("/proc", pid, "status"));
        assertThat(status).containsPattern("(?m)^Uid:\\s+10001\\s+10001\\s+10001\\s+10001$")
                .containsPattern("(?m)^Gid:\\s+10001\\s").containsPattern("(?m)^Groups:.*\\b1883\\b");
        assertThat(Files.readString(Path.of("/proc", pid, "cmdline")).replace('\0', ' ')).contains("ImageEntrypoint server");

        // a new container on the same volume (an upgrade does this), now on an external Mosquitto as compose.yaml runs it:
        // the image writes Mosquitto's password and ACL files (a one-shot `broker mosquitto-config`, then the server
        // keeps them current), and the server logs in with the identity it keeps on its volume
        run("docker", "stop", "-t", "30", first);
        Path mosquittoFiles = Files.createTempDirectory(TARGET, "image-mosquitto");
        run("chown", "10001:1883", mosquittoFiles.toString());
        run("chmod", "750", mosquittoFiles.toString());
        String once = PREFIX + "-files";
        containers.add(once);
        run("docker", "run", "--name", once, "--network", "none", "-v", volume + ":/var/lib/turnout",
                "-v", mosquittoFiles + ":/mosquitto/turnout", IMAGE_REPO + ":" + version, "broker", "mosquitto-config", "--out", "/mosquitto/turnout");
        assertThat(run("stat", "-c", "%a %u:%g", mosquittoFiles.resolve("turnout.passwd").toString()).strip()).isEqualTo("640 10001:1883");
        try (Mosquitto mosquitto = Mosquitto.start(mosquittoFiles.resolveSibling(mosquittoFiles.getFileName() + "-broker"), port ->
                Mosquitto.listener(port) + "user root\nallow_anonymous false\npersistence false\n"
                        + "password_file " + mosquittoFiles.resolve("turnout.passwd") + "\nacl_file " + mosquittoFiles.resolve("turnout.acl") + "\n")) {
            String second = startServer(volume, httpPort, "--broker-url " + mosquitto.url() + " --mosquitto-config /mosquitto/turnout",
                    mosquittoFiles + ":/mosquitto/turnout", baseline);
            assertThat(keyId(httpPort)).isEqualTo(keyId);
            assertThat(readToken(second)).isEqualTo(token);
            assertThat(get(httpPort, "/api/v1/devices", token).statusCode()).isEqualTo(200);
            HttpResponse<String> server = get(httpPort, "/api/v1/server", null);
            assertThat(server.body()).contains("\"brokerUrl\":\"" + mosquitto.url() + "\"");
            assertThat(Files.readString(mosquitto.log())).contains("as turnout-orchestrator-" + keyId);
        }
    }

    @Test
    void aReadOnlyOrForeignDataDirectoryIsRefusedByName() throws IOException {
        Requirements.require("0".equals(run("id", "-u").strip()), "root (the test hands a directory to uid 10001)");
        Path readOnly = Files.createTempDirectory(TARGET, "image-ro");
        run("chown", "10001:10001", readOnly.toString());
        Result ro = runOnce(readOnly + ":/var/lib/turnout:ro");
        assertThat(ro.exit()).as(ro.out()).isEqualTo(2);
        assertThat(ro.out()).contains("turnout: the data directory /var/lib/turnout is on a read-only file system", "mount it read-write");

        Path foreign = Files.createTempDirectory(TARGET, "image-root");
        run("chmod", "755", foreign.toString());
        Result owned = runOnce(foreign + ":/var/lib/turnout");
        assertThat(owned.exit()).as(owned.out()).isEqualTo(2);
        assertThat(owned.out()).contains("turnout: the data directory /var/lib/turnout is not writable by this process (uid 10001, gid 10001;"
                + " the directory belongs to uid 0, gid 0, mode rwxr-xr-x): give it to this user (e.g. chown -R 10001:10001 /var/lib/turnout)");
        // nothing was written into either
        try (var a = Files.list(readOnly); var b = Files.list(foreign)) {
            assertThat(a).isEmpty();
            assertThat(b).isEmpty();
        }
    }

    @Test
    void composeFilesAreValid() {
        Requirements.require(exec(List.of("sh", "-c", "command -v docker-compose")).exit() == 0, "docker-compose (bin/test installs it)");
        for (String file : List.of("compose.yaml", "compose.embedded.yaml")) {
            Result ok = exec(List.of("env", "TURNOUT_ADVERTISE_HOST=central.example", "docker-compose", "-f",
                    REPO.resolve("config").resolve(file).toString(), "config"));
            assertThat(ok.exit()).as(file + "\n" + ok.out()).isZero();
            assertThat(ok.out()).contains("image: turnout/server:latest", "turnout-data:/var/lib/turnout:rw", "restart: unless-stopped",
                    "--advertise-host central.example");
            Result missing = exec(List.of("env", "-u", "TURNOUT_ADVERTISE_HOST", "docker-compose", "-f",
                    REPO.resolve("config").resolve(file).toString(), "config", "-q"));
            assertThat(missing.exit()).isNotZero();
            assertThat(missing.out()).contains("set TURNOUT_ADVERTISE_HOST to the name or address devices use for this host");
        }
    }

    @Test
    void composeRunsTheOrchestratorOnMosquittoAndMosquittoLearnsNewDevices() throws Exception {
        Requirements.require(exec(List.of("sh", "-c", "command -v docker-compose")).exit() == 0, "docker-compose (bin/test installs it)");
        Requirements.mosquitto();
        Requirements.busybox();
        String standin = PREFIX + "-mosquitto:2";
        run("bash", REPO.resolve("packaging/src/test/resources/mosquitto-standin.sh").toString(), standin);
        int httpPort = Ports.free();
        int mqttPort = Ports.free();
        Map<String, String> env = Map.of("COMPOSE_PROJECT_NAME", PREFIX + "-compose", "COMPOSE_FILE", REPO.resolve("config/compose.yaml").toString(),
                "TURNOUT_IMAGE", IMAGE_REPO, "TURNOUT_VERSION", version, "MOSQUITTO_IMAGE", standin,
                "TURNOUT_ADVERTISE_HOST", "central.turnout.test", "TURNOUT_HTTP_PORT", String.valueOf(httpPort),
                "TURNOUT_MQTT_PORT", String.valueOf(mqttPort));
        try {
            long start = System.nanoTime();
            Result up = exec(List.of("docker-compose", "up", "-d"), env);
            assertThat(up.exit()).as(up.out()).isZero();
            String turnout = exec(List.of("docker-compose", "ps", "-q", "turnout"), env).out().strip();
            await("compose's turnout healthy").atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofMillis(500)).until(() ->
                    run("docker", "inspect", "-f", "{{.State.Health.Status}}", turnout).strip().equals("healthy"));
            System.out.printf("server image: docker-compose up (Mosquitto, then the orchestrator) to healthy in %.1f s%n", (System.nanoTime() - start) / 1e9);
            assertThat(get(httpPort, "/api/v1/health", null).statusCode()).isEqualTo(200);
            assertThat(get(httpPort, "/api/v1/server", null).body()).contains("\"brokerUrl\":\"tcp://central.turnout.test:" + mqttPort + "\"");

            // a device enrolled now: the orchestrator rewrites Mosquitto's password file, Mosquitto rereads it (SIGHUP)
            Result enroll = exec(List.of("docker-compose", "exec", "-T", "turnout", "java", "-XX:TieredStopAtLevel=1", "-jar",
                    "/opt/turnout/turnout.jar", "device", "enroll", "pi-1", "--out", "/tmp/pi-1.yaml"), env);
            assertThat(enroll.exit()).as(enroll.out()).isZero();
            Path config = Files.createTempFile(TARGET, "pi-1", ".yaml");
            run("docker", "cp", turnout + ":/tmp/pi-1.yaml", config.toString());
            String password = Files.readString(config).lines().filter(l -> l.startsWith("mqttPassword:"))
                    .map(l -> l.substring("mqttPassword:".length()).strip().replace("\"", "").replace("'", "")).findFirst().orElseThrow();
            Files.delete(config);
            // the device's login through the published port: refused until the reload, then let in (nothing to read yet)
            await("Mosquitto admits pi-1").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1)).until(() ->
                    subscribeOnce(mqttPort, "pi-1", password).contains("Timed out"));
            assertThat(subscribeOnce(mqttPort, "pi-1", password + "x")).contains("not authorised");
        } finally {
            Result down = exec(List.of("docker-compose", "down", "-v", "-t", "20"), env);
            exec(List.of("docker", "rmi", standin));
            assertThat(down.exit()).as(down.out()).isZero();
        }
    }

    /** mosquitto_sub as the device would log in, reading its desired-state topic for two seconds. */
    private static String subscribeOnce(int port, String device, String password) {
        return exec(List.of("mosquitto_sub", "-h", "127.0.0.1", "-p", String.valueOf(port), "-i", device, "-u", device, "-P", password,
                "-t", "turnout/v1/devices/" + device + "/desired", "-C", "1", "-W", "2")).out();
    }

    /**
     * Starts the image on the host's network (this engine has no default bridge) and waits until its API answers,
     * then until Docker says healthy; prints both times and the first as a ratio to {@code baseline}.
     */
    private static String startServer(String volume, int httpPort, String flags, String extraMount, double baseline) {
        String name = PREFIX + "-server-" + containers.size();
        containers.add(name);
        long start = System.nanoTime();
        List<String> command = new ArrayList<>(List.of("docker", "run", "-d", "--name", name, "--network", "host", "--health-interval", "2s",
                "-e", "TURNOUT_SERVER_ARGS=--http-port " + httpPort + " --advertise-host 127.0.0.1 " + flags,
                "-v", volume + ":/var/lib/turnout"));
        if (extraMount != null) {
            command.addAll(List.of("-v", extraMount));
        }
        command.add(IMAGE_REPO + ":" + version);
        run(command.toArray(String[]::new));
        await("container " + name + " answering").atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (run("docker", "inspect", "-f", "{{.State.Status}}", name).strip().equals("exited")) {
                throw new AssertionError("the container exited: " + exec(List.of("docker", "logs", name)).out());
            }
            return healthAnswers(httpPort);
        });
        double answering = (System.nanoTime() - start) / 1e9;
        await("container " + name + " healthy").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() ->
                run("docker", "inspect", "-f", "{{.State.Health.Status}}", name).strip().equals("healthy"));
        System.out.printf("server image: %s start to API answering %.1f s (%.2fx the same jar on the host's JVM: %.1f s),"
                + " to Docker's healthy %.1f s (checks every 2 s)%n", name, answering, answering / baseline, baseline,
                (System.nanoTime() - start) / 1e9);
        return name;
    }

    /** The baseline: the orchestrator's jar on this machine's JVM, started to API answering, on a fresh data directory. */
    private static double hostStartSeconds() throws IOException, InterruptedException {
        int httpPort = Ports.free();
        Path data = Files.createTempDirectory(TARGET, "image-baseline");
        Path log = data.resolveSibling(data.getFileName() + ".log");
        Process server = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC",
                "-Djava.io.tmpdir=" + data, "-jar", REPO.resolve("orchestrator/target/turnout.jar").toString(), "server", "--data",
                data.resolve("data").toString(), "--http-port", String.valueOf(httpPort), "--mqtt-port", String.valueOf(Ports.free()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long start = System.nanoTime();
            await("the orchestrator on the host answering").atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofMillis(200)).until(() -> {
                if (!server.isAlive()) {
                    throw new AssertionError("the orchestrator on the host exited: " + Files.readString(log));
                }
                return healthAnswers(httpPort);
            });
            return (System.nanoTime() - start) / 1e9;
        } finally {
            server.destroy();
            if (!server.waitFor(30, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
            exec(List.of("rm", "-rf", data.toString()));
        }
    }

    private static boolean healthAnswers(int port) {
        try {
            return get(port, "/api/v1/health", null).statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (Exception e) {
            return false;
        }
    }

    /** The image run once in the foreground on {@code mount}, as a user's first try would be. */
    private static Result runOnce(String mount) {
        String name = PREFIX + "-once-" + containers.size();
        containers.add(name);
        return exec(List.of("docker", "run", "--name", name, "--network", "none", "-v", mount, IMAGE_REPO + ":" + version));
    }

    private static String readToken(String container) throws IOException {
        Path copy = Files.createTempFile(TARGET, "operator", ".token");
        run("docker", "cp", container + ":/var/lib/turnout/operator.token", copy.toString());
        try {
            return Files.readString(copy).strip();
        } finally {
            Files.delete(copy);
        }
    }

    private static String keyId(int httpPort) throws Exception {
        HttpResponse<String> server = get(httpPort, "/api/v1/server", null);
        assertThat(server.statusCode()).as(server.body()).isEqualTo(200);
        return server.body().replaceAll("(?s).*\"keyId\"\\s*:\\s*\"([^\"]+)\".*", "$1");
    }

    private static HttpResponse<String> get(int port, String path, String token) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String run(String... command) {
        Result result = exec(List.of(command));
        assertThat(result.exit()).as(String.join(" ", command) + "\n" + result.out()).isZero();
        return result.out();
    }

    private static Result exec(List<String> command) {
        return exec(command, Map.of());
    }

    /** Runs a command with stderr merged into stdout, bounded by ten minutes (a cold image build under load). */
    private static Result exec(List<String> command, Map<String, String> env) {
        Map<String, String> all = new java.util.HashMap<>(env);
        all.putIfAbsent("TURNOUT_IMAGE_REPO", IMAGE_REPO);
        return Commands.run(command, all, null, java.time.Duration.ofMinutes(10));
    }
}
