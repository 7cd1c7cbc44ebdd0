package dev.turnout.testsupport;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The proxy between a real client socket and a real server on loopback: what each mode lets through. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FaultProxyTest {

    /** Greets each connection with "hello\n", then echoes; counts what it received. */
    private ServerSocket server;
    private final ByteArrayOutputStream received = new ByteArrayOutputStream();
    private FaultProxy proxy;

    @BeforeEach
    void start() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread echo = new Thread(() -> echo(s));
                    echo.setDaemon(true);
                    echo.start();
                } catch (IOException closed) {
                    return;
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        proxy = FaultProxy.to("127.0.0.1", server.getLocalPort());
    }

    private void echo(Socket s) {
        try (s) {
            s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
            byte[] buffer = new byte[4096];
            InputStream in = s.getInputStream();
            for (int n; (n = in.read(buffer)) >= 0; ) {
                synchronized (received) {
                    received.write(buffer, 0, n);
                }
                s.getOutputStream().write(buffer, 0, n);
            }
        } catch (IOException ignored) {
            // the proxy reset it
        }
    }

    private int receivedBytes() {
        synchronized (received) {
            return received.size();
        }
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        server.close();
    }

    @Test
    void passesBothWaysAndAPartitionResetsOpenConnectionsAndRefusesNewOnesUntilHealed() throws Exception {
        Socket open = connect();
        assertThat(readLine(open)).isEqualTo("hello");
        send(open, "ping\n");
        assertThat(readLine(open)).isEqualTo("ping");

        proxy.partition();
        assertThatThrownBy(() -> readLine(open)).as("the open connection is reset").isInstanceOf(IOException.class);
        try (Socket refused = connect()) {
            assertThatThrownBy(() -> readLine(refused)).as("a new connection is reset").isInstanceOf(IOException.class);
        }
        assertThat(proxy.resets()).isEqualTo(2);

        proxy.pass();
        try (Socket healed = connect()) {
            assertThat(readLine(healed)).isEqualTo("hello");
        }
    }

    @Test
    void aStalledLinkAcceptsButHoldsEverythingUntilHealed() throws Exception {
        proxy.stall();
        try (Socket s = connect()) {
            send(s, "held\n");
            assertThatThrownBy(() -> readLine(s, 700)).isInstanceOf(SocketTimeoutException.class);
            assertThat(receivedBytes()).as("the server got nothing").isZero();

            proxy.pass();
            assertThat(readLine(s)).isEqualTo("hello");
            assertThat(readLine(s)).as("the held bytes are delivered").isEqualTo("held");
        }
    }

    @Test
    void asymmetricLossLetsOneDirectionThroughAndHoldsTheOther() throws Exception {
        try (Socket s = connect()) {
            assertThat(readLine(s)).isEqualTo("hello");
            proxy.onlyClientToServer();
            send(s, "up\n");
            await().atMost(Duration.ofSeconds(5)).until(() -> receivedBytes() == 3);
            assertThatThrownBy(() -> readLine(s, 700)).as("the echo is held").isInstanceOf(SocketTimeoutException.class);

            proxy.onlyServerToClient();
            assertThat(readLine(s)).as("the held echo comes through").isEqualTo("up");
            send(s, "down\n");
            assertThatThrownBy(() -> readLine(s, 700)).isInstanceOf(SocketTimeoutException.class);
            assertThat(receivedBytes()).as("what the client sends is held").isEqualTo(3);

            proxy.pass();
            assertThat(readLine(s)).isEqualTo("down");
        }
    }

    @Test
    void aThrottledLinkCarriesNoMoreThanItsRate() throws Exception {
        try (Socket s = connect()) {
            assertThat(readLine(s)).isEqualTo("hello");
            proxy.throttle(8_000); // 64 kbit/s
            long start = System.nanoTime();
            s.getOutputStream().write(new byte[16_000]);
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> receivedBytes() == 16_000);
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(millis).as("16,000 bytes at 8,000 B/s").isBetween(1_800L, 10_000L);

            proxy.throttle(0);
            start = System.nanoTime();
            s.getOutputStream().write(new byte[160_000]);
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> receivedBytes() == 176_000);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).as("unthrottled again").isLessThan(1_800L);
        }
        assertThatThrownBy(() -> proxy.throttle(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("bytesPerSecond");
    }

    private Socket connect() throws IOException {
        return new Socket(InetAddress.getLoopbackAddress(), proxy.port());
    }

    private static void send(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
    }

    private static String readLine(Socket s) throws IOException {
        return readLine(s, 5_000);
    }

    private static String readLine(Socket s, int timeoutMillis) throws IOException {
        s.setSoTimeout(timeoutMillis);
        StringBuilder line = new StringBuilder();
        InputStream in = s.getInputStream();
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) {
                throw new IOException("closed after '" + line + "'");
            }
            line.append((char) c);
        }
        return line.toString();
    }
}
