package dev.turnout.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy on loopback between clients (a device's daemon) and one server (the broker, the orchestrator's
 * HTTP), which breaks the link at the test's command, as a network between a device and its site would break:
 * <ul>
 *   <li>{@link #pass()}: bytes flow both ways (the default);</li>
 *   <li>{@link #partition()}: every open connection is reset and new ones are reset as soon as they arrive
 *       (a link that is down and says so);</li>
 *   <li>{@link #stall()}: connections stay open and new ones are accepted, but nothing is forwarded either way
 *       (a black-holed link: the peers only notice by their own timeouts);</li>
 *   <li>{@link #onlyClientToServer()} / {@link #onlyServerToClient()}: one direction flows, the other is held
 *       (asymmetric loss; held bytes are delivered when the direction heals, as TCP retransmits them);</li>
 *   <li>{@link #throttle(long)}: at most so many bytes a second each way (a slow link), on top of the mode.</li>
 * </ul>
 * Held bytes stay in the proxy's and the kernel's buffers, so what a stalled link holds is bounded by them.
 * Listens on 127.0.0.1 only; plain threads, one pair per connection.
 */
public final class FaultProxy implements AutoCloseable {

    /** What the link does with the bytes it is given. */
    public enum Mode {
        /** Both directions flow. */
        PASS,
        /** Connections are reset, open ones at once, new ones as they arrive. */
        PARTITION,
        /** Nothing flows; connections stay open. */
        STALL,
        /** Client to server flows, server to client is held. */
        CLIENT_TO_SERVER_ONLY,
        /** Server to client flows, client to server is held. */
        SERVER_TO_CLIENT_ONLY
    }

    private static final int BUFFER = 16 * 1024;

    private final ServerSocket listener;
    private final InetSocketAddress target;
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final Object gate = new Object();
    private final RateLimit toServerRate = new RateLimit();
    private final RateLimit toClientRate = new RateLimit();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong reset = new AtomicLong();
    private final AtomicLong bytesToServer = new AtomicLong();
    private final AtomicLong bytesToClient = new AtomicLong();
    private volatile Mode mode = Mode.PASS;
    private volatile boolean closed;

    private FaultProxy(ServerSocket listener, InetSocketAddress target) {
        this.listener = listener;
        this.target = target;
    }

    /** A proxy on a free loopback port, passing everything to {@code host:port} until told otherwise. */
    public static FaultProxy to(String host, int port) {
        try {
            ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            FaultProxy proxy = new FaultProxy(listener, new InetSocketAddress(host, port));
            Thread acceptor = new Thread(proxy::acceptLoop, "fault-proxy-" + listener.getLocalPort() + "-accept");
            acceptor.setDaemon(true);
            acceptor.start();
            return proxy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The proxy's loopback port: clients connect here instead of to the server. */
    public int port() {
        return listener.getLocalPort();
    }

    /** {@code scheme://127.0.0.1:PORT}, e.g. {@code url("tcp")} for MQTT, {@code url("http")}. */
    public String url(String scheme) {
        return scheme + "://127.0.0.1:" + port();
    }

    public Mode mode() {
        return mode;
    }

    /** Heals the link: both directions flow again, held bytes are delivered. */
    public void pass() {
        setMode(Mode.PASS);
    }

    /** Resets every open connection and every new one until healed. */
    public void partition() {
        setMode(Mode.PARTITION);
        for (Link link : links) {
            link.reset();
        }
    }

    /** Holds every byte both ways; connections stay open and new ones are accepted. */
    public void stall() {
        setMode(Mode.STALL);
    }

    /** Asymmetric loss: what the client sends reaches the server, the server's answers are held. */
    public void onlyClientToServer() {
        setMode(Mode.CLIENT_TO_SERVER_ONLY);
    }

    /** Asymmetric loss: what the server sends reaches the client, the client's bytes are held. */
    public void onlyServerToClient() {
        setMode(Mode.SERVER_TO_CLIENT_ONLY);
    }

    /** At most {@code bytesPerSecond} each way from now on (0: no limit); 64 kbit/s is 8,000. */
    public void throttle(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("bytesPerSecond must be 0 (no limit) or more, not " + bytesPerSecond);
        }
        toServerRate.set(bytesPerSecond);
        toClientRate.set(bytesPerSecond);
    }

    /** Connections accepted since the start (reset ones included). */
    public long accepted() {
        return accepted.get();
    }

    /** Connections reset by a partition (open ones and those refused while it lasted). */
    public long resets() {
        return reset.get();
    }

    /** Bytes forwarded from clients to the server. */
    public long bytesToServer() {
        return bytesToServer.get();
    }

    /** Bytes forwarded from the server to clients. */
    public long bytesToClient() {
        return bytesToClient.get();
    }

    /** Connections open now. */
    public int openConnections() {
        return links.size();
    }

    private void setMode(Mode next) {
        synchronized (gate) {
            mode = next;
            gate.notifyAll();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return; // closed
            }
            accepted.incrementAndGet();
            if (mode == Mode.PARTITION) {
                reset.incrementAndGet();
                resetQuietly(client);
                continue;
            }
            Socket server = new Socket();
            try {
                server.connect(target, 5_000);
            } catch (IOException e) {
                // the server is down: the client sees its connection closed, as it would see it refused
                closeQuietly(server);
                resetQuietly(client);
                continue;
            }
            Link link = new Link(client, server);
            links.add(link);
            link.start();
        }
    }

    private boolean flows(boolean toServer) {
        Mode m = mode;
        return m == Mode.PASS || (toServer ? m == Mode.CLIENT_TO_SERVER_ONLY : m == Mode.SERVER_TO_CLIENT_ONLY);
    }

    /** Waits until bytes may flow this way; false when the link or the proxy is gone meanwhile. */
    private boolean awaitFlow(boolean toServer, Link link) throws InterruptedException {
        synchronized (gate) {
            while (!flows(toServer)) {
                if (closed || link.done) {
                    return false;
                }
                gate.wait(100);
            }
        }
        return !closed && !link.done;
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(listener);
        for (Link link : links) {
            link.close();
        }
        synchronized (gate) {
            gate.notifyAll();
        }
    }

    private static void resetQuietly(Socket socket) {
        try {
            socket.setSoLinger(true, 0); // RST instead of FIN, as a link that drops the connection
        } catch (SocketException ignored) {
            // closing anyway
        }
        closeQuietly(socket);
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // nothing to do
        }
    }

    /** One client's connection and its own to the server. */
    private final class Link {
        private final Socket client;
        private final Socket server;
        private volatile boolean done;

        Link(Socket client, Socket server) {
            this.client = client;
            this.server = server;
        }

        void start() {
            String name = "fault-proxy-" + port() + "-" + client.getPort();
            Thread up = new Thread(() -> pump(client, server, true), name + "-up");
            Thread down = new Thread(() -> pump(server, client, false), name + "-down");
            up.setDaemon(true);
            down.setDaemon(true);
            up.start();
            down.start();
        }

        private void pump(Socket from, Socket to, boolean toServer) {
            RateLimit rate = toServer ? toServerRate : toClientRate;
            AtomicLong counter = toServer ? bytesToServer : bytesToClient;
            byte[] buffer = new byte[BUFFER];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                while (awaitFlow(toServer, this)) {
                    int n = in.read(buffer, 0, rate.chunk(buffer.length));
                    if (n < 0) {
                        break;
                    }
                    // read while flowing, held if the link broke meanwhile: delivered when it heals, or never
                    if (!awaitFlow(toServer, this)) {
                        break;
                    }
                    rate.acquire(n);
                    out.write(buffer, 0, n);
                    out.flush();
                    counter.addAndGet(n);
                }
            } catch (IOException | InterruptedException e) {
                // the connection ended (or was reset by a partition)
            } finally {
                close();
            }
        }

        void reset() {
            if (!done) {
                reset.incrementAndGet();
            }
            done = true;
            links.remove(this);
            resetQuietly(client);
            resetQuietly(server);
            synchronized (gate) {
                gate.notifyAll();
            }
        }

        void close() {
            done = true;
            links.remove(this);
            closeQuietly(client);
            closeQuietly(server);
            synchronized (gate) {
                gate.notifyAll();
            }
        }
    }

    /** Bytes per second one way, shared by every connection of the proxy (one link, one bandwidth). */
    private static final class RateLimit {
        private long bytesPerSecond;
        private long nextFreeNanos;

        synchronized void set(long bytesPerSecond) {
            this.bytesPerSecond = bytesPerSecond;
            nextFreeNanos = System.nanoTime();
        }

        /** Reads no larger than a twentieth of a second's worth, so a throttled link does not burst. */
        synchronized int chunk(int max) {
            return bytesPerSecond == 0 ? max : (int) Math.max(1, Math.min(max, bytesPerSecond / 20));
        }

        void acquire(int bytes) throws InterruptedException {
            long waitNanos;
            synchronized (this) {
                if (bytesPerSecond == 0) {
                    return;
                }
                long now = System.nanoTime();
                long start = Math.max(now, nextFreeNanos);
                nextFreeNanos = start + bytes * TimeUnit.SECONDS.toNanos(1) / bytesPerSecond;
                waitNanos = nextFreeNanos - now;
            }
            TimeUnit.NANOSECONDS.sleep(waitNanos);
        }
    }
}
