package dev.turnout.orchestrator.logs;

import dev.turnout.proto.LogRequest;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.SigningKey;
import dev.turnout.proto.rules.LogRequestRules;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The orchestrator's side of a log request: signed for the device, answered only by that device, bounded in rate. */
class DeviceLogsTest {

    private record Sent(String deviceId, byte[] envelope) {
    }

    private final SigningKey key = SigningKey.generate();
    private final List<Sent> sent = new ArrayList<>();
    private final AtomicLong nanos = new AtomicLong(5_000_000_000L);
    private final Clock clock = Clock.fixed(Instant.parse("2026-12-06T10:00:00Z"), ZoneOffset.UTC);
    private final DeviceLogs logs = new DeviceLogs(() -> key, (device, envelope) -> sent.add(new Sent(device, envelope)), clock,
            nanos::get, Duration.ofMinutes(1));

    private LogRequest lastRequest(String deviceId) {
        Sent last = sent.get(sent.size() - 1);
        assertThat(last.deviceId()).isEqualTo(deviceId);
        LogRequestRules.Verdict verdict = new LogRequestRules(deviceId).judge(last.envelope(), new EnvelopeVerifier(List.of(key.publicKey())),
                clock.millis(), true);
        assertThat(verdict).as("the device's own rules accept it").isInstanceOf(LogRequestRules.Accepted.class);
        return ((LogRequestRules.Accepted) verdict).request();
    }

    @Test
    void theRequestIsSignedForTheDeviceAndItsAnswerCompletesTheCall() throws Exception {
        CompletableFuture<LogResponse> answer = logs.ask("pi-7", "web", 200, 42);
        LogRequest request = lastRequest("pi-7");
        assertThat(request.getApp()).isEqualTo("web");
        assertThat(request.getTailLines()).isEqualTo(200);
        assertThat(request.getSinceNs()).isEqualTo(42);
        assertThat(request.getExpiresAtMs() - request.getIssuedAtMs()).isEqualTo(30_000);

        LogResponse reply = LogResponse.newBuilder().setRequestId(request.getRequestId()).setDeviceId("pi-7").setApp("web").build();
        logs.onResponse("pi-7", reply);
        assertThat(answer.get(1, TimeUnit.SECONDS)).isEqualTo(reply);
        assertThat(logs.waiting()).isZero();
    }

    @Test
    void anAnswerFromAnotherDeviceOrForAnotherRequestIsDropped() {
        CompletableFuture<LogResponse> answer = logs.ask("pi-7", "web", 10, 0);
        String id = lastRequest("pi-7").getRequestId();
        // pi-8 answers on its own topic, claiming to be pi-7, or truthfully: neither is pi-7's answer
        logs.onResponse("pi-8", LogResponse.newBuilder().setRequestId(id).setDeviceId("pi-7").build());
        logs.onResponse("pi-8", LogResponse.newBuilder().setRequestId(id).setDeviceId("pi-8").build());
        logs.onResponse("pi-7", LogResponse.newBuilder().setRequestId(id).setDeviceId("pi-8").build());
        logs.onResponse("pi-7", LogResponse.newBuilder().setRequestId("lr-guess").setDeviceId("pi-7").build());
        assertThat(answer).isNotDone();
        assertThat(logs.waiting()).isEqualTo(1);
    }

    @Test
    void noAnswerInTimeFailsWithATimeout() {
        DeviceLogs quick = new DeviceLogs(() -> key, (device, envelope) -> sent.add(new Sent(device, envelope)), clock, nanos::get,
                Duration.ofMillis(300));
        CompletableFuture<LogResponse> answer = quick.ask("pi-7", "web", 10, 0);
        assertThatThrownBy(() -> answer.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .hasCauseInstanceOf(TimeoutException.class);
        assertThat(quick.waiting()).isZero();
    }

    @Test
    void oneRequestPerDevicePerSecondAndABoundOnWaitingAnswers() {
        logs.ask("pi-7", "web", 10, 0);
        assertThatThrownBy(() -> logs.ask("pi-7", "web", 10, 0)).isInstanceOf(DeviceLogs.Busy.class)
                .hasMessageContaining("device pi-7 was asked for a log less than 1 s ago");
        logs.ask("pi-8", "web", 10, 0); // another device: fine
        nanos.addAndGet(1_000_000_000L);
        logs.ask("pi-7", "web", 10, 0);
        assertThat(sent).hasSize(3);

        for (int i = 0; i < DeviceLogs.MAX_WAITING - 3; i++) {
            logs.ask("many-" + i, "web", 10, 0);
        }
        assertThatThrownBy(() -> logs.ask("one-too-many", "web", 10, 0)).isInstanceOf(DeviceLogs.Busy.class)
                .hasMessageContaining("32 log requests are waiting");
        assertThatThrownBy(() -> logs.ask("pi-9", "web", 1001, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
