package dev.turnout.e2e;

import java.nio.file.Path;

/** The whole loop on a plain Mosquitto, the broker the site already runs; nothing embedded. */
class MosquittoEndToEndIT extends WholeLoopScenario {

    private Mosquitto mosquitto;

    @Override
    protected String startBroker(Path dir) throws Exception {
        Requirements.mosquitto();
        mosquitto = Mosquitto.start(dir);
        return mosquitto.url();
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
