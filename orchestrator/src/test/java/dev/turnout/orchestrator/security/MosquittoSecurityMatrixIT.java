package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The security matrix on a real Mosquitto 2 set up as docs/security.md says: {@code turnout broker
 * mosquitto-config} writes the files, mosquitto.conf includes them, the server rewrites them and
 * sends Mosquitto SIGHUP after every enrollment, revocation and user change.
 */
class MosquittoSecurityMatrixIT extends SecurityMatrix {

    private static final Path MOSQUITTO = Path.of("/usr/sbin/mosquitto");
    private Process mosquitto;
    private Path log;

    @Override
    protected TurnoutServer startServer(Path work) throws Exception {
        if (!Files.isExecutable(MOSQUITTO)) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                Assertions.fail("CI=true and this test needs mosquitto (/usr/sbin/mosquitto; apt-get install mosquitto)");
            }
            Assumptions.abort("mosquitto is not installed");
        }
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        Path data = work.resolve("server");
        Path turnoutConf = work.resolve("mosquitto-turnout");
        Result written = cli("broker", "mosquitto-config", "--data", data.toString(), "--out", turnoutConf.toString(),
                "--listener", port + " 127.0.0.1");
        assertThat(written.code()).as(written.toString()).isZero();
        assertThat(Files.readString(turnoutConf.resolve("turnout.conf"))).contains("allow_anonymous false", "use_username_as_clientid true");

        Path conf = work.resolve("mosquitto.conf");
        log = work.resolve("mosquitto.log");
        Files.writeString(conf, "persistence false\nlog_dest stdout\nlog_type all\ninclude_dir " + turnoutConf + "\n", StandardCharsets.UTF_8);
        mosquitto = new ProcessBuilder(MOSQUITTO.toString(), "-c", conf.toString()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(50)).until(() -> {
            if (!mosquitto.isAlive()) {
                throw new AssertionError("mosquitto exited: " + Files.readString(log));
            }
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return true;
            } catch (IOException notYet) {
                return false;
            }
        });
        return TurnoutServer.start(new ServerOptions(data, 0, 0, "127.0.0.1", "tcp://127.0.0.1:" + port, "127.0.0.1",
                topics.prefix(), new BrokerAuth(null, null, turnoutConf, "kill -HUP " + mosquitto.pid())));
    }

    @Override
    protected void stopBroker() throws Exception {
        if (mosquitto != null) {
            mosquitto.destroy();
            if (!mosquitto.waitFor(10, TimeUnit.SECONDS)) {
                mosquitto.destroyForcibly();
            }
        }
    }

    @Override
    protected boolean refusesForeignClientIdsAtConnect() {
        return false;
    }
}
