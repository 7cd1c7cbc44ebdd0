package dev.turnout.edge.mqtt;

import dev.turnout.proto.Presence;
import dev.turnout.proto.Topics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A broker that accepts the connection but never confirms the subscription to the desired state (as the chaos soak
 * saw after a partition healed, on a loaded machine): the link must not stay connected and deaf, but drop the
 * connection and connect and subscribe again.
 */
class MqttLinkResubscribeTest {

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aSubscriptionTheBrokerNeverConfirmsIsMadeAgainOnANewConnection() throws Exception {
        AtomicInteger connections = new AtomicInteger();
        try (ServerSocket listener = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            Thread broker = new Thread(() -> {
                while (!listener.isClosed()) {
                    try {
                        Socket s = listener.accept();
                        int n = connections.incrementAndGet();
                        Thread session = new Thread(() -> serve(s, n > 1), "fake-broker-" + n);
                        session.setDaemon(true);
                        session.start();
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "fake-broker");
            broker.setDaemon(true);
            broker.start();

            String id = "pi-1";
            MqttLink link = new MqttLink("tcp://127.0.0.1:" + listener.getLocalPort(), id, Topics.defaults(), null, null, wire -> { },
                    () -> Presence.newBuilder().setDeviceId(id).setOnline(true).build(), List::of);
            try {
                // returns once subscribed: the first connection never is, the second is
                link.connect(Duration.ofSeconds(45));
                assertThat(connections.get()).as("connections the link made").isGreaterThanOrEqualTo(2);
                assertThat(link.isConnected()).isTrue();
            } finally {
                link.close();
            }
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFirstConnectThatOutlastsItsWaitButGoesThroughCountsAsConnected() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            AtomicInteger connections = new AtomicInteger();
            Thread broker = new Thread(() -> {
                while (!listener.isClosed()) {
                    try {
                        Socket s = listener.accept();
                        connections.incrementAndGet();
                        Thread session = new Thread(() -> serve(s, true, 11_000), "slow-broker");
                        session.setDaemon(true);
                        session.start();
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "slow-broker-accept");
            broker.setDaemon(true);
            broker.start();
            String id = "pi-2";
            MqttLink link = new MqttLink("tcp://127.0.0.1:" + listener.getLocalPort(), id, Topics.defaults(), null, null, wire -> { },
                    () -> Presence.newBuilder().setDeviceId(id).setOnline(true).build(), List::of);
            try {
                // the CONNACK comes after 11 s, past the link's 10 s wait; the connection is there all the same
                link.connect(Duration.ofSeconds(40));
                assertThat(link.isConnected()).isTrue();
            } finally {
                link.close();
            }
        }
    }

    private static void serve(Socket socket, boolean confirm) {
        serve(socket, confirm, 0);
    }

    /** Answers CONNECT with CONNACK; SUBSCRIBE with SUBACK only when {@code confirm}; ignores everything else. */
    private static void serve(Socket socket, boolean confirm, long connackDelayMs) {
        try (socket; DataInputStream in = new DataInputStream(socket.getInputStream())) {
            OutputStream out = socket.getOutputStream();
            while (true) {
                int header = in.readUnsignedByte();
                int length = 0;
                int shift = 0;
                int b;
                do {
                    b = in.readUnsignedByte();
                    length |= (b & 0x7f) << shift;
                    shift += 7;
                } while ((b & 0x80) != 0);
                byte[] body = in.readNBytes(length);
                int type = header >> 4;
                if (type == 1) { // CONNECT -> CONNACK (MQTT 5: flags, reason, no properties)
                    sleep(connackDelayMs);
                    out.write(new byte[] {0x20, 0x03, 0x00, 0x00, 0x00});
                } else if (type == 8 && confirm) { // SUBSCRIBE -> SUBACK granting QoS 1
                    out.write(new byte[] {(byte) 0x90, 0x04, body[0], body[1], 0x00, 0x01});
                } else if (type == 3 && (header & 0x06) != 0) { // PUBLISH QoS 1 -> PUBACK
                    int topicLength = ((body[0] & 0xff) << 8) | (body[1] & 0xff);
                    out.write(new byte[] {0x40, 0x02, body[2 + topicLength], body[3 + topicLength]});
                } else if (type == 12) { // PINGREQ -> PINGRESP
                    out.write(new byte[] {(byte) 0xd0, 0x00});
                }
                out.flush();
            }
        } catch (IOException closed) {
            // the client went away
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms); // the broker's slowness, not a wait for behaviour
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
