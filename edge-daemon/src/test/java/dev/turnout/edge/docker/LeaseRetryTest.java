package dev.turnout.edge.docker;

import com.github.dockerjava.transport.DockerHttpClient;
import org.apache.hc.core5.http.ConnectionRequestTimeoutException;
import org.apache.hc.client5.http.impl.classic.RequestFailedException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Which failed Docker API calls {@link LeaseRetry} sends again: only those that never left the connection pool.
 * The delegate here is a scripted transport (named so): the failure it stands for, a pool lease failing across a
 * wall-clock step, is proven on a real engine under libfaketime by DeviceFaultsIT.
 */
class LeaseRetryTest {

    private static final DockerHttpClient.Request INSPECT = DockerHttpClient.Request.builder()
            .method(DockerHttpClient.Request.Method.GET).path("/containers/web/json").build();

    @Test
    void aCallWhoseConnectionLeaseFailedIsSentOnceMore() {
        ScriptedTransport transport = new ScriptedTransport(
                new RuntimeException(new RequestFailedException("Request execution failed", new TimeoutException("Deadline: overdue"))));
        assertThat(new LeaseRetry(transport).execute(INSPECT)).isNotNull();
        assertThat(transport.calls).hasSize(2);
    }

    @Test
    void aCallThatTimedOutWaitingForAConnectionIsSentOnceMore() {
        ScriptedTransport transport = new ScriptedTransport(new RuntimeException(new ConnectionRequestTimeoutException("pool")));
        new LeaseRetry(transport).execute(INSPECT);
        assertThat(transport.calls).hasSize(2);
    }

    @Test
    void aCallThatFailsTwiceIsNotTriedAThirdTime() {
        RuntimeException lease = new RuntimeException(new RequestFailedException("Request execution failed", new TimeoutException()));
        ScriptedTransport transport = new ScriptedTransport(lease, lease);
        assertThatThrownBy(() -> new LeaseRetry(transport).execute(INSPECT)).isSameAs(lease);
        assertThat(transport.calls).hasSize(2);
    }

    @Test
    void aCallThatMayHaveReachedTheEngineOrWasInterruptedIsNotSentAgain() {
        for (RuntimeException failure : List.of(new RuntimeException(new IOException("Connection reset by peer")),
                new RuntimeException(new RequestFailedException("Request aborted", new InterruptedException())))) {
            ScriptedTransport transport = new ScriptedTransport(failure);
            assertThatThrownBy(() -> new LeaseRetry(transport).execute(INSPECT)).isSameAs(failure);
            assertThat(transport.calls).as("%s", failure.getCause()).hasSize(1);
        }
    }

    /** Fails with each scripted exception in turn, then answers. */
    private static final class ScriptedTransport implements DockerHttpClient {
        final List<Request> calls = new ArrayList<>();
        final List<RuntimeException> failures;

        ScriptedTransport(RuntimeException... failures) {
            this.failures = new ArrayList<>(List.of(failures));
        }

        @Override
        public Response execute(Request request) {
            calls.add(request);
            if (!failures.isEmpty()) {
                throw failures.remove(0);
            }
            return new Response() {
                @Override
                public int getStatusCode() {
                    return 200;
                }

                @Override
                public java.util.Map<String, List<String>> getHeaders() {
                    return java.util.Map.of();
                }

                @Override
                public java.io.InputStream getBody() {
                    return java.io.InputStream.nullInputStream();
                }

                @Override
                public void close() {
                }
            };
        }

        @Override
        public void close() {
        }
    }
}
