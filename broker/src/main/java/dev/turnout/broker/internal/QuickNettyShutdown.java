package dev.turnout.broker.internal;

import com.hivemq.bootstrap.NettyShutdownHook;
import com.hivemq.common.shutdown.HiveMQShutdownHook;
import com.hivemq.common.shutdown.ShutdownHooks;
import com.hivemq.embedded.EmbeddedHiveMQ;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * HiveMQ's own Netty shutdown step with a short quiet period. HiveMQ stops its event loops with Netty's
 * {@code shutdownGracefully(2, timeout, SECONDS)}: every stop waits two seconds in which no task may arrive, although
 * by then every client connection is already closed (the step closes them first). This step does the same — close the
 * connections, then stop the worker and boss loops, each running what is queued — with a quiet period of
 * {@value #QUIET_MS} ms. It replaces HiveMQ's in its shutdown hooks once the broker has started; where the broker's
 * internals are not as this version has them, HiveMQ's own step stays (and a stop takes 2 s longer). Netty, Guice and
 * Guava are HiveMQ's runtime libraries, not this module's: they are reached by reflection.
 */
public final class QuickNettyShutdown implements HiveMQShutdownHook {

    private static final Logger LOG = LoggerFactory.getLogger(QuickNettyShutdown.class);
    static final long QUIET_MS = 100;

    private final Object workers;
    private final Object bosses;
    private final int loopsTimeoutSeconds;
    private final int connectionsTimeoutSeconds;
    private final Object connections;
    private final Method shutdownGracefully;
    private final Method syncUninterruptibly;
    private final Method shutDownConnections;
    private final Method interruptConnections;

    private QuickNettyShutdown(Object workers, Object bosses, int loopsTimeoutSeconds, int connectionsTimeoutSeconds,
                               Object connections) throws ReflectiveOperationException {
        ClassLoader loader = NettyShutdownHook.class.getClassLoader();
        this.shutdownGracefully = Class.forName("io.netty.util.concurrent.EventExecutorGroup", false, loader)
                .getMethod("shutdownGracefully", long.class, long.class, TimeUnit.class);
        this.syncUninterruptibly = Class.forName("io.netty.util.concurrent.Future", false, loader).getMethod("syncUninterruptibly");
        Class<?> persistence = Class.forName("com.hivemq.persistence.connection.ConnectionPersistence", false, loader);
        this.shutDownConnections = persistence.getMethod("shutDown");
        this.interruptConnections = persistence.getMethod("interruptShutdown");
        this.workers = workers;
        this.bosses = bosses;
        this.loopsTimeoutSeconds = loopsTimeoutSeconds;
        this.connectionsTimeoutSeconds = connectionsTimeoutSeconds;
        this.connections = connections;
    }

    /** Puts this step in place of HiveMQ's in a started broker; true when it did. */
    public static boolean install(EmbeddedHiveMQ hivemq) {
        try {
            Field serverField = hivemq.getClass().getDeclaredField("hiveMQServer");
            serverField.setAccessible(true);
            Object server = serverField.get(hivemq);
            Object injector = server.getClass().getMethod("getInjector").invoke(server);
            ClassLoader loader = NettyShutdownHook.class.getClassLoader();
            ShutdownHooks hooks = (ShutdownHooks) Class.forName("com.google.inject.Injector", false, loader)
                    .getMethod("getInstance", Class.class).invoke(injector, ShutdownHooks.class);
            Object byPriority = ShutdownHooks.class.getMethod("getShutdownHooks").invoke(hooks);
            Collection<?> all = (Collection<?>) Class.forName("com.google.common.collect.Multimap", false, loader)
                    .getMethod("values").invoke(byPriority);
            for (Object hook : List.copyOf(all)) {
                if (hook instanceof NettyShutdownHook netty) {
                    QuickNettyShutdown quick = new QuickNettyShutdown(field(netty, "workerGroup", Object.class),
                            field(netty, "bossGroup", Object.class), field(netty, "eventLoopsShutdownTimeout", Integer.class),
                            field(netty, "connectionPersistenceShutdownTimeout", Integer.class),
                            field(netty, "connectionPersistence", Object.class));
                    hooks.remove(netty);
                    hooks.add(quick);
                    return true;
                }
            }
            LOG.debug("no Netty shutdown hook found in the broker: its own stays");
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            LOG.debug("HiveMQ's own Netty shutdown stays ({}): a stop takes 2 s longer", e.toString());
        }
        return false;
    }

    private static <T> T field(Object owner, String name, Class<T> type) throws ReflectiveOperationException {
        Field f = owner.getClass().getDeclaredField(name);
        f.setAccessible(true);
        return type.cast(f.get(owner));
    }

    @Override
    public String name() {
        return "Netty Shutdown (short quiet period)";
    }

    @Override
    public Priority priority() {
        return Priority.MEDIUM; // as HiveMQ's own: after the lifecycle, before the extensions and the persistence
    }

    @Override
    public void run() {
        try {
            try {
                // the client connections first, while their event loops still run
                ((Future<?>) shutDownConnections.invoke(connections)).get(connectionsTimeoutSeconds, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                LOG.warn("interrupted while closing the client connections");
            } catch (Exception e) {
                LOG.warn("closing the client connections: {}", e.toString());
            } finally {
                interruptConnections.invoke(connections);
            }
            long timeoutMs = Math.max(QUIET_MS, TimeUnit.SECONDS.toMillis(loopsTimeoutSeconds));
            Object workersDone = shutdownGracefully.invoke(workers, QUIET_MS, timeoutMs, TimeUnit.MILLISECONDS);
            Object bossesDone = shutdownGracefully.invoke(bosses, QUIET_MS, timeoutMs, TimeUnit.MILLISECONDS);
            syncUninterruptibly.invoke(workersDone);
            syncUninterruptibly.invoke(bossesDone);
        } catch (ReflectiveOperationException e) {
            LOG.warn("stopping the broker's network threads: {}", e.toString());
        }
    }
}
