package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TlsOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Mosquitto;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The site's Mosquitto 2 on TLS as docs/security.md says: {@code turnout broker mosquitto-config --tls}
 * writes a certificate for the Mosquitto host signed by the orchestrator's CA and a TLS listener;
 * mosquitto.conf includes them; {@code turnout server --tls --broker-url ssl://...} connects pinning that CA.
 */
class MosquittoTlsIT extends TlsScenario {

    private Mosquitto mosquitto;
    private Path turnoutConf;

    @Override
    protected TurnoutServer startServer(Path work) throws Exception {
        Path data = work.resolve("server");
        turnoutConf = work.resolve("mosquitto-turnout");
        mosquitto = Mosquitto.start(work.resolve("mosquitto"), port -> {
            Result written = cli(Map.of(), "broker", "mosquitto-config", "--data", data.toString(), "--out", turnoutConf.toString(),
                    "--tls", "--tls-port", String.valueOf(port), "--tls-bind", "127.0.0.1", "--tls-host", "mqtt.site.example");
            assertThat(written.code()).as(written.toString()).isZero();
            assertThat(written.out()).contains("turnout-broker.pem", "mqtt.site.example", "ssl://HOST:" + port);
            return "persistence false\nlog_dest stdout\nlog_type all\ninclude_dir " + turnoutConf + "\n";
        });
        String brokerUrl = "ssl://127.0.0.1:" + mosquitto.port();
        return TurnoutServer.start(new ServerOptions(data, 0, 0, "127.0.0.1", brokerUrl, "127.0.0.1",
                Topics.DEFAULT_PREFIX, new BrokerAuth(null, null, turnoutConf, "kill -HUP " + mosquitto.pid()))
                .withTls(TlsOptions.generated()));
    }

    @Override
    protected void stopBroker() {
        if (mosquitto != null) {
            mosquitto.close();
        }
    }

    @Test
    void theSnippetAddsATlsListenerOfItsOwnWithFilesSignedByTheOrchestratorsCa() throws Exception {
        String snippet = Files.readString(turnoutConf.resolve("turnout.conf"));
        assertThat(snippet).contains("listener " + mosquitto.port() + " 127.0.0.1", "cafile " + turnoutConf.resolve("turnout-ca.pem"),
                "certfile " + turnoutConf.resolve("turnout-broker.pem"), "keyfile " + turnoutConf.resolve("turnout-broker.key"));
        assertThat(Files.readString(turnoutConf.resolve("turnout-ca.pem"))).isEqualTo(Files.readString(server.caFile()));
        var cert = TlsMaterial.readCertificates(turnoutConf.resolve("turnout-broker.pem")).get(0);
        cert.verify(TlsMaterial.readCertificates(server.caFile()).get(0).getPublicKey());
        assertThat(TlsMaterial.names(cert)).contains("mqtt.site.example", "127.0.0.1", "localhost");
        assertThat(Files.getPosixFilePermissions(turnoutConf.resolve("turnout-broker.key")))
                .doesNotContain(java.nio.file.attribute.PosixFilePermission.OTHERS_READ);
        assertThat(Files.readString(mosquitto.log())).contains("Opening ipv4 listen socket on port " + mosquitto.port());
    }
}
