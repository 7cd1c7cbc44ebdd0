package dev.turnout.edge.port;

import dev.turnout.proto.StatusEvent;

/** Sends status events to the orchestrator; never blocks for long and never throws. */
public interface StatusReporter {

    void report(StatusEvent event);
}
