package dev.turnout.orchestrator.app;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * The started parts of a server, stopped in the reverse order of their start. A part that cannot
 * start fails with a {@link PartFailedException} that names it; a part that cannot stop is logged
 * under its name and the others still stop.
 */
final class ServerParts implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ServerParts.class);

    /** Starts a part and returns it (null: nothing started, nothing to stop). */
    @FunctionalInterface
    interface Start<T> {
        T start() throws Exception;
    }

    /** Stops a part; each stop bounds its own waits. */
    @FunctionalInterface
    interface Stop<T> {
        void stop(T part) throws Exception;
    }

    private record Started(String name, Runnable stop) {
    }

    private final Deque<Started> started = new ArrayDeque<>();

    /** Starts a part that holds nothing to release (a value, a file read once). */
    <T> T start(String name, Start<T> start) throws PartFailedException {
        return start(name, start, part -> { });
    }

    /** Starts a part; {@code stop} runs when these parts close, before the parts started earlier. */
    <T> T start(String name, Start<T> start, Stop<? super T> stop) throws PartFailedException {
        T part;
        try {
            part = start.start();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PartFailedException(name, e);
        } catch (Exception e) {
            throw new PartFailedException(name, e);
        }
        if (part != null) {
            started.push(new Started(name, () -> stopQuietly(name, part, stop)));
        }
        return part;
    }

    private static <T> void stopQuietly(String name, T part, Stop<? super T> stop) {
        try {
            stop.stop(part);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.warn("interrupted while stopping the {}", name);
        } catch (Exception | LinkageError e) {
            LOG.warn("while stopping the {}: {}", name, e.toString());
        }
    }

    /** Stops every started part, the last started first. */
    @Override
    public void close() {
        while (!started.isEmpty()) {
            started.pop().stop().run();
        }
    }

    /** A part of the server that did not start; the message begins with the part's name. */
    static final class PartFailedException extends Exception {

        private final String part;

        PartFailedException(String part, Exception cause) {
            super(part + ": " + reason(cause), cause);
            this.part = part;
        }

        /** The name of the part that did not start, e.g. {@code HTTP API on 0.0.0.0:8080}. */
        String part() {
            return part;
        }

        private static String reason(Throwable e) {
            Throwable t = e;
            while ((t instanceof ExecutionException || t instanceof CompletionException) && t.getCause() != null) {
                t = t.getCause();
            }
            return t.getMessage() == null ? t.toString() : t.getMessage();
        }
    }
}
