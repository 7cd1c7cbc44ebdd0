package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * "Why did it fail?" answered from the orchestrator, on real parts (Docker engine, embedded broker, edge daemon):
 * {@code turnout logs} prints a running container's lines (and follows new ones); a release whose container prints known
 * lines and exits fails its check and rolls back, and the ROLLED_BACK report on the wire, {@code turnout device show}
 * and {@code turnout history} carry the last of those lines, bounded to 50 lines and 8 KiB with the newest kept; a device
 * that is offline gives a clear error naming it.
 */
class LogsComeHomeIT {

    /** Printed by the failing release: 70 numbered lines of about 200 bytes (too many lines and too many bytes). */
    private static final String PAD = "-".repeat(180);
    private static final String LAST_WORDS = "fatal: no track power on /dev/ttyACM0 \u2014 Weiche 3 \u2197 blockiert \uD83D\uDE82";

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "e2e-logs-" + run;
    private final String imageRepo = "turnout-e2e/logs-" + run;
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void theOperatorReadsARunningContainersLogAndAFailedReleasesLastLinesFromHome() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX));
        toClose.add(server::close);
        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();
        Operator.Result monitorUser = cli("user", "add", "e2e-logs-monitor-" + run, "--role", "monitor", "--output", "json");
        assertThat(monitorUser.code()).as(monitorUser.toString()).isZero();
        MqttRecorder<StatusEvent> monitor = MqttRecorder.connect(server.brokerUrl(),
                MqttRecorder.Login.as("e2e-logs-monitor-" + run, json.readTree(monitorUser.out()).path("password").asText()),
                (topic, payload) -> StatusEvent.parseFrom(payload), Topics.defaults().status(device));
        toClose.add(monitor);

        release("1.0.0", TestImages.WEB_SPEC.replace("command: [\"/bin/httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]",
                "command: [\"/bin/sh\", \"-c\", \"echo 'web 1.0.0 up'; (sleep 1; echo 'Gleis 1 frei \u2713' >&2) & exec /bin/httpd -f -p 8080 -h /www\"]"));
        String numbers = IntStream.rangeClosed(1, 70).mapToObj(Integer::toString).collect(Collectors.joining(" "));
        release("2.0.0", """
                container:
                  command: ["/bin/sh", "-c", "for i in %s; do echo \\"boot step $i %s\\"; done; sleep 1; echo \\"%s\\" >&2; exit 3"]
                  network: none
                health:
                  exec: ["/bin/wget", "-q", "-O", "-", "http://127.0.0.1:8080/health"]
                  interval: 500ms
                  retries: 3
                  soak: 1s
                """.formatted(numbers, PAD, LAST_WORDS));
        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), work.resolve("edge"));
        toClose.add(edge::close);
        assertThat(deploy("web:1.0.0", "--wait").code()).isZero();

        // turnout logs: the orchestrator asks the device over MQTT, the device reads Docker's log of the running container
        // (stdout, then stderr a second later: Docker reads the two on their own and may swap lines written together)
        Operator.Result logs = cli("logs", device, "web");
        assertThat(logs.code()).as(logs.toString()).isZero();
        assertThat(logs.out()).startsWith("web 1.0.0 up\nGleis 1 frei \u2713\n");
        Thread.sleep(1100); // one request per device per second
        Operator.Result recent = cli("logs", device, "web", "--since", "10m", "--tail", "1", "--timestamps", "--output", "json");
        JsonNode newest = json.readTree(recent.out()).path("lines");
        assertThat(newest).hasSize(1);
        assertThat(newest.get(0).path("time").asText()).matches("\\d{4}-\\d\\d-\\d\\dT.+Z");

        // --follow: asks again every 2 s for the lines after the last one printed; a line the app writes meanwhile shows once
        Thread.sleep(1100);
        String container = containers.running(device).get(0).id();
        java.util.concurrent.CompletableFuture<Operator.Result> following = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> cli("logs", device, "web", "--follow", "--follow-polls", "3"));
        Thread.sleep(1500);
        DockerCli.docker(TestEngines.DEFAULT, "exec", container, "/bin/sh", "-c", "echo 'train 42 left the yard' > /proc/1/fd/1");
        Operator.Result followed = following.get(60, TimeUnit.SECONDS);
        assertThat(followed.code()).as(followed.toString()).isZero();
        assertThat(followed.out()).startsWith("web 1.0.0 up\nGleis 1 frei \u2713\n").endsWith("train 42 left the yard\n");
        assertThat(followed.out().split("web 1.0.0 up", -1)).as("nothing printed twice").hasSize(2);

        // 2.0.0 prints its boot steps, then its last words on stderr (a second later: Docker reads the two streams on their
        // own, a line on one can overtake the lines just before it on the other), then exits: the device rolls back
        Operator.Result failed = deploy("web:2.0.0", "--wait");
        assertThat(failed.code()).as(failed.toString()).isNotZero();
        StatusEvent rolledBack = monitor.await(e -> e.getState() == UpdateState.ROLLED_BACK, Duration.ofSeconds(30));
        assertThat(rolledBack.getVersion()).isEqualTo("2.0.0");
        assertThat(containers.running(device)).extracting(Containers.Container::version).containsExactly("1.0.0");

        // on the wire: the newest lines, whole, within 8 KiB (the 200-byte lines make the byte bound the tighter one)
        String tail = rolledBack.getLogTail();
        List<String> lines = List.of(tail.split("\n"));
        assertThat(tail.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(8192).isGreaterThan(8192 - 220);
        assertThat(lines).hasSizeLessThan(50).hasSizeGreaterThan(30);
        assertThat(lines.get(lines.size() - 1)).isEqualTo(LAST_WORDS);
        assertThat(lines.get(lines.size() - 2)).isEqualTo("boot step 70 " + PAD);
        List<String> printed = new ArrayList<>();
        IntStream.rangeClosed(1, 70).forEach(i -> printed.add("boot step " + i + " " + PAD));
        printed.add(LAST_WORDS);
        assertThat(lines).as("the newest lines, whole and in order").containsExactlyElementsOf(
                printed.subList(printed.size() - lines.size(), printed.size()));
        assertThat(monitor.messages()).filteredOn(e -> e.getState() != UpdateState.ROLLED_BACK)
                .allSatisfy(e -> assertThat(e.getLogTail()).as("only the failure report carries a log").isEmpty());

        // the operator, at home: device show (the app's state) and the history (the failure's entry)
        JsonNode web = appOf();
        assertThat(web.path("state").asText()).isEqualTo("ROLLED_BACK");
        assertThat(web.path("logTail").asText()).isEqualTo(tail);
        Operator.Result shown = cli("device", "show", device);
        assertThat(shown.out()).contains("web ROLLED_BACK HEALTH_CHECK_FAILED at ", "; the last lines of its log:",
                "  | boot step 70 " + PAD + "\n  | " + LAST_WORDS + "\n").doesNotContain("boot step 1 ");
        Operator.Result history = cli("history", "--device", device);
        assertThat(history.out()).containsPattern("web:2\\.0\\.0 ROLLED_BACK HEALTH_CHECK_FAILED seq \\d+\\n(  \\| boot step \\d+ -+\\n)+  \\| "
                + java.util.regex.Pattern.quote(LAST_WORDS) + "\\n");

        // a device that is offline cannot be asked: a clear error at once, naming it
        edge.close();
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> !json.readTree(
                cli("device", "show", device, "--output", "json").out()).path("online").asBoolean());
        Operator.Result offline = cli("logs", device, "web");
        assertThat(offline.code()).isEqualTo(1);
        assertThat(offline.err().strip()).startsWith("turnout: device " + device + " is offline (last seen ")
                .endsWith("it cannot send the log of web now");
    }

    private void release(String version, String spec) throws Exception {
        Path archive = images.build(imageRepo + ":" + version, version, true, work);
        images.remove(imageRepo + ":" + version);
        Path specFile = Files.writeString(work.resolve("web-" + version + ".yaml"), spec);
        Operator.Result created = cli("release", "create", "web:" + version, "--image", images.enginePlatform() + "=" + archive,
                "--spec", specFile.toString());
        assertThat(created.code()).as(created.toString()).isZero();
    }

    private Operator.Result deploy(String release, String... options) {
        List<String> args = new ArrayList<>(List.of("deploy", release, "--target", "device:" + device, "--device-timeout", "1m"));
        args.addAll(List.of(options));
        return cli(args.toArray(String[]::new));
    }

    private JsonNode appOf() throws Exception {
        for (JsonNode a : json.readTree(cli("device", "show", device, "--output", "json").out()).path("apps")) {
            if (a.path("app").asText().equals("web")) {
                return a;
            }
        }
        return json.createObjectNode();
    }

    private Operator.Result cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        for (String version : List.of("1.0.0", "2.0.0")) {
            images.remove(imageRepo + ":" + version);
        }
    }
}
