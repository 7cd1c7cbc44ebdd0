package dev.turnout.edge.docker;

import com.github.dockerjava.transport.DockerHttpClient;
import org.apache.hc.core5.http.ConnectionRequestTimeoutException;
import org.apache.hc.client5.http.impl.classic.RequestFailedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/**
 * A Docker API call whose connection could not be taken from the pool is tried again, once: such a request was never
 * sent, so trying it again cannot do anything twice. Apache HttpClient times its pool with the wall clock
 * ({@code Deadline}, {@code BasicFuture.get}), and a Pi without a real-time clock steps its clock at boot and when NTP
 * first answers: a call made across such a step failed with "RequestFailedException: Request execution failed" and
 * the update it belonged to rolled back (DeviceFaultsIT, the clock jumping a year forward during a health check).
 * An interrupted call ("Request aborted") is not tried again.
 */
final class LeaseRetry implements DockerHttpClient {

    private static final Logger log = LoggerFactory.getLogger(LeaseRetry.class);

    private final DockerHttpClient delegate;

    LeaseRetry(DockerHttpClient delegate) {
        this.delegate = delegate;
    }

    @Override
    public Response execute(Request request) {
        try {
            return delegate.execute(request);
        } catch (RuntimeException e) {
            if (!neverSent(e) || Thread.currentThread().isInterrupted()) {
                throw e;
            }
            log.warn("Docker API {} {}: no connection could be taken ({}); trying once more", request.method(), request.path(), causeOf(e));
            return delegate.execute(request);
        }
    }

    /** Whether {@code e} says the request failed while waiting for a pooled connection, before anything was sent. */
    static boolean neverSent(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConnectionRequestTimeoutException) {
                return true;
            }
            if (t instanceof RequestFailedException && "Request execution failed".equals(t.getMessage())) {
                return true; // InternalExecRuntime.acquireEndpoint: the pool's lease failed
            }
        }
        return false;
    }

    private static String causeOf(Throwable e) {
        Throwable last = e;
        for (Throwable t = e; t != null; t = t.getCause()) {
            last = t;
        }
        return last.toString();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }
}
