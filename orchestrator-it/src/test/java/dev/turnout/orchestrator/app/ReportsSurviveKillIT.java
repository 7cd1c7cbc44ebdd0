package dev.turnout.orchestrator.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import dev.turnout.orchestrator.security.OperatorToken;
import dev.turnout.orchestrator.sim.DeviceEnrollment;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Closer;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 20, "zero lost reports": a real orchestrator process (the jar) is killed with SIGKILL while devices stream
 * status reports into it; after a restart on the same data directory, every report the broker acknowledged to a device
 * is in that device's audit trail. With Mosquitto the broker keeps what the orchestrator has not acknowledged (it
 * acknowledges a report once stored); with the default embedded broker, in memory and killed with the orchestrator,
 * the device is not told its report arrived until it is stored.
 */
class ReportsSurviveKillIT {

    private static final int DEVICES = 20;
    /** Reports sent per device at most, answered or not: the audit API answers 500 entries of a subject. */
    private static final int MAX_REPORTS = 400;

    @TempDir
    Path work;

    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final Closer toClose = new Closer();
    private final ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
    private int httpPort;
    private int mqttPort;
    private String mosquittoUrl;

    @AfterEach
    void tearDown() {
        pace.shutdownNow();
        toClose.close();
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void onMosquittoEveryReportTheBrokerAcknowledgedIsStoredAfterAKill() throws Exception {
        // queue and window as Turnout's own configuration (config/mosquitto/turnout.conf): Mosquitto's defaults drop
        // what queues beyond 1,000 messages while the orchestrator is down
        Mosquitto mosquitto = Mosquitto.start(work.resolve("mosquitto"), port -> Mosquitto.listener(port)
                + "allow_anonymous true\npersistence false\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n");
        toClose.add(mosquitto);
        mosquittoUrl = mosquitto.url();
        killWhileReportsStreamAndCheckNoneIsLost();
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void onTheEmbeddedBrokerEveryReportTheBrokerAcknowledgedIsStoredAfterAKill() throws Exception {
        mqttPort = Ports.free();
        killWhileReportsStreamAndCheckNoneIsLost();
        assertThat(work.resolve("data/broker/data/persistence")).as("the embedded broker kept nothing on disk").doesNotExist();
    }

    private void killWhileReportsStreamAndCheckNoneIsLost() throws Exception {
        assertThat(OrchestratorProcess.JAR).as("the orchestrator jar is built in the package phase; run `mvn verify`").exists();
        long began = System.nanoTime();
        httpPort = Ports.free();
        Process first = startOrchestrator("first");
        List<DeviceEnrollment> enrolled = SimulatedFleet.enroll(server(), token(),
                SimulationOptions.defaults(DEVICES).withIdPrefix("stream"), Duration.ofSeconds(60), null);
        List<ReportStream> streams = new ArrayList<>();
        for (DeviceEnrollment e : enrolled) {
            ReportStream s = new ReportStream(e);
            toClose.add(s);
            streams.add(s);
            s.start();
        }

        await().atMost(Duration.ofSeconds(60)).until(() -> acknowledged(streams) >= DEVICES * 30);
        first.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        long killedAt = System.nanoTime();
        assertThat(first.exitValue()).as("killed by SIGKILL").isEqualTo(137);
        int beforeKill = acknowledged(streams);

        Process second = startOrchestrator("second");
        int atRestart = acknowledged(streams);
        await().atMost(Duration.ofSeconds(90)).until(() -> acknowledged(streams) >= atRestart + DEVICES * 20
                || streams.stream().allMatch(ReportStream::finished));
        streams.forEach(ReportStream::stop);
        await().atMost(Duration.ofSeconds(30)).until(() -> streams.stream().allMatch(ReportStream::settled));

        List<String> missing = new ArrayList<>();
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
            missing.clear();
            for (ReportStream s : streams) {
                Set<Long> audited = auditedSequences(s.deviceId);
                for (Acked a : s.acked) {
                    if (!audited.contains(a.sequence)) {
                        missing.add(s.deviceId + " seq " + a.sequence + " (acknowledged " + (killedAt - a.atNanos) / 1_000_000
                                + " ms before the kill)");
                    }
                }
            }
            assertThat(missing.size()).as("acknowledged reports missing from the audit trail, the first: %s",
                    missing.subList(0, Math.min(10, missing.size()))).isZero();
        });
        long lastTwoSeconds = streams.stream().flatMap(s -> s.acked.stream())
                .filter(a -> a.atNanos <= killedAt && killedAt - a.atNanos <= TimeUnit.SECONDS.toNanos(2)).count();
        System.out.printf("kill -9 while %d devices report (%s): %d reports acknowledged, %d before the kill (%d in its last 2 s),"
                        + " %d after; none missing from the audit trail; %.1f s%n", DEVICES, mqttPort == 0 ? "Mosquitto" : "embedded broker",
                acknowledged(streams), beforeKill, lastTwoSeconds, acknowledged(streams) - beforeKill, (System.nanoTime() - began) / 1e9);
        assertThat(lastTwoSeconds).as("reports acknowledged in the last 2 s before the kill: the kill hit a stream").isPositive();
        assertThat(acknowledged(streams) - atRestart).as("reports acknowledged after the restart").isPositive();
        second.destroy();
    }

