package dev.turnout.orchestrator.security;

import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.testsupport.Mosquitto;
import org.junit.jupiter.api.Assertions;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The security matrix on a real Mosquitto 2 set up as docs/security.md says: {@code turnout broker
 * mosquitto-config} writes the files, mosquitto.conf includes them, the server rewrites them and
 * sends Mosquitto SIGHUP after every enrollment, revocation and user change.
 */
class MosquittoSecurityMatrixIT extends SecurityMatrix {

    private Mosquitto mosquitto;

    @Override
    protected TurnoutServer startServer(Path work) throws Exception {
        Path data = work.resolve("server");
        Path turnoutConf = work.resolve("mosquitto-turnout");
        mosquitto = Mosquitto.start(work.resolve("mosquitto"), port -> {
            Result written = cli("broker", "mosquitto-config", "--data", data.toString(), "--out", turnoutConf.toString(),
                    "--listener", port + " 127.0.0.1");
            assertThat(written.code()).as(written.toString()).isZero();
            assertThat(Files.readString(turnoutConf.resolve("turnout.conf"))).contains("allow_anonymous false", "use_username_as_clientid true");
            return "persistence false\nlog_dest stdout\nlog_type all\ninclude_dir " + turnoutConf + "\n";
        });
        return TurnoutServer.start(new ServerOptions(data, 0, 0, "127.0.0.1", mosquitto.url(), "127.0.0.1",
                topics.prefix(), new BrokerAuth(null, null, turnoutConf, "kill -HUP " + mosquitto.pid())));
    }

    @Override
    protected void stopBroker() {
        if (mosquitto != null) {
            mosquitto.close();
        }
    }

    @Override
    protected boolean refusesForeignClientIdsAtConnect() {
        return false;
    }
}
