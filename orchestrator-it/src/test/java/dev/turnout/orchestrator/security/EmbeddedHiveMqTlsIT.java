package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TlsOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import dev.turnout.testsupport.Ports;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code turnout server --tls}: the embedded HiveMQ CE listens with TLS only, the API serves HTTPS. */
class EmbeddedHiveMqTlsIT extends TlsScenario {

    @Override
    protected TurnoutServer startServer(Path work) throws Exception {
        return TurnoutServer.start(new ServerOptions(work.resolve("server"), 0, Ports.free(), "127.0.0.1", null,
                "127.0.0.1", Topics.DEFAULT_PREFIX).withTls(TlsOptions.generated()));
    }

    @Override
    protected void stopBroker() {
        // embedded: stops with the server
    }

    @Test
    void theBrokerHasNoPlainTextListenerAndItsKeyStoreIsPrivate() throws Exception {
        Path data = server.caFile().getParent().getParent();
        String config = Files.readString(data.resolve("broker/conf/config.xml"));
        assertThat(config).contains("<tls-tcp-listener>").doesNotContain("<tcp-listener>");
        assertThat(Files.getPosixFilePermissions(data.resolve("broker/conf/config.xml")))
                .isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        assertThat(Files.getPosixFilePermissions(data.resolve("tls/broker.p12")))
                .isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    }
}