    private static int acknowledged(List<ReportStream> streams) {
        return streams.stream().mapToInt(s -> s.acked.size()).sum();
    }

    private Set<Long> auditedSequences(String deviceId) throws Exception {
        Set<Long> seen = new HashSet<>();
        for (JsonNode entry : get("/api/v1/audit?subject=" + deviceId).path("entries")) {
            String detail = entry.path("detail").asText();
            if (entry.path("action").asText().equals("device.status") && detail.startsWith("web:1.0.0 DOWNLOADING seq ")) {
                seen.add(Long.parseLong(detail.substring("web:1.0.0 DOWNLOADING seq ".length()).trim()));
            }
        }
        return seen;
    }

    private record Acked(long sequence, long atNanos) {
    }

    /**
     * One device sending status reports one after the other (the next once the broker has answered the last, 50 ms
     * later; 500 ms after a failure, such as while the broker is away), each with the next sequence; notes each the
     * broker acknowledged.
     */
    private final class ReportStream implements AutoCloseable {
        final String deviceId;
        final Queue<Acked> acked = new ConcurrentLinkedQueue<>();
        private final AsyncMqttSession session;
        private final Topics topics;
        private final AtomicInteger sent = new AtomicInteger();
        private final AtomicBoolean stopped = new AtomicBoolean();
        private final AtomicBoolean waiting = new AtomicBoolean();

        ReportStream(DeviceEnrollment e) {
            this.deviceId = e.deviceId();
            this.topics = new Topics(e.topicPrefix());
            String url = mosquittoUrl != null ? mosquittoUrl : "tcp://127.0.0.1:" + mqttPort;
            this.session = AsyncMqttSession.create(new AsyncMqttSession.Settings(deviceId, url, e.mqttUsername(), e.mqttPassword(),
                    true, 0, null, null, true), new AsyncMqttSession.Listener() {
                        @Override
                        public void onMessage(String topic, byte[] payload) {
                            // reads nothing
                        }
                    });
        }

        void start() throws Exception {
            session.connect().get(30, TimeUnit.SECONDS);
            next();
        }

        private void next() {
            if (stopped.get() || sent.get() >= MAX_REPORTS) {
                return;
            }
            long seq = sent.incrementAndGet();
            StatusEvent event = StatusEvent.newBuilder().setDeviceId(deviceId).setApp("web").setVersion("1.0.0")
                    .setState(UpdateState.DOWNLOADING).setSequence(seq).setReportSeq(seq).setTimestampMs(System.currentTimeMillis()).build();
            waiting.set(true);
            session.publish(topics.status(deviceId), event.toByteArray(), 1, false).whenComplete((ok, failure) -> {
                if (failure == null) {
                    acked.add(new Acked(seq, System.nanoTime()));
                }
                waiting.set(false);
                pace.schedule(this::next, failure == null ? 50 : 500, TimeUnit.MILLISECONDS);
            });
        }

        boolean finished() {
            return sent.get() >= MAX_REPORTS && !waiting.get();
        }

        void stop() {
            stopped.set(true);
        }

        boolean settled() {
            return !waiting.get();
        }

        @Override
        public void close() {
            stopped.set(true);
            session.close();
        }
    }

    private Process startOrchestrator(String name) throws Exception {
        List<String> broker = mosquittoUrl != null ? List.of("--broker-url", mosquittoUrl) : List.of("--mqtt-port", String.valueOf(mqttPort));
        return OrchestratorProcess.start(work, name, httpPort, broker, Duration.ofSeconds(90), toClose,
                () -> get("/api/v1/health").path("status").asText().equals("ok"));
    }

    private String server() {
        return "http://127.0.0.1:" + httpPort;
    }

    private String token() throws IOException {
        return OperatorToken.read(work.resolve("data").resolve(OperatorToken.FILE));
    }

    private JsonNode get(String path) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(server() + path))
                .header("Authorization", "Bearer " + token()).build(), HttpResponse.BodyHandlers.ofString());
        return json.readTree(response.body());
    }
}
