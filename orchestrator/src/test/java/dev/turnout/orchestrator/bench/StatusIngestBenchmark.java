package dev.turnout.orchestrator.bench;

import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.MessageCallback;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Ports;
import org.awaitility.core.ConditionTimeoutException;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;

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
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;

/**
 * Benchmark (not a test): how fast the orchestrator ingests device status events, against what the
 * same broker delivers to a plain monitor subscriber of the same topics, in the same run. Run with
 * {@code bin/bench ingest [--devices N] [--events E] [--broker embedded|mosquitto]}.
 *
 * <p>The load is device-shaped: every enrolled device has its own MQTT connection, its own
 * credentials, and publishes QoS 1 status events on its own topic (a load generator, not
 * simulated devices: nothing answers desired states). "Ingested" means the engine has applied the
 * event (inventory and device state updated and persisted, audit entry written), read from the
 * orchestrator's own {@code turnout_status_events_total} metric.
 */
public final class StatusIngestBenchmark {

    private static final Pattern STATUS_TOTAL = Pattern.compile("(?m)^turnout_status_events_total\\{[^}]*} ([0-9.E+]+)$");

    private int devices = 500;
    private int eventsPerDevice = 20;
    private String broker = "embedded";

    public static void main(String[] args) throws Exception {
        StatusIngestBenchmark b = new StatusIngestBenchmark();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--devices" -> b.devices = Integer.parseInt(args[++i]);
                case "--events" -> b.eventsPerDevice = Integer.parseInt(args[++i]);
                case "--broker" -> b.broker = args[++i];
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; use --devices N --events E --broker embedded|mosquitto");
            }
        }
        b.run();
        System.exit(0);
    }

    private void run() throws Exception {
        Path work = Files.createTempDirectory("turnout-bench");
        Mosquitto mosquitto = broker.equals("mosquitto")
                ? Mosquitto.start(work.resolve("mosquitto"), port -> "listener " + port
                        + " 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n")
                : null;
        String external = mosquitto == null ? null : mosquitto.url();
        TurnoutServer server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0,
                external == null ? Ports.free() : 0,
                "127.0.0.1", external, "127.0.0.1", Topics.DEFAULT_PREFIX));
        try {
            String brokerUrl = server.brokerUrl();
            HttpClient http = HttpClient.newHttpClient();
            List<String> passwords = new ArrayList<>();
            com.fasterxml.jackson.databind.ObjectMapper yaml =
                    new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory());
            for (int d = 0; d < devices; d++) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/devices")).header("Authorization", "Bearer " + server.operatorToken())
                        .POST(HttpRequest.BodyPublishers.ofString("{\"id\":\"" + deviceId(d) + "\"}"))
                        .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 201) {
                    throw new IllegalStateException("enrollment failed: " + r.body());
                }
                String config = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.body()).path("config").asText();
                passwords.add(yaml.readTree(config).path("mqttPassword").asText(""));
            }
            long total = (long) devices * eventsPerDevice;
            byte[] sample = event(0, 0).toByteArray();
            System.out.printf(Locale.ROOT, "machine: %d cores, %s; broker %s; %d devices x %d events = %d messages of %d bytes, one connection per device%n",
                    Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.name") + " " + Runtime.version(),
                    broker.equals("embedded") ? "embedded HiveMQ CE" : "Mosquitto", devices, eventsPerDevice, total, sample.length);

            // every device on its own connection, with its own credentials, publishing on its own status topic
            List<MqttAsyncClient> publishers = new ArrayList<>();
            for (int d = 0; d < devices; d++) {
                publishers.add(connect(brokerUrl, deviceId(d), passwords.get(d), false));
            }
            // a monitor subscriber on the same topics: what the broker itself delivers, in the same run
            Counting received = new Counting(new AtomicLong(), new AtomicLong());
            HttpResponse<String> user = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/users")).header("Authorization", "Bearer " + server.operatorToken())
                    .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"bench-monitor\",\"role\":\"monitor\"}"))
                    .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
            if (user.statusCode() != 201) {
                throw new IllegalStateException("monitor user: " + user.body());
            }
            String monitorPassword = new com.fasterxml.jackson.databind.ObjectMapper().readTree(user.body()).path("password").asText();
            MqttAsyncClient monitor = connect(brokerUrl, "bench-monitor", monitorPassword, true);
            monitor.setCallback(received);
            monitor.subscribe(new MqttSubscription[] {new MqttSubscription("turnout/v1/devices/+/status", 1)}).waitForCompletion(10_000);

            double before = statusEvents(server, http);
            long start = System.nanoTime();
            publishAll(publishers);
            AtomicLong brokerDone = new AtomicLong();
            AtomicLong ingestDone = new AtomicLong();
            double[] applied = {0};
            try {
                // the ingest time is when a poll first sees every event applied: polls every 20 ms keep its error small
                await().atMost(Duration.ofMinutes(10)).pollInterval(Duration.ofMillis(20)).until(() -> {
                    if (brokerDone.get() == 0 && received.count().get() >= total) {
                        brokerDone.set(received.last().get());
                    }
                    applied[0] = statusEvents(server, http) - before;
                    if (ingestDone.get() == 0 && applied[0] >= total) {
                        ingestDone.set(System.nanoTime());
                    }
                    return brokerDone.get() != 0 && ingestDone.get() != 0;
                });
            } catch (ConditionTimeoutException e) {
                throw new IllegalStateException("after 10 min: monitor got " + received.count().get() + ", orchestrator applied "
                        + applied[0] + " of " + total, e);
            }
            double baseline = total / ((brokerDone.get() - start) / 1e9);
            double ingest = total / ((ingestDone.get() - start) / 1e9);
            System.out.printf(Locale.ROOT, "baseline  publish -> monitor subscriber : %,10.0f msg/s%n", baseline);
            System.out.printf(Locale.ROOT, "ingest    publish -> applied, persisted : %,10.0f events/s%n", ingest);
            System.out.printf(Locale.ROOT, "ratio     ingest / baseline             : %10.2f (target >= 0.80)%n", ingest / baseline);
            for (MqttAsyncClient c : publishers) {
                c.disconnect().waitForCompletion(5000);
                c.close();
            }
            monitor.disconnect().waitForCompletion(5000);
            monitor.close();
        } finally {
            server.close();
            if (mosquitto != null) {
                mosquitto.close();
            }
        }
    }

    /** Every device publishes its events on its own connection, QoS 1, ten in flight each; eight threads drive them. */
    private void publishAll(List<MqttAsyncClient> publishers) throws Exception {
        List<Thread> threads = new ArrayList<>();
        AtomicLong failures = new AtomicLong();
        int drivers = 8;
        for (int t = 0; t < drivers; t++) {
            int first = t;
            Thread thread = new Thread(() -> {
                Semaphore window = new Semaphore(200);
                try {
                    for (int e = 0; e < eventsPerDevice; e++) {
                        for (int d = first; d < devices; d += drivers) {
                            window.acquire();
                            MqttMessage m = new MqttMessage(event(d, e).toByteArray());
                            m.setQos(1);
                            publishers.get(d).publish("turnout/v1/devices/" + deviceId(d) + "/status", m, null,
                                    new org.eclipse.paho.mqttv5.client.MqttActionListener() {
                                        @Override
                                        public void onSuccess(IMqttToken token) {
                                            window.release();
                                        }

                                        @Override
                                        public void onFailure(IMqttToken token, Throwable exception) {
                                            failures.incrementAndGet();
                                            window.release();
                                        }
                                    });
                        }
                    }
                    window.acquire(200);
                } catch (Exception ex) {
                    failures.incrementAndGet();
                }
            });
            thread.start();
            threads.add(thread);
        }
        for (Thread thread : threads) {
            thread.join();
        }
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " publishes failed");
        }
    }

    private StatusEvent event(int device, int n) {
        UpdateState[] cycle = {UpdateState.DOWNLOADING, UpdateState.STAGED, UpdateState.APPLYING, UpdateState.VERIFYING, UpdateState.ACTIVE};
        return StatusEvent.newBuilder().setDeviceId(deviceId(device)).setApp("web").setVersion("1." + (n / cycle.length) + ".0")
                .setState(cycle[n % cycle.length]).setSequence(1000L + n).setRunningVersion("1.0.0")
                .setTimestampMs(System.currentTimeMillis()).build();
    }

    private static String deviceId(int d) {
        return String.format(Locale.ROOT, "bench-%05d", d);
    }

    private static double statusEvents(TurnoutServer server, HttpClient http) throws IOException, InterruptedException {
        String body = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/metrics")).header("Authorization", "Bearer " + server.operatorToken()).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        double sum = 0;
        Matcher m = STATUS_TOTAL.matcher(body);
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }

    private static MqttAsyncClient connect(String brokerUrl, String id, String password, boolean subscriber) throws MqttException {
        MqttAsyncClient c = new MqttAsyncClient(brokerUrl, id, new MemoryPersistence());
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        options.setUserName(id);
        if (password != null && !password.isEmpty()) {
            options.setPassword(password.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        if (subscriber) {
            options.setReceiveMaximum(65535);
        }
        c.connect(options).waitForCompletion(10_000);
        return c;
    }



    /** Counts messages and remembers when the last one came; nothing else. */
    private record Counting(AtomicLong count, AtomicLong last) implements MessageCallback {
        @Override
        public void messageArrived(String topic, MqttMessage message) {
            count.incrementAndGet();
            last.set(System.nanoTime());
        }
    }
}
