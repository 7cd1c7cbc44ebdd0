package dev.turnout.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.edge.app.EdgeConfig;
import dev.turnout.edge.app.EdgeDaemon;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Ports;
import dev.turnout.testsupport.Requirements;
import dev.turnout.testsupport.TestEngines;
import dev.turnout.testsupport.TestImages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A fleet on a slow network, on real parts (orchestrator with its embedded broker, the edge daemon on this machine's
 * Docker engine): a bad rate limit is refused and starts nothing; with the orchestrator's only download slot taken, the
 * device's download waits in line (503 + Retry-After) instead of failing; once it runs, at the rollout's rate limit,
 * {@code turnout devices} shows its progress; {@code rollout status}, the history and {@code /metrics} then tell what
 * it moved. About 40 s.
 */
class SlowNetworkIT {

    private static final int PAYLOAD = 24 << 20; // more than loopback's socket buffers hold: a held download keeps its slot
    private static final Pattern PROGRESS = Pattern.compile("DOWNLOADING (\\d+\\.\\d)/(\\d+\\.\\d) MiB (\\d+\\.?\\d*) (KiB|MiB)/s");

    @TempDir
    Path work;

    private final String run = UUID.randomUUID().toString().substring(0, 8);
    private final String device = "pace-slow-" + run;
    private final String imageRef = "pace-e2e/slow-" + run + ":1.0.0";
    private final Closer toClose = new Closer();
    private final TestImages images = new TestImages(TestEngines.DEFAULT);
    private final Containers containers = new Containers(TestEngines.DEFAULT);
    private final ObjectMapper json = new ObjectMapper();
    private TurnoutServer server;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aRateLimitedDownloadWaitsForASlotShowsItsProgressAndCountsWhatItMoved() throws Exception {
        Requirements.dockerEngine();
        Requirements.busybox();
        server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX).withMaxDownloads(1));
        toClose.add(server::close);
        Path config = work.resolve("device.yaml");
        assertThat(cli("device", "enroll", device, "--out", config.toString()).code()).isZero();
        Path archive = images.build(imageRef, "1.0.0", true, work, PAYLOAD);
        images.remove(imageRef); // the daemon loads it from the release's archive
        Path spec = Files.writeString(work.resolve("web.yaml"), TestImages.WEB_SPEC);
        assertThat(cli("release", "create", "web:1.0.0", "--image", images.enginePlatform() + "=" + archive,
                "--spec", spec.toString()).code()).isZero();
        String digest = json.readTree(cli("release", "show", "web:1.0.0", "--output", "json").out())
                .path("images").get(0).path("digest").asText();

        // a rate that is no rate: refused before anything is sent, no rollout exists
        Operator.Result refused = cli("deploy", "web:1.0.0", "--target", "device:" + device, "--rate-limit", "fast");
        assertThat(refused.code()).as(refused.toString()).isEqualTo(2);
        assertThat(refused.err()).contains("--rate-limit 'fast' is not a rate").contains("500KiB/s");
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> badRequest = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/rollouts"))
                .header("Authorization", "Bearer " + server.operatorToken()).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"app\":\"web\",\"version\":\"1.0.0\",\"target\":\"device:" + device
                        + "\",\"rateLimit\":\"500 kilobytes\"}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(badRequest.statusCode()).isEqualTo(400);
        assertThat(badRequest.body()).contains("rateLimit '500 kilobytes' has an unknown unit 'kilobytes'");
        assertThat(json.readTree(cli("rollout", "list", "--output", "json").out()).path("rollouts")).isEmpty();

        // someone holds the only download slot (and reads nothing); the next download is told to come back later
        HttpRequest get = HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/artifacts/" + digest))
                .header("Authorization", "Bearer " + server.operatorToken()).build();
        HttpResponse<InputStream> held = http.send(get, HttpResponse.BodyHandlers.ofInputStream());
        assertThat(held.statusCode()).isEqualTo(200);
        HttpResponse<String> busy = http.send(get, HttpResponse.BodyHandlers.ofString());
        assertThat(busy.statusCode()).isEqualTo(503);
        assertThat(Integer.parseInt(busy.headers().firstValue("Retry-After").orElseThrow())).isBetween(5, 10);
        assertThat(busy.body()).contains("maximum of 1 artifact downloads at once");

        EdgeDaemon edge = EdgeDaemon.start(EdgeConfig.load(config), work.resolve("edge"));
        toClose.add(edge::close);
        await().atMost(Duration.ofSeconds(20)).until(() -> json.readTree(cli("device", "show", device, "--output", "json").out())
                .path("online").asBoolean());
        Operator.Result deployed = cli("deploy", "web:1.0.0", "--target", "device:" + device, "--rate-limit", "4MiB/s",
                "--device-timeout", "2m");
        assertThat(deployed.code()).as(deployed.toString()).isZero();
        String rollout = deployed.out().strip();
        Thread.sleep(1500); // the device asks, is told to wait, and waits
        held.body().close(); // the slot is free again

        List<String> progress = new CopyOnWriteArrayList<>();
        await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(300)).until(() -> {
            String devices = cli("devices").out();
            Matcher m = PROGRESS.matcher(devices);
            if (m.find()) {
                progress.add(m.group());
            }
            return progress.size() >= 2 || devices.contains("ACTIVE");
        });
        assertThat(progress).as("progress lines seen in `turnout devices` while staging").isNotEmpty();
        for (String line : progress) {
            Matcher m = PROGRESS.matcher(line);
            assertThat(m.matches()).isTrue();
            double rate = Double.parseDouble(m.group(3)) * (m.group(4).equals("MiB") ? 1024 : 1);
            assertThat(rate).as("KiB/s shown in " + line).isPositive().isLessThanOrEqualTo(4 * 1024 * 1.10);
            assertThat(Double.parseDouble(m.group(1))).isLessThanOrEqualTo(Double.parseDouble(m.group(2)));
        }

        await().atMost(Duration.ofSeconds(60)).until(() -> json.readTree(cli("rollout", "status", rollout, "--output", "json").out())
                .path("state").asText().equals("SUCCEEDED"));
        JsonNode done = json.readTree(cli("rollout", "status", rollout, "--output", "json").out());
        long size = Files.size(archive);
        assertThat(done.path("strategy").path("rateLimitBytesPerSecond").asLong()).isEqualTo(4L << 20);
        assertThat(done.path("bytes").path("full").asLong()).isEqualTo(size);
        // nothing cached: every blob moved once, gzip-compressed on the wire (the busybox layer shrinks, random bytes
        // do not; gzip adds a few bytes per 16 KiB to what it cannot shrink), so about the archive's size and never twice
        long moved = done.path("bytes").path("moved").asLong();
        assertThat(moved).as("nothing cached: all of it moved, once").isBetween(size / 2, size + size / 100);
        assertThat(done.path("devices").get(0).path("state").asText()).isEqualTo("ACTIVE");
        assertThat(cli("rollout", "status", rollout).out()).contains("download  at most 4.0 MiB/s per device")
                .containsPattern("moved +\\d+\\.\\d MiB over the network; full archives \\d+\\.\\d MiB");
        assertThat(cli("history", "--app", "web").out()).contains("downloads moved");
        assertThat(cli("history", "--app", "web").out()).doesNotContain("FAILED");
        String metrics = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/metrics"))
                .header("Authorization", "Bearer " + server.operatorToken()).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertThat(sample(metrics, "turnout_download_bytes_total{kind=\"moved\"")).isEqualTo(moved);
        assertThat(sample(metrics, "turnout_download_bytes_total{kind=\"full\"")).isEqualTo(size);
    }

    private static double sample(String metrics, String prefix) {
        return metrics.lines().filter(l -> l.startsWith(prefix)).mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .findFirst().orElseThrow(() -> new AssertionError("no " + prefix + " in /metrics"));
    }

    private Operator.Result cli(String... args) {
        return Operator.onServerHost(() -> work.resolve("server"), server::url).run(args);
    }

    @AfterEach
    void tearDown() {
        toClose.close();
        containers.removeAll(device);
        images.remove(imageRef);
    }
}
