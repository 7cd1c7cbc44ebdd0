package dev.turnout.edge.it;

import dev.turnout.edge.docker.DockerContainerRuntime;
import dev.turnout.edge.domain.ManagedContainer;
import dev.turnout.testsupport.DockerCli;
import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An engine reached over TCP ({@code dockerHost: tcp://...}) keeps docker-java's Apache transport; the local socket
 * has the daemon's own. The engine here is the local one behind a TCP relay, as {@code socat} would put it.
 */
class TcpEngineIT {

    private static final Path SOCKET = Path.of("/var/run/docker.sock");

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES) // the client waits up to 5 minutes for an engine that does not answer
    void anEngineOverTcpAnswersAsTheLocalSocketDoes() throws Exception {
        Requirements.require(DockerCli.exitCode("docker", "info") == 0, "a Docker engine at " + SOCKET + " (`docker info` failed)");
        AtomicLong relayed = new AtomicLong();
        try (ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            Thread relay = new Thread(() -> {
                while (!listener.isClosed()) {
                    try {
                        Socket tcp = listener.accept();
                        SocketChannel unix = SocketChannel.open(StandardProtocolFamily.UNIX);
                        unix.connect(UnixDomainSocketAddress.of(SOCKET));
                        // the channel's own read and write (its streams would share one lock: a read would block the write)
                        InputStream fromUnix = new InputStream() {
                            @Override
                            public int read() {
                                throw new UnsupportedOperationException();
                            }

                            @Override
                            public int read(byte[] b, int off, int len) throws IOException {
                                return unix.read(ByteBuffer.wrap(b, off, len));
                            }

                            @Override
                            public void close() throws IOException {
                                unix.close();
                            }
                        };
                        OutputStream toUnix = new OutputStream() {
                            @Override
                            public void write(int b) {
                                throw new UnsupportedOperationException();
                            }

                            @Override
                            public void write(byte[] b, int off, int len) throws IOException {
                                ByteBuffer buf = ByteBuffer.wrap(b, off, len);
                                while (buf.hasRemaining()) {
                                    unix.write(buf);
                                }
                            }

                            @Override
                            public void close() throws IOException {
                                unix.shutdownOutput();
                            }
                        };
                        pump(tcp.getInputStream(), toUnix, relayed);
                        pump(fromUnix, tcp.getOutputStream(), relayed);
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "tcp-relay");
            relay.setDaemon(true);
            relay.start();
            String label = "dev.turnout.device";
            try (DockerContainerRuntime overTcp = new DockerContainerRuntime("tcp://127.0.0.1:" + listener.getLocalPort());
                 DockerContainerRuntime local = new DockerContainerRuntime("unix://" + SOCKET)) {
                List<ManagedContainer> viaTcp = overTcp.list(Map.of(label, "tcp-engine-it-none"));
                assertThat(viaTcp).isEqualTo(local.list(Map.of(label, "tcp-engine-it-none"))).isEmpty();
                assertThat(overTcp.inspectImage("turnout-tcp-engine-it-absent:1")).isEmpty();
                assertThat(overTcp.dataRoot()).isEqualTo(local.dataRoot());
            }
            assertThat(relayed.get()).as("the answers came over TCP").isPositive();
        }
    }

    private static void pump(InputStream from, OutputStream to, AtomicLong count) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try (from; to) {
                for (int n; (n = from.read(buf)) != -1; ) {
                    to.write(buf, 0, n);
                    to.flush();
                    count.addAndGet(n);
                }
            } catch (IOException e) {
                // one side closed
            }
        }, "tcp-relay-pump");
        t.setDaemon(true);
        t.start();
    }
}
