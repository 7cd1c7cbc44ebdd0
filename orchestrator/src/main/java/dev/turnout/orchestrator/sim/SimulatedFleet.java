package dev.turnout.orchestrator.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A fleet of simulated devices in this process, each enrolled over the orchestrator's HTTP API like a
 * real device and connected with its own MQTT session. Every simulated device carries the label
 * {@code simulated=true}. All of them share two scheduler threads and one MQTT event loop.
 */
public final class SimulatedFleet implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SimulatedFleet.class);
    /** Enrollments and connection attempts in flight at once. */
    private static final int IN_FLIGHT = 64;

    private final SimulationOptions options;
    private final ScheduledExecutorService scheduler;
    private final List<SimulatedDevice> devices;
    private final SplittableRandom flapDraws;

    private SimulatedFleet(SimulationOptions options, ScheduledExecutorService scheduler, List<SimulatedDevice> devices) {
        this.options = options;
        this.scheduler = scheduler;
        this.devices = devices;
        this.flapDraws = new SplittableRandom(options.seed() * 31 + 7);
    }

    /**
     * Enrolls {@code options.devices()} devices with the orchestrator at {@code serverUrl}, connects them
     * and returns once every one is subscribed to its desired state, or fails after {@code timeout}.
     *
     * @param operatorToken the server's operator token (enrolling is an operator's act)
     */
    public static SimulatedFleet start(String serverUrl, String operatorToken, SimulationOptions options, Duration timeout) throws Exception {
        return start(serverUrl, operatorToken, options, timeout, null);
    }

    /** As above, for an {@code https://} server whose certificate {@code ssl} trusts (null: the system trust store). */
    public static SimulatedFleet start(String serverUrl, String operatorToken, SimulationOptions options, Duration timeout,
                                       javax.net.ssl.SSLContext ssl) throws Exception {
        return start(enroll(serverUrl, operatorToken, options, timeout, ssl), options, timeout);
    }

    /**
     * Connects devices enrolled earlier (their configs, e.g. kept by a benchmark between runs) and
     * returns once every one is subscribed to its desired state, or fails after {@code timeout}.
     */
    public static SimulatedFleet start(List<DeviceEnrollment> enrollments, SimulationOptions options, Duration timeout)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2, r -> {
            Thread t = new Thread(r, "turnout-sim");
            t.setDaemon(true);
            return t;
        });
        List<SimulatedDevice> devices = new ArrayList<>();
        for (int i = 0; i < enrollments.size(); i++) {
            DeviceEnrollment e = enrollments.get(i);
            if (options.brokerUrl() != null) {
                e = e.withBrokerUrl(options.brokerUrl());
            }
            devices.add(new SimulatedDevice(e, options, scheduler, options.seed() * 1_000_003L + i));
        }
        SimulatedFleet fleet = new SimulatedFleet(options, scheduler, Collections.unmodifiableList(devices));
        try {
            Semaphore slots = new Semaphore(IN_FLIGHT);
            List<CompletableFuture<Void>> connected = new ArrayList<>();
            for (SimulatedDevice d : devices) {
                if (!slots.tryAcquire(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    throw new TimeoutException("simulated devices did not connect within " + timeout.toSeconds() + " s");
                }
                connected.add(d.start().whenComplete((ok, e) -> slots.release()));
            }
            CompletableFuture.allOf(connected.toArray(CompletableFuture[]::new))
                    .get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (Exception e) {
            fleet.close();
            throw e;
        }
        if (options.offlineRate() > 0) {
            long every = options.flapInterval().toMillis();
            scheduler.scheduleAtFixedRate(fleet::flap, every, every, TimeUnit.MILLISECONDS);
        }
        LOG.info("{} simulated device(s) connected", devices.size());
        return fleet;
    }

    /** Enrolls every device over HTTP ({@code POST /api/v1/devices}) and reads the config each one gets back. */
    public static List<DeviceEnrollment> enroll(String serverUrl, String operatorToken, SimulationOptions options, Duration timeout,
                                                javax.net.ssl.SSLContext ssl) throws Exception {
        String authorization = "Bearer " + (operatorToken == null ? "" : operatorToken);
        ObjectMapper json = new ObjectMapper();
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).version(HttpClient.Version.HTTP_1_1);
        if (ssl != null) {
            builder.sslContext(ssl);
        }
        HttpClient http = builder.build();
        String base = serverUrl.endsWith("/") ? serverUrl.substring(0, serverUrl.length() - 1) : serverUrl;
        Map<String, String> labels = new TreeMap<>(options.labels());
        labels.put(SimulationOptions.SIMULATED_LABEL, "true");
        Semaphore slots = new Semaphore(IN_FLIGHT);
        List<CompletableFuture<DeviceEnrollment>> pending = new ArrayList<>();
        for (int i = 1; i <= options.devices(); i++) {
            String id = options.deviceId(i);
            ObjectNode body = json.createObjectNode().put("id", id);
            body.set("labels", json.valueToTree(labels));
            HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/api/v1/devices")).timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/json")
                    .header("Authorization", authorization)
                    .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body), StandardCharsets.UTF_8)).build();
            slots.acquire();
            pending.add(http.sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8))
                    .whenComplete((r, e) -> slots.release())
                    .thenApply(response -> {
                        try {
                            if (response.statusCode() == 201) {
                                return DeviceEnrollment.parse(json.readTree(response.body()).path("config").asText());
                            }
                            if (response.statusCode() == 409) {
                                // enrolled by an earlier run: its broker secret was shown once and is gone. Revoke the
                                // simulated device and enroll it again for a fresh secret, as an operator would.
                                return DeviceEnrollment.parse(reenroll(http, base, json, id, request, authorization));
                            }
                            throw new IllegalStateException("enrolling " + id + " answered " + response.statusCode() + ": "
                                    + response.body());
                        } catch (IOException e) {
                            throw new IllegalStateException("enrolling " + id + ": " + e.getMessage(), e);
                        }
                    }));
        }
        CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        return pending.stream().map(CompletableFuture::join).toList();
    }

    private static String reenroll(HttpClient http, String base, ObjectMapper json, String id, HttpRequest enroll,
                                   String authorization) throws IOException {
        try {
            HttpResponse<String> revoked = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/devices/" + id + "/revoke"))
                    .header("Content-Type", "application/json")
                    .header("Authorization", authorization)
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
            if (revoked.statusCode() != 200) {
                throw new IllegalStateException("revoking " + id + " for re-enrollment answered " + revoked.statusCode() + ": " + revoked.body());
            }
            HttpResponse<String> again = http.send(enroll, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            if (again.statusCode() != 201) {
                throw new IllegalStateException("re-enrolling " + id + " answered " + again.statusCode() + ": " + again.body());
            }
            return json.readTree(again.body()).path("config").asText();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }

    public List<SimulatedDevice> devices() {
        return devices;
    }

    public SimulationOptions options() {
        return options;
    }

    /** How many devices hold a connection to the broker now. */
    public long connectedCount() {
        return devices.stream().filter(SimulatedDevice::isConnected).count();
    }

    /** How many devices run {@code version} of {@code app}. */
    public long runningCount(String app, String version) {
        return devices.stream().filter(d -> version.equals(d.running(app))).count();
    }

    private void flap() {
        for (SimulatedDevice d : devices) {
            double draw;
            synchronized (flapDraws) {
                draw = flapDraws.nextDouble();
            }
            if (draw < options.offlineRate()) {
                d.dropConnection(options.offlineTime());
            }
        }
    }

    /** Every device says goodbye and disconnects. */
    @Override
    public void close() {
        List<CompletableFuture<Void>> stopped = new ArrayList<>();
        for (SimulatedDevice d : devices) {
            stopped.add(d.stop());
        }
        try {
            CompletableFuture.allOf(stopped.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.warn("not every simulated device disconnected cleanly: {}", e.toString());
        }
        scheduler.shutdownNow();
    }
}
