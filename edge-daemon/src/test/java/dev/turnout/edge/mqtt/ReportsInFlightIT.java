package dev.turnout.edge.mqtt;

import dev.turnout.proto.Presence;
import dev.turnout.proto.Reason;
import dev.turnout.proto.StatusEvent;
import dev.turnout.proto.Topics;
import dev.turnout.proto.UpdateState;
import dev.turnout.testsupport.FaultProxy;
import dev.turnout.testsupport.Mosquitto;
import dev.turnout.testsupport.MqttRecorder;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A status report sent on a connection that is lost before the broker acknowledged it is sent again once the link is
 * back, although the link connects with a clean session and sends each app's current status after a reconnect: a
 * refusal (REJECTED) is no app's status, so before, it was lost. Real Mosquitto, a real TCP proxy that holds the report
 * and then resets the connection with it.
 */
class ReportsInFlightIT {

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aRefusalInFlightWhenTheConnectionIsLostReachesTheBrokerAfterTheReconnect() throws Exception {
        Requirements.mosquitto();
        String id = "pi-inflight";
        try (Mosquitto mosquitto = Mosquitto.anonymous(dir.resolve("mosquitto"));
             FaultProxy proxy = FaultProxy.to("127.0.0.1", mosquitto.port());
             MqttRecorder<StatusEvent> monitor = MqttRecorder.connect("tcp://127.0.0.1:" + mosquitto.port(),
                     MqttRecorder.Login.anonymous(), (topic, payload) -> StatusEvent.parseFrom(payload), Topics.defaults().status(id))) {
            MqttLink link = new MqttLink(proxy.url("tcp"), id, Topics.defaults(), null, null, wire -> { },
                    () -> Presence.newBuilder().setDeviceId(id).setOnline(true).build(), List::of);
            try {
                link.reconnectBackoffAtMost(Duration.ofSeconds(1));
                link.connect(Duration.ofSeconds(30));
                link.report(report(1, UpdateState.ACTIVE, Reason.REASON_UNSPECIFIED));
                await().atMost(Duration.ofSeconds(10)).until(() -> seqs(monitor).contains(1L) && link.unacknowledgedReports() == 0);

                proxy.stall(); // the next report leaves the device but neither reaches the broker nor is acknowledged
                link.report(report(2, UpdateState.REJECTED, Reason.BAD_SIGNATURE));
                await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(() -> !seqs(monitor).contains(2L));
                assertThat(link.unacknowledgedReports()).as("sent, not acknowledged").isEqualTo(1);

                proxy.partition(); // the connection is reset with the report in it
                await().atMost(Duration.ofSeconds(10)).until(() -> !link.isConnected());
                link.report(report(3, UpdateState.REJECTED, Reason.UNKNOWN_KEY)); // made while away: waits in the buffer
                proxy.pass();

                await().atMost(Duration.ofSeconds(30)).until(() -> seqs(monitor).containsAll(List.of(2L, 3L)));
                assertThat(seqs(monitor).indexOf(2L)).as("the lost report goes ahead of the one made while away: %s", seqs(monitor))
                        .isLessThan(seqs(monitor).indexOf(3L));
                StatusEvent again = monitor.messages().stream().filter(e -> e.getReportSeq() == 2).findFirst().orElseThrow();
                assertThat(again.getReason()).isEqualTo(Reason.BAD_SIGNATURE);
                await().atMost(Duration.ofSeconds(10)).until(() -> link.unacknowledgedReports() == 0);
            } finally {
                link.close();
            }
        }
    }

    private static StatusEvent report(long seq, UpdateState state, Reason reason) {
        return StatusEvent.newBuilder().setDeviceId("pi-inflight").setApp("web").setVersion("6.6.6").setState(state).setReason(reason)
                .setReportSeq(seq).setTimestampMs(System.currentTimeMillis()).build();
    }

    private static List<Long> seqs(MqttRecorder<StatusEvent> monitor) {
        return monitor.messages().stream().map(StatusEvent::getReportSeq).toList();
    }
}
