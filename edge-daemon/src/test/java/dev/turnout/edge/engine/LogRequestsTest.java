package dev.turnout.edge.engine;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.logs.LogRequests;
import dev.turnout.edge.store.FileStateStore;
import dev.turnout.proto.LogLine;
import dev.turnout.proto.LogRequest;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.Reason;
import dev.turnout.proto.UpdateState;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

import static dev.turnout.edge.engine.Fixtures.DEVICE;
import static dev.turnout.edge.engine.Fixtures.NOW;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The device's side of `turnout logs`: only a request the orchestrator signed for this device, fresh, is answered, once
 * per id and at most once a second; a refused one gets no answer at all. The answer holds the newest lines within 64 KiB.
 */
class LogRequestsTest {

    @TempDir
    Path dir;

    private final SigningKey orchestrator = SigningKey.generate();
    private final FakeRuntime runtime = new FakeRuntime();
    private final List<LogResponse> answers = new ArrayList<>();
    private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    private final AtomicLong wallClock = new AtomicLong(NOW);
    private LogRequests requests;
    private int next;

    @BeforeEach
    void setUp() {
        FileStateStore store = new FileStateStore(dir);
        String container = runtime.create("web-1", "sha256:id-1.0.0", null, Map.of(UpdateEngine.LABEL_DEVICE, DEVICE,
                UpdateEngine.LABEL_APP, "web", UpdateEngine.LABEL_VERSION, "1.0.0"));
        store.saveApp(new AppRecord("web", UpdateState.ACTIVE, null, Fixtures.release("1.0.0"), null, 1, "", container, "", "",
                Reason.REASON_UNSPECIFIED, ""));
        requests = new LogRequests(DEVICE, () -> new EnvelopeVerifier(List.of(orchestrator.publicKey())), store, runtime, answers::add,
                wallClock::get, () -> true, nanos::get);
    }

    private LogRequest.Builder request() {
        return LogRequest.newBuilder().setRequestId("req-" + (++next)).setDeviceId(DEVICE).setApp("web").setTailLines(100)
                .setIssuedAtMs(NOW).setExpiresAtMs(NOW + 30_000);
    }

    private LogRequests.Outcome send(LogRequest request) {
        return requests.handle(orchestrator.seal(request).toByteArray());
    }

    private void aSecondLater() {
        nanos.addAndGet(1_000_000_000L);
    }

    @Test
    void aSignedRequestIsAnsweredWithTheNewestLinesOldestFirst() {
        runtime.printed.put("1.0.0", IntStream.rangeClosed(1, 150).mapToObj(i -> "line " + i).toList());
        assertThat(send(request().setRequestId("abc").build())).isEqualTo(LogRequests.Outcome.ANSWERED);

        LogResponse answer = answers.get(0);
        assertThat(answer.getRequestId()).isEqualTo("abc");
        assertThat(answer.getDeviceId()).isEqualTo(DEVICE);
        assertThat(answer.getApp()).isEqualTo("web");
        assertThat(answer.getVersion()).isEqualTo("1.0.0");
        assertThat(answer.getError()).isEmpty();
        assertThat(answer.getTruncated()).isFalse();
        assertThat(answer.getLinesList()).extracting(LogLine::getText).hasSize(100).startsWith("line 51").endsWith("line 150");
    }

    @Test
    void aRequestNotSignedByTheOrchestratorOrNotForThisDeviceOrExpiredIsNotAnswered() {
        runtime.printed.put("1.0.0", List.of("secret-ish line"));
        SigningKey attacker = SigningKey.generate();
        assertThat(requests.handle(attacker.seal(request().build()).toByteArray())).isEqualTo(LogRequests.Outcome.REFUSED);
        assertThat(requests.handle(attacker.seal(request().build()).toBuilder().setKeyId(orchestrator.keyId()).build().toByteArray()))
                .as("another key claiming the orchestrator's id").isEqualTo(LogRequests.Outcome.REFUSED);
        assertThat(requests.handle(request().build().toByteArray())).as("unsigned").isEqualTo(LogRequests.Outcome.REFUSED);
        assertThat(requests.handle(null)).isEqualTo(LogRequests.Outcome.REFUSED);
        aSecondLater();
        assertThat(send(request().setDeviceId("pi-2").build())).as("another device's request").isEqualTo(LogRequests.Outcome.REFUSED);
        aSecondLater();
        wallClock.set(NOW + 60_000);
        assertThat(send(request().build())).as("expired").isEqualTo(LogRequests.Outcome.REFUSED);
        assertThat(answers).as("nothing answered, not even an error").isEmpty();
    }

    @Test
    void eachRequestIsAnsweredOnceAndAtMostOneASecond() {
        LogRequest first = request().build();
        assertThat(send(first)).isEqualTo(LogRequests.Outcome.ANSWERED);
        aSecondLater();
        assertThat(send(first)).as("the same request delivered again").isEqualTo(LogRequests.Outcome.REPEATED);
        assertThat(send(request().build())).isEqualTo(LogRequests.Outcome.ANSWERED);
        nanos.addAndGet(400_000_000L);
        assertThat(send(request().build())).as("0.4 s after the last answer").isEqualTo(LogRequests.Outcome.TOO_SOON);
        nanos.addAndGet(600_000_000L);
        assertThat(send(request().build())).isEqualTo(LogRequests.Outcome.ANSWERED);
        assertThat(answers).hasSize(3);
    }

    @Test
    void anUnknownAppOrOneWithoutAContainerIsAnsweredWithWhatIsMissing() {
        assertThat(send(request().setApp("signals").build())).isEqualTo(LogRequests.Outcome.ANSWERED);
        assertThat(answers.get(0).getNotFound()).isTrue();
        assertThat(answers.get(0).getError()).isEqualTo("no app 'signals' on device " + DEVICE);
        assertThat(answers.get(0).getLinesList()).isEmpty();
    }

    @Test
    void aLongLogIsCutToTheNewestLinesWithinSixtyFourKibibytes() {
        runtime.printed.put("1.0.0", IntStream.rangeClosed(1, 1000).mapToObj(i -> String.format("%04d ", i) + "\u00e9".repeat(150)).toList());
        assertThat(send(request().setTailLines(1000).build())).isEqualTo(LogRequests.Outcome.ANSWERED);

        LogResponse answer = answers.get(0);
        assertThat(answer.getSerializedSize()).isLessThanOrEqualTo(64 * 1024).isGreaterThan(56 * 1024);
        assertThat(answer.getTruncated()).isTrue();
        assertThat(answer.getLinesCount()).isBetween(150, 220);
        assertThat(answer.getLines(answer.getLinesCount() - 1).getText()).startsWith("1000 ");
    }
}
