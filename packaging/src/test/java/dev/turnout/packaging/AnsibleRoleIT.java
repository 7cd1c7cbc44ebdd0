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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Ansible role of deploy/ansible (docs/install.md, "Ansible"): {@code ansible-playbook --syntax-check} and
 * ansible-lint on the example playbook, then the example playbook itself against the real orchestrator (its jar, as a
 * process, with {@code --edge-package} the .deb this module built) for an inventory of two hosts. Both are this
 * machine ({@code ansible_connection=local}), each with {@code turnout_edge_root} a throw-away root that dpkg
 * installs into (the one-line install's {@code TURNOUT_ROOT}) and no service start. Then: both enrolled with their
 * labels and groups, their configs written 0600, the package installed; a second run changes nothing, a changed
 * host var relabels the device without enrolling it again; {@code --check} enrolls nothing; a wrong token stops
 * before anything changes; no secret in the output.
 */
class AnsibleRoleIT {

    private static final Path TARGET = Path.of("target").toAbsolutePath();
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final Path ANSIBLE = REPO.resolve("deploy/ansible");
    private static final Pattern RECAP = Pattern.compile("^(\\S+)\\s+: ok=(\\d+)\\s+changed=(\\d+)\\s+unreachable=(\\d+)\\s+failed=(\\d+)",
            Pattern.MULTILINE);

    private final List<Process> started = new ArrayList<>();
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

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
    void examplePlaybookPassesSyntaxCheckAndLint() {
        requireAnsible();
        Result syntax = run(List.of("ansible-playbook", "--syntax-check", "-i", "inventory.example.yml", "playbook.yml"), ansibleEnv(""), ANSIBLE);
        assertThat(syntax.exit()).as(syntax.out()).isZero();
        Requirements.require(Files.isExecutable(Path.of("/usr/bin/ansible-lint")), "ansible-lint (apt-get install --no-install-recommends ansible-lint)");
        Result lint = run(List.of("ansible-lint", "--offline", "--nocolor", "-p", "playbook.yml", "roles/turnout_edge"), ansibleEnv(""), ANSIBLE);
        assertThat(lint.exit()).as(lint.out()).isZero();
    }

    @Test
    void theRoleEnrollsAndInstallsEveryHostOnceAndASecondRunChangesNothing() throws Exception {
        requireAnsible();
        Requirements.require("0".equals(run(List.of("id", "-u"), Map.of(), null).out().strip()), "root (dpkg --root installs files owned by root)");
        Path edgeDeb;
        try (var dir = Files.newDirectoryStream(TARGET, "turnout-edge_*_all.deb")) {
            edgeDeb = dir.iterator().next();
        }
        Path work = Files.createTempDirectory(Files.createDirectories(TARGET.resolve("tmp")), "ansible");
        Path data = Files.createDirectories(work.resolve("orchestrator"));
        int httpPort = Ports.free();
        Path jar = REPO.resolve("orchestrator/target/turnout.jar");
        Process server = start(List.of("java", "-Djava.io.tmpdir=" + work, "-jar", jar.toString(), "server", "--data", data.toString(),
                "--http-port", Integer.toString(httpPort), "--mqtt-port", Integer.toString(Ports.free()), "--bind", "127.0.0.1",
                "--advertise-host", "127.0.0.1", "--broker-persistence", "memory", "--edge-package", edgeDeb.toString()),
                work.resolve("server.log"));
        String base = "http://127.0.0.1:" + httpPort;
        Commands.awaitLog(work.resolve("server.log"), "is running", server, Duration.ofSeconds(90));
        String token = Files.readString(data.resolve("operator.token")).strip();

        Path rootA = throwAwayRoot(work.resolve("root-a"));
        Path rootB = throwAwayRoot(work.resolve("root-b"));
        Path inventory = work.resolve("inventory.yml");
        String hostB = "      turnout_edge_root: " + rootB + "\n      turnout_edge_device_id: attic-door\n";
        Files.writeString(inventory, inventory(base, rootA, hostB));

        // first run: both hosts enrolled and installed
        Result first = run(List.of("ansible-playbook", "-i", inventory.toString(), "playbook.yml"), ansibleEnv(token), ANSIBLE);
        System.out.println("first run:\n" + first.out());
        assertThat(first.exit()).as(first.out()).isZero();
        Map<String, int[]> recap = recap(first.out());
        assertThat(recap).containsOnlyKeys("pi-ans-1", "pi-ans-2");
        assertThat(recap.get("pi-ans-1")[1]).as("changed on pi-ans-1").isPositive();
        assertThat(recap.get("pi-ans-2")[1]).as("changed on pi-ans-2").isPositive();

        JsonNode one = device(base, token, "pi-ans-1");
        assertThat(one.path("labels").toString()).isEqualTo("{\"floor\":\"2\",\"site\":\"attic\"}");
        assertThat(one.path("groups").toString()).isEqualTo("[\"canary\"]");
        JsonNode door = device(base, token, "attic-door");
        assertThat(door.path("labels").toString()).isEqualTo("{\"site\":\"attic\"}");
        assertThat(device(base, token, "pi-ans-2")).as("pi-ans-2 goes by turnout_edge_device_id").isNull();
        for (Map.Entry<Path, String> host : Map.of(rootA, "pi-ans-1", rootB, "attic-door").entrySet()) {
            Path config = host.getKey().resolve("etc/turnout/edge.yaml");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(config, LinkOption.NOFOLLOW_LINKS))).isEqualTo("rw-------");
            String text = Files.readString(config);
            assertThat(text).contains("deviceId: " + host.getValue(), "mqttUsername: " + host.getValue(), "mqttPassword: ",
                    "orchestratorUrl: " + base);
            String secret = text.lines().filter(l -> l.startsWith("mqttPassword:")).findFirst().orElseThrow().substring(13).strip();
            assertThat(first.out()).as("the broker secret is not in the output").doesNotContain(secret);
            assertThat(run(List.of("dpkg", "--root=" + host.getKey(), "-s", "turnout-edge"), Map.of(), null).out())
                    .contains("Status: install ok installed");
            assertThat(host.getKey().resolve("usr/share/turnout-edge/turnout-edge.jar")).isRegularFile();
            assertThat(host.getKey().resolve("usr/bin/turnout-edge")).isExecutable();
        }
        assertThat(first.out()).as("no token or install link in the output").doesNotContain(token).doesNotContain("/install/");
        String configA = Files.readString(rootA.resolve("etc/turnout/edge.yaml"));

        // second run: nothing to do
        Result second = run(List.of("ansible-playbook", "-i", inventory.toString(), "playbook.yml"), ansibleEnv(token), ANSIBLE);
        assertThat(second.exit()).as(second.out()).isZero();
        assertThat(recap(second.out()).values()).as(second.out()).allSatisfy(r -> assertThat(r[1]).as("changed").isZero());
        assertThat(Files.readString(rootA.resolve("etc/turnout/edge.yaml"))).isEqualTo(configA);

        // a new label in the host vars: the device is relabelled, not enrolled again
        Files.writeString(inventory, inventory(base, rootA, hostB + "      turnout_edge_labels: {site: attic, role: door}\n"
                + "      turnout_edge_groups: [doors]\n"));
        Result relabel = run(List.of("ansible-playbook", "-i", inventory.toString(), "playbook.yml"), ansibleEnv(token), ANSIBLE);
        assertThat(relabel.exit()).as(relabel.out()).isZero();
        assertThat(recap(relabel.out()).get("pi-ans-1")[1]).isZero();
        assertThat(recap(relabel.out()).get("pi-ans-2")[1]).as(relabel.out()).isEqualTo(2);
        door = device(base, token, "attic-door");
        assertThat(door.path("labels").toString()).isEqualTo("{\"role\":\"door\",\"site\":\"attic\"}");
        assertThat(door.path("groups").toString()).isEqualTo("[\"doors\"]");
        assertThat(Files.readString(rootA.resolve("etc/turnout/edge.yaml"))).isEqualTo(configA);

        // --check says what it would do and does nothing; a wrong token: a clear error, nothing enrolled or installed
        Path rootC = throwAwayRoot(work.resolve("root-c"));
        Path third = work.resolve("inventory-c.yml");
        Files.writeString(third, inventory(base, rootC, null).replace("pi-ans-1", "pi-ans-3"));
        Result check = run(List.of("ansible-playbook", "--check", "-i", third.toString(), "playbook.yml"), ansibleEnv(token), ANSIBLE);
        assertThat(check.exit()).as(check.out()).isZero();
        assertThat(check.out()).contains("pi-ans-3 would be enrolled as pi-ans-3");
        assertThat(device(base, token, "pi-ans-3")).as("--check enrolls nothing").isNull();
        Result refused = run(List.of("ansible-playbook", "-i", third.toString(), "playbook.yml"), ansibleEnv("not-a-token"), ANSIBLE);
        assertThat(refused.exit()).isNotZero();
        assertThat(refused.out()).contains("answered 401", "nothing changed").doesNotContain("not-a-token");
        assertThat(device(base, token, "pi-ans-3")).isNull();
        assertThat(rootC.resolve("etc/turnout/edge.yaml")).doesNotExist();
        // no token at all: stopped before anything is asked
        Result noToken = run(List.of("ansible-playbook", "-i", third.toString(), "playbook.yml"), ansibleEnv(""), ANSIBLE);
        assertThat(noToken.exit()).isNotZero();
        assertThat(noToken.out()).contains("turnout_api_token (or TURNOUT_TOKEN", "nothing changed");

        run(List.of("rm", "-rf", "--one-file-system", work.toString()), Map.of(), null);
    }

    private static void requireAnsible() {
        Requirements.require(Files.isExecutable(Path.of("/usr/bin/ansible-playbook")),
                "ansible-playbook (apt-get install --no-install-recommends ansible-core)");
    }

    /** Two local hosts (the second one only when {@code hostB} is given), each installing into its own root, no service start. */
    private static String inventory(String orchestrator, Path rootA, String hostB) {
        return "turnout_edge:\n"
                + "  vars:\n"
                + "    ansible_connection: local\n"
                + "    ansible_python_interpreter: /usr/bin/python3\n"
                + "    ansible_become: false\n" // the test runs as root already
                + "    turnout_orchestrator_url: " + orchestrator + "\n"
                + "    turnout_edge_start: false\n"
                + "    turnout_edge_labels: {site: attic}\n"
                + "  hosts:\n"
                + "    pi-ans-1:\n"
                + "      turnout_edge_root: " + rootA + "\n"
                + "      turnout_edge_labels: {site: attic, floor: 2}\n"
                + "      turnout_edge_groups: [canary]\n"
                + (hostB == null ? "" : "    pi-ans-2:\n" + hostB);
    }

    private Map<String, String> ansibleEnv(String token) {
        Path tmp = TARGET.resolve("tmp/ansible-home");
        Map<String, String> env = new HashMap<>();
        env.put("TURNOUT_TOKEN", token);
        env.put("TURNOUT_SERVER", "");
        env.put("ANSIBLE_NOCOLOR", "1");
        env.put("ANSIBLE_LOCAL_TEMP", tmp.resolve("local").toString());
        env.put("ANSIBLE_REMOTE_TEMP", tmp.resolve("remote").toString());
        env.put("ANSIBLE_RETRY_FILES_ENABLED", "false");
        env.put("ANSIBLE_PIPELINING", "true"); // modules over the connection's stdin, not copied to a file first: faster
        env.put("ANSIBLE_DEPRECATION_WARNINGS", "false");
        env.put("ANSIBLE_LOCALHOST_WARNING", "false");
        return env;
    }

    /** Per host of an ansible-playbook's recap: ok, changed, unreachable, failed. */
    private static Map<String, int[]> recap(String out) {
        Map<String, int[]> hosts = new HashMap<>();
        Matcher m = RECAP.matcher(out.substring(Math.max(0, out.lastIndexOf("PLAY RECAP"))));
        while (m.find()) {
            hosts.put(m.group(1), new int[] {Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4)),
                Integer.parseInt(m.group(5))});
        }
        return hosts;
    }

    /** The device as {@code GET /api/v1/devices/ID} shows it, or null when the orchestrator does not know it. */
    private JsonNode device(String base, String token, String id) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/devices/" + id))
                .header("Authorization", "Bearer " + token).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 404) {
            return null;
        }
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }

    private static Path throwAwayRoot(Path root) throws IOException {
        Files.createDirectories(root.resolve("var/lib/dpkg/info"));
        Files.createDirectories(root.resolve("var/lib/dpkg/updates"));
        Files.createFile(root.resolve("var/lib/dpkg/status"));
        Files.createFile(root.resolve("var/lib/dpkg/available"));
        return root;
    }

    private Process start(List<String> command, Path log) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        started.add(p);
        return p;
    }

    /** Runs a command with stderr merged into stdout, bounded by three minutes. */
    private static Result run(List<String> command, Map<String, String> env, Path dir) {
        return Commands.run(command, env, dir, java.time.Duration.ofMinutes(3));
    }
}
