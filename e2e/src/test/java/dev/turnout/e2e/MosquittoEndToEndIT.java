package dev.turnout.e2e;

import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.testsupport.Mosquitto;

import java.nio.file.Path;

/**
 * The whole loop on the site's Mosquitto, nothing embedded, secured as docs/security.md says:
 * {@code turnout broker mosquitto-config} writes the password file, ACL file and listener, the
 * site's mosquitto.conf includes them, and the server keeps them current and reloads Mosquitto.
 */
class MosquittoEndToEndIT extends WholeLoopScenario {

    private Mosquitto mosquitto;
    private Path configDir;

    @Override
    protected String startBroker(Path dir) throws Exception {
        // Mosquitto started as root drops to its own user: it must be able to enter the test's directory
        java.nio.file.Files.setPosixFilePermissions(dir.getParent(), java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        configDir = dir.resolve("turnout");
        mosquitto = Mosquitto.start(dir, port -> {
            Operator.Result written = cli("broker", "mosquitto-config", "--data", serverDataDir().toString(), "--out", configDir.toString(),
                    "--listener", port + " 127.0.0.1");
            if (written.code() != 0) {
                throw new AssertionError(written.toString());
            }
            return "persistence false\nlog_dest stdout\ninclude_dir " + configDir.toAbsolutePath() + "\n";
        });
        return mosquitto.url();
    }

    @Override
    protected BrokerAuth brokerAuth() {
        return new BrokerAuth(null, null, configDir, "kill -HUP " + mosquitto.pid());
    }

    @Override
    protected boolean embedsBroker() {
        return false;
    }

    @Override
    protected void stopBroker() throws Exception {
        if (mosquitto != null) {
            mosquitto.close();
        }
    }
}
