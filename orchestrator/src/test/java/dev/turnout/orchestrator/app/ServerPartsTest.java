package dev.turnout.orchestrator.app;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ServerPartsTest {

    private final List<String> events = new ArrayList<>();

    private String started(String name) {
        events.add("start " + name);
        return name;
    }

    private void stopped(String name) {
        events.add("stop " + name);
    }

    @Test
    void partsStopInTheReverseOrderOfTheirStartAndAPartThatStartedNothingIsNotStopped() throws Exception {
        ServerParts parts = new ServerParts();
        parts.start("store", () -> started("store"), this::stopped);
        parts.start("TLS material", () -> null, part -> stopped("TLS material"));
        parts.start("signing key", () -> started("signing key"));
        parts.start("broker", () -> started("broker"), this::stopped);
        parts.start("HTTP API", () -> started("HTTP API"), this::stopped);

        parts.close();
        parts.close(); // a second close stops nothing twice

        assertThat(events).containsExactly("start store", "start signing key", "start broker", "start HTTP API",
                "stop HTTP API", "stop broker", "stop store");
    }

    @Test
    void aPartThatDoesNotStartIsNamedWithItsReasonAndThePartsBeforeItStopAgain() throws Exception {
        ServerParts parts = new ServerParts();
        parts.start("store", () -> started("store"), this::stopped);
        parts.start("broker", () -> started("broker"), this::stopped);

        assertThatThrownBy(() -> parts.start("HTTP API on 0.0.0.0:8080", () -> {
            throw new java.net.BindException("Address already in use");
        }, this::stopped))
                .isInstanceOf(ServerParts.PartFailedException.class)
                .hasMessage("HTTP API on 0.0.0.0:8080: Address already in use")
                .hasRootCauseInstanceOf(java.net.BindException.class)
                .satisfies(e -> assertThat(((ServerParts.PartFailedException) e).part()).isEqualTo("HTTP API on 0.0.0.0:8080"));
        parts.close();

        assertThat(events).containsExactly("start store", "start broker", "stop broker", "stop store");
    }

    @Test
    void theReasonOfAFailedWaitIsWhatFailedNotTheWait() {
        ServerParts parts = new ServerParts();
        CompletableFuture<String> listening = CompletableFuture.failedFuture(new IOException("no such host: nowhere"));

        assertThatThrownBy(() -> parts.start("HTTP API", () -> listening.get(1, TimeUnit.SECONDS)))
                .hasMessage("HTTP API: no such host: nowhere");
    }

    @Test
    void aPartThatCannotStopDoesNotKeepTheOthersRunning() throws Exception {
        ServerParts parts = new ServerParts();
        parts.start("store", () -> started("store"), this::stopped);
        parts.start("MQTT client", () -> started("MQTT client"), part -> {
            throw new IOException("connection lost");
        });
        parts.start("HTTP API", () -> started("HTTP API"), this::stopped);

        parts.close();

        assertThat(events).containsExactly("start store", "start MQTT client", "start HTTP API", "stop HTTP API", "stop store");
    }
}
