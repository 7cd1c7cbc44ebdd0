package dev.turnout.e2e;

import java.nio.file.Path;

/** The whole loop with the orchestrator's embedded HiveMQ CE broker. */
class EmbeddedHiveMqEndToEndIT extends WholeLoopScenario {

    @Override
    protected String startBroker(Path dir) {
        return null;
    }

    @Override
    protected boolean embedsBroker() {
        return true;
    }
}
