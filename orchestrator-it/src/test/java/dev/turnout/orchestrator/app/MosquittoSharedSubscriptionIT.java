package dev.turnout.orchestrator.app;

import dev.turnout.testsupport.Closer;
import dev.turnout.orchestrator.cli.TurnoutCli;
import dev.turnout.orchestrator.store.PostgresProcess;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.PublicKey;
import dev.turnout.testsupport.Mosquitto;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two orchestrator instances on a secured Mosquitto configured by {@code turnout broker
 * mosquitto-config --keep-client-ids} (deny-by-default ACLs, per-device passwords): both log in
 * with the one orchestrator identity under their own client ids, the generated ACLs grant their
 * {@code $share/...} subscriptions, and each device report reaches exactly one of them.
 */
class MosquittoSharedSubscriptionIT {

    private static final Pattern STATUS = Pattern.compile("^turnout_status_events_total\\{[^}]*} ([0-9.]+)$", Pattern.MULTILINE);

    /** Readable by the mosquitto user Mosquitto drops to (a JUnit temporary directory is not). */
    private Path work;

    private final Closer toClose = new Closer();
    private final HttpClient http = HttpClient.newHttpClient();

    @AfterEach
    void tearDown() {
        toClose.close();
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void twoInstancesShareTheReportsOfASecuredMosquitto() throws Exception {
        work = Files.createTempDirectory("shared-subscription", java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x")));
        toClose.add(() -> {
            try (var files = Files.walk(work)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        });
        PostgresProcess postgres = PostgresProcess.shared();
        String store = postgres.createDatabase();
        Path dataA = work.resolve("a");
        Path dataB = work.resolve("b");
        Path conf = work.resolve("mosquitto-turnout");
        Mosquitto mosquitto = Mosquitto.start(work.resolve("mosquitto"), port -> {
            int code = TurnoutCli.run(System.out, System.err, Map.of(), "broker", "mosquitto-config", "--data", dataA.toString(),
                    "--out", conf.toString(), "--listener", port + " 127.0.0.1", "--keep-client-ids");
            assertThat(code).isZero();
            return "persistence false\nlog_dest stdout\nlog_type all\ninclude_dir " + conf + "\n";
        });
        toClose.add(mosquitto);
        Files.createDirectories(dataB);
        for (String file : List.of("signing.key", "broker.secret")) {
            Files.copy(dataA.resolve(file), dataB.resolve(file));
        }
        TurnoutServer a = TurnoutServer.start(new ServerOptions(dataA, 0, 0, "127.0.0.1", mosquitto.url(), "127.0.0.1", null,
                        new BrokerAuth(null, null, conf, "kill -HUP " + mosquitto.pid())),
                new ClusterOptions(store, PostgresProcess.USER, postgres.password(), null, "a", null));
        toClose.add(a);
        TurnoutServer b = TurnoutServer.start(new ServerOptions(dataB, 0, 0, "127.0.0.1", mosquitto.url(), "127.0.0.1", null),
                new ClusterOptions(store, PostgresProcess.USER, postgres.password(), null, "b", null));
        toClose.add(b);

        Path config = work.resolve("shared-1.yaml");
        assertThat(TurnoutCli.run(System.out, System.err, Map.of("TURNOUT_TOKEN", a.operatorToken()), "device", "enroll", "shared-1", "--out", config.toString(),
                "--server", a.url())).isZero();
        String password = ScriptedDevice.passwordOf(Files.readString(config));
        PublicKey key = PublicKey.fromBase64(new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(get(a.url() + "/api/v1/server")).path("publicKey").asText());
        // the reload of Mosquitto's password file follows the enrollment; retry until the device may log in
        ScriptedDevice device = await().atMost(Duration.ofSeconds(20)).ignoreExceptions()
                .until(() -> new ScriptedDevice("shared-1", password, mosquitto.url(), Topics.defaults(), key, Set.of()),
                        d -> d != null);
        toClose.add(device);
        for (int i = 0; i < 20; i++) {
            device.reportStatus("1.0.0");
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> statusEvents(a) + statusEvents(b) >= 20);
        // and no report reaches both: the sum stays at 20 for a while after the last one
        await("each report reaches one instance").during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                .until(() -> statusEvents(a) + statusEvents(b) == 20);
        double atA = statusEvents(a);
        double atB = statusEvents(b);
        System.out.printf("secured Mosquitto, shared subscription: instance a got %.0f, instance b %.0f of 20 reports%n", atA, atB);
        assertThat(atA + atB).as("each report reaches one instance").isEqualTo(20);
        assertThat(atA).isPositive();
        assertThat(atB).isPositive();
        assertThat(Files.readString(mosquitto.log())).contains("as turnout-orchestrator-").contains(".a (").contains(".b (");
    }

    private double statusEvents(TurnoutServer server) throws Exception {
        Matcher m = STATUS.matcher(http.send(HttpRequest.newBuilder(URI.create(server.url() + "/metrics"))
                .header("Authorization", "Bearer " + server.operatorToken()).build(), HttpResponse.BodyHandlers.ofString()).body());
        double total = 0;
        while (m.find()) {
            total += Double.parseDouble(m.group(1));
        }
        return total;
    }

    private String get(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
