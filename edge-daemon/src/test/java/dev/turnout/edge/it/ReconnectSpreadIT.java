package dev.turnout.edge.it;

import dev.turnout.edge.mqtt.MqttLink;
import dev.turnout.proto.Presence;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Devices that lose a real Mosquitto come back spread over the reconnect window their desired state gave them (not
 * all at the same instant, as Paho's own back-off has every device of a fleet do), and what a device reported while
 * away still reaches the broker after it is back.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ReconnectSpreadIT {

    private static final int DEVICES = 12;
    private static final long WINDOW_MS = 4_000;

    @TempDir
    Path dir;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    @Test
    void devicesComeBackSpreadOverTheirWindowAndWhatTheyReportedWhileAwayArrives() throws Exception {
        Requirements.mosquitto();
        // log_type all: the broker's log says which PUBLISH it received from whom, after the restart too
        Mosquitto mosquitto = Mosquitto.start(dir.resolve("mosquitto"),
                port -> Mosquitto.listener(port) + "allow_anonymous true\npersistence false\nlog_type all\n");
        toClose.add(mosquitto);
        Topics topics = new Topics(Topics.DEFAULT_PREFIX);
        List<MqttLink> links = new ArrayList<>();
        for (int i = 0; i < DEVICES; i++) {
            String id = "spread-" + i;
            MqttLink link = new MqttLink(mosquitto.url(), id, topics, null, null, wire -> { },
                    () -> Presence.newBuilder().setDeviceId(id).setOnline(true).build(), List::of);
            toClose.add(link);
            link.connect(Duration.ofSeconds(20));
            link.reconnectWindow(WINDOW_MS);
            links.add(link);
        }

        mosquitto.close();
        long lost = System.nanoTime();
        await().atMost(Duration.ofSeconds(30)).until(() -> links.stream().noneMatch(MqttLink::isConnected));
        links.get(0).report(StatusEvent.newBuilder().setDeviceId("spread-0").setApp("web").setVersion("2.0.0")
                .setState(UpdateState.ACTIVE).setMessage("reported while away").build());
        long logBefore = java.nio.file.Files.size(mosquitto.log());
        mosquitto.restart();

        long[] backAfterMs = new long[DEVICES];
        await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(20)).until(() -> {
            boolean all = true;
            for (int i = 0; i < DEVICES; i++) {
                if (backAfterMs[i] == 0 && links.get(i).isConnected()) {
                    backAfterMs[i] = Math.max(1, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lost));
                }
                all &= backAfterMs[i] != 0;
            }
            return all;
        });
        long first = java.util.Arrays.stream(backAfterMs).min().orElseThrow();
        long last = java.util.Arrays.stream(backAfterMs).max().orElseThrow();
        System.out.printf("%d devices back %d..%d ms after the broker went away (window %d ms)%n", DEVICES, first, last, WINDOW_MS);
        // uniform over 4 s: twelve devices all inside 1.5 s of each other happens about once in 4,000 runs
        assertThat(last - first).as("reconnects spread over the window, not in step").isGreaterThan(1_500);
        assertThat(last).as("every device back within about the window").isLessThan(WINDOW_MS + 10_000);

        String status = "'" + topics.status("spread-0") + "'";
        await().atMost(Duration.ofSeconds(20)).until(() -> {
            String log = java.nio.file.Files.readString(mosquitto.log());
            return log.substring((int) logBefore).lines().anyMatch(l -> l.contains("Received PUBLISH from spread-0") && l.contains(status));
        });
    }
}
