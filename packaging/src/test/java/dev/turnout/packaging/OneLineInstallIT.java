package dev.turnout.packaging;

import dev.turnout.packaging.Commands.Result;
import dev.turnout.testsupport.Ports;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The one-line install end to end (docs/install.md, "One line on the Pi"): the real orchestrator (its jar, as a
 * process, with {@code --edge-package} the .deb this module built), the real CLI prints the line, the line runs
 * as printed (curl, sha256sum, sh; {@code sudo} is a pass-through, the test runs as root) with
 * {@code TURNOUT_ROOT} pointing the script's dpkg and files at a throw-away root. Then: the package is installed
 * there, the config written 0600, a second run refuses, the link answers 410, and the installed daemon started
 * with the written config shows online in {@code GET /api/v1/devices}.
 */
class OneLineInstallIT {

    private static final Path TARGET = Path.of("target").toAbsolutePath();
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final Pattern LINE = Pattern.compile("curl -fsSL -o turnout-install\\.sh (http://\\S+/install/[A-Za-z0-9_-]{43})"
            + " && echo '[0-9a-f]{64}  turnout-install\\.sh' \\| sha256sum -c - && sudo sh turnout-install\\.sh");

    private final List<Process> started = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void stopProcesses() throws InterruptedException {
        for (Process p : started) {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void theLineInstallsThePackageWritesTheConfigRefusesASecondRunAndTheDeviceComesOnline() throws Exception {
        Requirements.require("0".equals(run(List.of("id", "-u"), Map.of(), null).out().strip()), "root (dpkg --root installs files owned by root)");
        Requirements.require(Files.isExecutable(Path.of("/usr/bin/curl")), "curl");
        Path edgeDeb;
        try (var dir = Files.newDirectoryStream(TARGET, "turnout-edge_*_all.deb")) {
            edgeDeb = dir.iterator().next();
        }
        Path work = Files.createTempDirectory(Files.createDirectories(TARGET.resolve("tmp")), "one-line");
        Path data = Files.createDirectories(work.resolve("orchestrator"));
        int httpPort = Ports.free();
        int mqttPort = Ports.free();
        Path jar = REPO.resolve("orchestrator/target/turnout.jar");
        Process server = start(List.of("java", "-Djava.io.tmpdir=" + work, "-jar", jar.toString(), "server", "--data", data.toString(),
                "--http-port", Integer.toString(httpPort), "--mqtt-port", Integer.toString(mqttPort), "--bind", "127.0.0.1",
                "--advertise-host", "127.0.0.1", "--broker-persistence", "memory", "--edge-package", edgeDeb.toString()),
                work.resolve("server.log"));
        String base = "http://127.0.0.1:" + httpPort;
        Commands.awaitLog(work.resolve("server.log"), "is running", server, Duration.ofSeconds(90));
        Map<String, String> cliEnv = Map.of("TURNOUT_DATA", data.toString(), "TURNOUT_SERVER", base);

        // refused by the CLI before anything is enrolled: --expires alone, --out with --install-command
        Result expiresAlone = run(List.of("java", "-jar", jar.toString(), "device", "enroll", "pi-line", "--expires", "10m"), cliEnv, null);
        assertThat(expiresAlone.exit()).isNotZero();
        assertThat(expiresAlone.out()).contains("--expires goes with --install-command");
        Result withOut = run(List.of("java", "-jar", jar.toString(), "device", "enroll", "pi-line", "--install-command", "--out",
                work.resolve("pi-line.yaml").toString()), cliEnv, null);
        assertThat(withOut.exit()).isNotZero();
        assertThat(withOut.out()).contains("--out and --install-command do not go together");

        // the CLI prints one line on stdout
        Result enrolled = run(List.of("java", "-jar", jar.toString(), "device", "enroll", "pi-line", "--label", "site=attic",
                "--install-command", "--expires", "10m"), cliEnv, null);
        assertThat(enrolled.exit()).as(enrolled.out()).isZero();
        String line = enrolled.out().lines().filter(l -> l.startsWith("curl ")).findFirst().orElseThrow();
        Matcher m = LINE.matcher(line);
        assertThat(m.matches()).as(line).isTrue();
        String scriptUrl = m.group(1);
        assertThat(scriptUrl).startsWith(base + "/install/");

        // a throw-away root for dpkg, a sudo that runs its command (we are root already)
        Path root = work.resolve("root");
        Files.createDirectories(root.resolve("var/lib/dpkg/info"));
        Files.createDirectories(root.resolve("var/lib/dpkg/updates"));
        Files.createFile(root.resolve("var/lib/dpkg/status"));
        Files.createFile(root.resolve("var/lib/dpkg/available"));
        Path shims = Files.createDirectories(work.resolve("shims"));
        Files.writeString(shims.resolve("sudo"), "#!/bin/sh\nexec \"$@\"\n");
        Files.setPosixFilePermissions(shims.resolve("sudo"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Path pi = Files.createDirectories(work.resolve("pi-home"));
        Map<String, String> piEnv = Map.of("TURNOUT_ROOT", root.toString(), "PATH", shims + ":" + System.getenv("PATH"));

        Result install = run(List.of("sh", "-c", line), piEnv, pi);
        System.out.println("the line:\n" + install.out());
        assertThat(install.exit()).as(install.out()).isZero();
        assertThat(install.out()).contains("turnout-install.sh: OK", "installed the package turnout-edge",
                "wrote " + root + "/etc/turnout/edge.yaml (mode 0600)");
        assertThat(run(List.of("dpkg", "--root=" + root, "-s", "turnout-edge"), Map.of(), null).out()).contains("Status: install ok installed");
        Path config = root.resolve("etc/turnout/edge.yaml");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(config, LinkOption.NOFOLLOW_LINKS))).isEqualTo("rw-------");
        assertThat(Files.readString(config)).contains("deviceId: pi-line", "mqttUsername: pi-line", "mqttPassword: ", "site: attic");
        assertThat(root.resolve("usr/share/turnout-edge/turnout-edge.jar")).isRegularFile();

        // a second run refuses and changes nothing; the link is spent
        String before = Files.readString(config);
        Result again = run(List.of("sh", "turnout-install.sh"), piEnv, pi);
        assertThat(again.exit()).isNotZero();
        assertThat(again.out()).contains("enrolled already", "deviceId: pi-line", "nothing changed");
        assertThat(Files.readString(config)).isEqualTo(before);
        for (String path : List.of("", "/turnout-edge.deb", "/edge.yaml")) {
            HttpResponse<String> gone = http.send(HttpRequest.newBuilder(URI.create(scriptUrl + path)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(gone.statusCode()).as(path).isEqualTo(410);
            assertThat(gone.body()).contains("used already").doesNotContain("mqttPassword");
        }
        Result rerunLine = run(List.of("sh", "-c", line), piEnv, Files.createDirectories(work.resolve("pi-home-2")));
        assertThat(rerunLine.exit()).as("the line again: curl -f stops at 410").isNotZero();

        // the installed daemon, with the written config, against the orchestrator's embedded broker
        Requirements.dockerEngine();
        Process edge = start(List.of(root.resolve("usr/bin/turnout-edge").toString(), "--config", config.toString(),
                "--data", Files.createDirectories(work.resolve("edge-data")).toString()), work.resolve("edge.log"));
        String operatorToken = Files.readString(data.resolve("operator.token")).strip();
        Instant deadline = Instant.now().plus(Duration.ofSeconds(90));
        boolean online = false;
        while (!online && Instant.now().isBefore(deadline) && edge.isAlive()) {
            HttpResponse<String> devices = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/devices"))
                    .header("Authorization", "Bearer " + operatorToken).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode list = new ObjectMapper().readTree(devices.body());
            for (JsonNode d : list.path("devices")) {
                online |= d.path("id").asText().equals("pi-line") && d.path("online").asBoolean();
            }
            if (!online) {
                Thread.sleep(500); // polling the API: nothing to await but the device's presence
            }
        }
        assertThat(online).as("pi-line online; edge log:\n" + Files.readString(work.resolve("edge.log"))).isTrue();

        run(List.of("rm", "-rf", "--one-file-system", work.toString()), Map.of(), null);
    }

    private Process start(List<String> command, Path log) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        started.add(p);
        return p;
    }

    /** Runs a command with stderr merged into stdout, bounded by five minutes. */
    private static Result run(List<String> command, Map<String, String> env, Path dir) {
        return Commands.run(command, env, dir, java.time.Duration.ofMinutes(5));
    }
}
