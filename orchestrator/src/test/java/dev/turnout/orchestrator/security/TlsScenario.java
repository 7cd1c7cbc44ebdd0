package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.http.DockerSaveArchives;
import dev.turnout.orchestrator.mqtt.AsyncMqttSession;
import dev.turnout.orchestrator.sim.DeviceEnrollment;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.proto.tls.PinnedTrust;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The fleet on TLS as docs/security.md sets it up: the CLI talks HTTPS pinning the server's CA,
 * enrollment hands each device the CA and {@code ssl://} / {@code https://} URLs, devices connect
 * with nothing but their enrollment config and converge; whoever does not trust that CA, or talks
 * plain text to the TLS port, gets no session. One subclass per broker.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
abstract class TlsScenario {

    @TempDir
    static Path work;

    protected TurnoutServer server;

    /** Starts a server with TLS on (and its broker, if external). */
    protected abstract TurnoutServer startServer(Path work) throws Exception;

    protected abstract void stopBroker();

    @BeforeAll
    void start() throws Exception {
        // Mosquitto started as root drops to its own user: it must be able to enter this directory
        Files.setPosixFilePermissions(work, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        server = startServer(work);
        assertThat(server.url()).startsWith("https://");
        assertThat(server.brokerUrl()).startsWith("ssl://");
    }

    @AfterAll
    void stop() {
        if (server != null) {
            server.close();
        }
        stopBroker();
    }

    @Test
    void enrolledDevicesConnectOverTlsAndConvergeThroughTheCliOverHttps() throws Exception {
        Path config = work.resolve("tls-cli.yaml");
        Result enrolled = cli(env(), "device", "enroll", "tls-cli", "--out", config.toString());
        assertThat(enrolled.code).as(enrolled.toString()).isZero();
        String yaml = Files.readString(config);
        assertThat(yaml).contains("brokerUrl: ssl://", "orchestratorUrl: https://", "ca: |", "-----BEGIN CERTIFICATE-----");
        DeviceEnrollment enrollment = DeviceEnrollment.parse(yaml);
        assertThat(enrollment.trust().certificates()).isNotEmpty();
        assertThat(yaml).contains(Files.readString(server.caFile()).lines().skip(1).findFirst().orElseThrow());

        // devices that know nothing but their enrollment config: they pin its CA and verify the host name
        try (SimulatedFleet fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(3).withIdPrefix("tls")
                .withApplyTime(Duration.ofMillis(100)), Duration.ofSeconds(60), PinnedTrust.fromFile(server.caFile()).sslContext("orchestrator"))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> fleet.connectedCount() == 3);
            Path archive = work.resolve("web-1.0.0.tar");
            Files.write(archive, DockerSaveArchives.of("demo/web:1.0.0", "1.0.0").bytes());
            Path spec = work.resolve("web.yaml");
            Files.writeString(spec, "health:\n  exec: [\"/bin/true\"]\n  soak: 1s\n");
            Result created = cli(env(), "release", "create", "web:1.0.0", "--image", "linux/arm64=" + archive, "--spec", spec.toString());
            assertThat(created.code).as(created.toString()).isZero();

            Result deployed = cli(env(), "deploy", "web:1.0.0", "--target", "device:tls-0001,tls-0002,tls-0003", "--wait");

            assertThat(deployed.code).as(deployed.toString()).isZero();
            assertThat(deployed.out).contains("succeeded: 3 device(s) active on web:1.0.0");
            assertThat(fleet.runningCount("web", "1.0.0")).isEqualTo(3);
        }
    }

    @Test
    void watchFollowsTheFleetOverTlsWithTheCaTheServerNames() throws Exception {
        try (SimulatedFleet fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(1).withIdPrefix("tlsw"),
                Duration.ofSeconds(60), PinnedTrust.fromFile(server.caFile()).sslContext("orchestrator"))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> fleet.connectedCount() == 1);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            java.util.concurrent.atomic.AtomicInteger code = new java.util.concurrent.atomic.AtomicInteger(-1);
            Thread watch = new Thread(() -> code.set(TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8), env(), "watch", "--target", "device:tlsw-0001", "-o", "json")));
            watch.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> out.toString(StandardCharsets.UTF_8).contains("\"kind\":\"presence\""));
            watch.interrupt();
            watch.join(10_000);
            assertThat(code.get()).as(err.toString(StandardCharsets.UTF_8)).isZero();
        }
    }

    @Test
    void aClientThatDoesNotTrustTheCaIsRefusedAtTheHandshake() throws Exception {
        String yaml = cli(env(), "device", "enroll", "tls-stranger").out;
        DeviceEnrollment valid = DeviceEnrollment.parse(yaml);
        PinnedTrust otherCa = otherCa();

        String pinnedElsewhere = connectFailure(valid, server.brokerUrl(), otherCa);
        assertThat(pinnedElsewhere).contains("broker certificate", "is not signed by");
        assertThat(connectFailure(valid, server.brokerUrl(), null)).isNotBlank(); // the system trust store does not know this CA either
        assertThat(cli(env(), "device", "show", "tls-stranger").out).doesNotContainPattern("(?m)^online:?\\s+yes");
    }

    @Test
    void plainTextOnTheTlsPortGetsNoSession() throws Exception {
        DeviceEnrollment valid = DeviceEnrollment.parse(cli(env(), "device", "enroll", "tls-plain").out);
        URI broker = URI.create(server.brokerUrl());
        String plain = "tcp://" + broker.getHost() + ":" + broker.getPort();

        assertThat(connectFailure(valid, plain, null)).isNotBlank();
    }

    @Test
    void theCliSaysWhyWhenItCannotTrustTheServer() throws Exception {
        Map<String, String> noCa = new HashMap<>(env());
        noCa.remove("TURNOUT_CA");
        Result unknown = cli(noCa, "devices");
        assertThat(unknown.code).isEqualTo(1);
        assertThat(unknown.err).contains("cannot talk TLS", "TURNOUT_CA");
        assertThat(unknown.err.strip().lines()).hasSize(1);

        Path other = work.resolve("other-ca.pem");
        Files.writeString(other, dev.turnout.orchestrator.security.TlsMaterial.pem(otherCa().certificates().get(0)));
        Map<String, String> wrongCa = new HashMap<>(env());
        wrongCa.put("TURNOUT_CA", other.toString());
        Result wrong = cli(wrongCa, "devices");
        assertThat(wrong.code).isEqualTo(1);
        assertThat(wrong.err).contains("orchestrator certificate", "is not signed by CA file " + other);

        Map<String, String> plain = new HashMap<>(env());
        plain.put("TURNOUT_SERVER", server.url().replace("https://", "http://"));
        Result http = cli(plain, "devices");
        assertThat(http.code).isEqualTo(1);
        assertThat(http.err).contains("HTTPS");

        // on the server's host the CLI finds the CA in the data directory by itself
        Map<String, String> local = new HashMap<>(env());
        local.remove("TURNOUT_CA");
        local.put("TURNOUT_DATA", server.caFile().getParent().getParent().toString());
        Result found = cli(local, "devices");
        assertThat(found.code).as(found.toString()).isZero();
    }

    private PinnedTrust otherCa() throws Exception {
        TlsMaterial.Authority other = TlsMaterial.authority(work.resolve("other-ca"), Clock.systemUTC());
        return PinnedTrust.fromPem(TlsMaterial.pem(other.certificate()), "another CA");
    }

    /** Connects once with the device's credentials; returns why it failed (fails the test when it connects). */
    private static String connectFailure(DeviceEnrollment device, String brokerUrl, PinnedTrust trust) throws Exception {
        AsyncMqttSession session = AsyncMqttSession.create(new AsyncMqttSession.Settings(device.deviceId(), brokerUrl,
                device.mqttUsername(), device.mqttPassword(), true, 0, null, null, false, trust), (topic, payload) -> { });
        try {
            CompletableFuture<Void> connected = session.connect();
            assertThatThrownBy(() -> connected.get(20, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class);
            try {
                connected.get();
                return "";
            } catch (ExecutionException e) {
                String tls = PinnedTrust.explain(e);
                return tls != null ? tls : String.valueOf(e.getCause());
            }
        } finally {
            session.close();
        }
    }

    protected Map<String, String> env() {
        return Map.of("TURNOUT_SERVER", server.url(), "TURNOUT_CA", server.caFile().toString(), "TURNOUT_TOKEN", server.operatorToken(),
                "TURNOUT_DATA", work.resolve("not-the-server").toString());
    }

    protected record Result(int code, String out, String err) {
    }

    protected static Result cli(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env, args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
