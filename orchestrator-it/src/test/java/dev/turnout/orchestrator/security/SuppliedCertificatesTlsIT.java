package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TlsOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.sim.DeviceEnrollment;
import dev.turnout.orchestrator.sim.SimulatedFleet;
import dev.turnout.orchestrator.sim.SimulationOptions;
import dev.turnout.proto.Topics;
import dev.turnout.proto.tls.PinnedTrust;
import dev.turnout.testsupport.Mosquitto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Certificates the operator supplies: the orchestrator serves HTTPS with a certificate of the
 * company's CA ({@code --tls-cert/--tls-key/--tls-ca}), the site's Mosquitto has one of the site's
 * own CA ({@code --broker-url ssl://... --broker-ca}). Devices get both CAs in their config and
 * trust nothing else.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SuppliedCertificatesTlsIT {

    @TempDir
    Path work;

    @Test
    void devicesPinTheOperatorsCaAndTheBrokersCaAndConnect() throws Exception {
        // Mosquitto started as root drops to its own user: it must be able to enter this directory
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));
        TlsMaterial.Authority corp = TlsMaterial.authority(work.resolve("corp-ca"), Clock.systemUTC());
        TlsMaterial.Authority site = TlsMaterial.authority(work.resolve("site-ca"), Clock.systemUTC());
        Files.setPosixFilePermissions(work.resolve("site-ca"), PosixFilePermissions.fromString("rwxr-xr-x"));
        corp.issue(List.of("127.0.0.1", "localhost"), "orchestrator", Duration.ofDays(30))
                .writeTo(work.resolve("orchestrator.pem"), work.resolve("orchestrator.key"));
        Path mqttDir = Files.createDirectories(work.resolve("mqtt"));
        site.issue(List.of("127.0.0.1"), "site broker", Duration.ofDays(30)).writeTo(mqttDir.resolve("broker.pem"), mqttDir.resolve("broker.key"));
        Files.setPosixFilePermissions(mqttDir.resolve("broker.key"), PosixFilePermissions.fromString("rw-r--r--")); // a test key
        Path data = work.resolve("server");
        Path turnoutConf = work.resolve("mosquitto-turnout");

        try (Mosquitto mosquitto = Mosquitto.start(work.resolve("mosquitto"), port -> {
            assertThat(cli(Map.of(), "broker", "mosquitto-config", "--data", data.toString(), "--out", turnoutConf.toString()).code)
                    .isZero();
            return "persistence false\nlistener " + port + " 127.0.0.1\ncafile " + work.resolve("site-ca/ca.pem") + "\ncertfile "
                    + mqttDir.resolve("broker.pem") + "\nkeyfile " + mqttDir.resolve("broker.key") + "\ninclude_dir " + turnoutConf + "\n";
        });
             TurnoutServer server = TurnoutServer.start(new ServerOptions(data, 0, 0, "127.0.0.1", "ssl://127.0.0.1:" + mosquitto.port(),
                     "127.0.0.1", Topics.DEFAULT_PREFIX, new BrokerAuth(null, null, turnoutConf, "kill -HUP " + mosquitto.pid()))
                     .withTls(new TlsOptions(true, work.resolve("orchestrator.pem"), work.resolve("orchestrator.key"),
                             work.resolve("corp-ca/ca.pem"), List.of(), work.resolve("site-ca/ca.pem"))))) {
            assertThat(server.caFile()).isEqualTo(work.resolve("corp-ca/ca.pem"));
            assertThat(data.resolve("tls/ca.pem")).doesNotExist(); // nothing generated

            Map<String, String> env = Map.of("TURNOUT_SERVER", server.url(), "TURNOUT_TOKEN", server.operatorToken(),
                    "TURNOUT_CA", work.resolve("corp-ca/ca.pem").toString(),
                    "TURNOUT_DATA", data.toString());
            Result enrolled = cli(env, "device", "enroll", "supplied-1");
            assertThat(enrolled.code).as(enrolled.err).isZero();
            DeviceEnrollment device = DeviceEnrollment.parse(enrolled.out);
            assertThat(device.brokerUrl()).isEqualTo("ssl://127.0.0.1:" + mosquitto.port());
            assertThat(device.trust().certificates()).containsExactlyInAnyOrder(corp.certificate(), site.certificate());

            try (SimulatedFleet fleet = SimulatedFleet.start(server.url(), server.operatorToken(), SimulationOptions.defaults(2).withIdPrefix("supplied"),
                    Duration.ofSeconds(60), PinnedTrust.fromFile(work.resolve("corp-ca/ca.pem")).sslContext("orchestrator"))) {
                await().atMost(Duration.ofSeconds(30)).until(() -> fleet.connectedCount() == 2);
                await().atMost(Duration.ofSeconds(20)).until(() -> cli(env, "devices").out.lines()
                        .filter(l -> l.startsWith("supplied-") && l.contains(" yes")).count() == 2);
            }
        }
    }

    private record Result(int code, String out, String err) {
    }

    private static Result cli(Map<String, String> env, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env, args);
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
