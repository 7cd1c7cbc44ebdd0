package dev.turnout.orchestrator.bench;

import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Benchmark (not a test): how fast the orchestrator ingests device status events, against the
 * raw publish → subscribe throughput of the same broker, same payload size, same connections, in
 * the same run. Run with {@code bin/bench ingest [--devices N] [--events E] [--broker embedded|mosquitto]}.
 *
 * <p>The status events come from plain MQTT publishers standing in for devices (a load generator,
 * not simulated devices): each of {@code --connections} clients publishes for its share of the
 * enrolled devices. "Ingested" means the engine has applied the event (state updated and
 * persisted), read from the orchestrator's own {@code turnout_status_events_total} metric.
 */
public final class StatusIngestBenchmark {

    private static final Pattern STATUS_TOTAL = Pattern.compile("(?m)^turnout_status_events_total\\{[^}]*} ([0-9.E+]+)$");

    private int devices = 1000;
    private int eventsPerDevice = 10;
    private int connections = 50;
    private String broker = "embedded";

    public static void main(String[] args) throws Exception {
        StatusIngestBenchmark b = new StatusIngestBenchmark();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--devices" -> b.devices = Integer.parseInt(args[++i]);
                case "--events" -> b.eventsPerDevice = Integer.parseInt(args[++i]);
                case "--connections" -> b.connections = Integer.parseInt(args[++i]);
                case "--broker" -> b.broker = args[++i];
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; use --devices N --events E --connections C --broker embedded|mosquitto");
            }
        }
        b.run();
        System.exit(0);
    }

    private void run() throws Exception {
        Path work = Files.createTempDirectory("turnout-bench");
        Process mosquitto = null;
        String external = null;
        if (broker.equals("mosquitto")) {
            int port = freePort();
            Path conf = work.resolve("mosquitto.conf");
            Files.writeString(conf, "listener " + port + " 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n");
            mosquitto = new ProcessBuilder("/usr/sbin/mosquitto", "-c", conf.toString()).redirectErrorStream(true)
                    .redirectOutput(work.resolve("mosquitto.log").toFile()).start();
            waitForPort(port);
            external = "tcp://127.0.0.1:" + port;
        }
        TurnoutServer server = TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, external == null ? freePort() : 0,
                "127.0.0.1", external, "127.0.0.1", Topics.DEFAULT_PREFIX));
        try {
            String brokerUrl = server.brokerUrl();
            HttpClient http = HttpClient.newHttpClient();
            for (int d = 0; d < devices; d++) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/api/v1/devices"))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"id\":\"" + deviceId(d) + "\"}"))
                        .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 201) {
                    throw new IllegalStateException("enrollment failed: " + r.body());
                }
            }
            long total = (long) devices * eventsPerDevice;
            byte[] sample = event(0, 0).toByteArray();
            System.out.printf(Locale.ROOT, "machine: %d cores, %s; broker %s; %d devices x %d events = %d messages of %d bytes over %d connections%n",
                    Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.name") + " " + Runtime.version(),
                    broker.equals("embedded") ? "embedded HiveMQ CE" : "Mosquitto", devices, eventsPerDevice, total, sample.length, connections);

            List<MqttAsyncClient> publishers = connect(brokerUrl, "bench-pub-", connections);

            // 1. baseline: the same messages through the same broker to one subscriber, no orchestrator involved
            double baseline = baseline(brokerUrl, publishers, total);
            // 2. ingest: the orchestrator consumes, judges and persists each one
            double ingest = ingest(server, http, publishers, total);

            System.out.printf(Locale.ROOT, "baseline  publish -> subscribe : %,10.0f msg/s%n", baseline);
            System.out.printf(Locale.ROOT, "ingest    publish -> persisted : %,10.0f events/s%n", ingest);
            System.out.printf(Locale.ROOT, "ratio     ingest / baseline    : %10.2f (target >= 0.80)%n", ingest / baseline);
            for (MqttAsyncClient c : publishers) {
                c.disconnect().waitForCompletion(5000);
                c.close();
            }
        } finally {
            server.close();
            if (mosquitto != null) {
                mosquitto.destroy();
            }
        }
    }

    private double baseline(String brokerUrl, List<MqttAsyncClient> publishers, long total) throws Exception {
        Counting received = new Counting(new AtomicLong(), new AtomicLong());
        MqttAsyncClient subscriber = new MqttAsyncClient(brokerUrl, "bench-sub", new MemoryPersistence());
        subscriber.setCallback(received);
        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setReceiveMaximum(65535);
        subscriber.connect(options).waitForCompletion(10_000);
        subscriber.subscribe(new MqttSubscription[] {new MqttSubscription("bench/v1/devices/+/status", 1)}).waitForCompletion(10_000);
        long start = System.nanoTime();
        publishAll(publishers, d -> "bench/v1/devices/" + deviceId(d) + "/status");
        // until everything arrived, or nothing more for 3 s (a broker may drop what a slow subscriber cannot take)
        long seen = -1;
        while (received.count().get() < total && received.count().get() != seen) {
            seen = received.count().get();
            Thread.sleep(3000);
        }
        long got = received.count().get();
        if (got < total) {
            System.out.printf(Locale.ROOT, "baseline: %d of %d messages reached the subscriber (the broker dropped the rest)%n", got, total);
        }
        double seconds = (received.last().get() - start) / 1e9;
        total = got;
        subscriber.disconnect().waitForCompletion(5000);
        subscriber.close();
        return total / seconds;
    }

    private double ingest(TurnoutServer server, HttpClient http, List<MqttAsyncClient> publishers, long total) throws Exception {
        double before = statusEvents(server, http);
        long start = System.nanoTime();
        publishAll(publishers, d -> "turnout/v1/devices/" + deviceId(d) + "/status");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
        double done;
        do {
            Thread.sleep(20);
            done = statusEvents(server, http) - before;
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("ingest: only " + done + " of " + total + " applied");
            }
        } while (done < total);
        return total / ((System.nanoTime() - start) / 1e9);
    }

    private interface TopicOf {
        String topic(int device);
    }

    /** Each connection publishes the events of its share of the devices, QoS 1, with a bounded window. */
    private void publishAll(List<MqttAsyncClient> publishers, TopicOf topicOf) throws Exception {
        List<Thread> threads = new ArrayList<>();
        AtomicLong failures = new AtomicLong();
        for (int p = 0; p < publishers.size(); p++) {
            int index = p;
            Thread t = new Thread(() -> {
                MqttAsyncClient client = publishers.get(index);
                Semaphore window = new Semaphore(10);
                try {
                    for (int e = 0; e < eventsPerDevice; e++) {
                        for (int d = index; d < devices; d += publishers.size()) {
                            window.acquire();
                            MqttMessage m = new MqttMessage(event(d, e).toByteArray());
                            m.setQos(1);
                            client.publish(topicOf.topic(d), m, null, new org.eclipse.paho.mqttv5.client.MqttActionListener() {
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
                    window.acquire(10);
                } catch (Exception ex) {
                    failures.incrementAndGet();
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
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
        String body = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        double sum = 0;
        Matcher m = STATUS_TOTAL.matcher(body);
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }

    private static List<MqttAsyncClient> connect(String brokerUrl, String prefix, int n) throws MqttException {
        List<MqttAsyncClient> clients = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            MqttAsyncClient c = new MqttAsyncClient(brokerUrl, prefix + i, new MemoryPersistence());
            MqttConnectionOptions options = new MqttConnectionOptions();
            options.setCleanStart(true);
            c.connect(options).waitForCompletion(10_000);
            clients.add(c);
        }
        return clients;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void waitForPort(int port) throws InterruptedException {
        for (int i = 0; i < 100; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException notYet) {
                Thread.sleep(50);
            }
        }
        throw new IllegalStateException("mosquitto did not start on port " + port);
    }

    /** Counts messages and remembers when the last one came; nothing else. */
    private record Counting(AtomicLong count, AtomicLong last) implements MqttCallback {
        @Override
        public void disconnected(MqttDisconnectResponse response) {
        }

        @Override
        public void mqttErrorOccurred(MqttException exception) {
        }

        @Override
        public void messageArrived(String topic, MqttMessage message) {
            count.incrementAndGet();
            last.set(System.nanoTime());
        }

        @Override
        public void deliveryComplete(IMqttToken token) {
        }

        @Override
        public void connectComplete(boolean reconnect, String serverURI) {
        }

        @Override
        public void authPacketArrived(int reasonCode, MqttProperties properties) {
        }
    }
}
