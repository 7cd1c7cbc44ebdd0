package dev.turnout.edge.logs;

import dev.turnout.edge.domain.AppRecord;
import dev.turnout.edge.domain.LogEntry;
import dev.turnout.edge.domain.UpdateFailure;
import dev.turnout.edge.port.ContainerRuntime;
import dev.turnout.edge.port.StateStore;
import dev.turnout.proto.LogLine;
import dev.turnout.proto.LogRequest;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.logs.LogTail;
import dev.turnout.proto.rules.LogRequestRules;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Answers the orchestrator's log requests (docs/topics.md): each one is judged by {@link LogRequestRules} (signed by a
 * trusted key, for this device, fresh), answered once per request id and at most once per {@link #MIN_INTERVAL}; a
 * refused, repeated or too early request is dropped unanswered and logged. An answer holds the newest lines of the app's
 * container (the new one while an update checks it), oldest first, within 64 KiB. Not thread-safe: the daemon calls
 * it from one thread.
 */
public final class LogRequests {

    /** Answers are at least this far apart; requests in between are dropped. */
    public static final Duration MIN_INTERVAL = Duration.ofSeconds(1);
    /** Request ids remembered, so that a duplicate delivery is not answered twice. */
    private static final int REMEMBERED = 256;
    /** Bytes a line costs in the answer besides its text (tag, length, timestamp, stream flag). */
    private static final int LINE_FRAMING = 24;
    /** Room left for the answer's other fields within {@link LogRequestRules#MAX_RESPONSE_BYTES}. */
    private static final int HEADER_ROOM = 1024;

    private static final Logger log = LoggerFactory.getLogger(LogRequests.class);

    /** What became of one request (tests and the log say it). */
    public enum Outcome { ANSWERED, REFUSED, REPEATED, TOO_SOON }

    private final String deviceId;
    private final LogRequestRules rules;
    private final Supplier<EnvelopeVerifier> keys;
    private final StateStore store;
    private final ContainerRuntime runtime;
    private final Consumer<LogResponse> answer;
    private final LongSupplier wallClockMs;
    private final BooleanSupplier wallClockSynced;
    private final LongSupplier nanoTime;
    private final Set<String> answered = new LinkedHashSet<>();
    private long lastAnswerNanos;
    private boolean answeredOnce;

    /**
     * @param keys the keys the device trusts for desired states now (a signed rotation changes them)
     * @param answer publishes an answer on the device's log response topic
     * @param nanoTime a monotonic clock for the rate
     */
    public LogRequests(String deviceId, Supplier<EnvelopeVerifier> keys, StateStore store, ContainerRuntime runtime,
                       Consumer<LogResponse> answer, LongSupplier wallClockMs, BooleanSupplier wallClockSynced, LongSupplier nanoTime) {
        this.deviceId = deviceId;
        this.rules = new LogRequestRules(deviceId);
        this.keys = keys;
        this.store = store;
        this.runtime = runtime;
        this.answer = answer;
        this.wallClockMs = wallClockMs;
        this.wallClockSynced = wallClockSynced;
        this.nanoTime = nanoTime;
    }

    /** Judges one message from the log request topic and answers it if it may. */
    public Outcome handle(byte[] wire) {
        LogRequestRules.Verdict verdict = rules.judge(wire == null ? new byte[0] : wire, keys.get(), wallClockMs.getAsLong(),
                wallClockSynced.getAsBoolean());
        if (verdict instanceof LogRequestRules.Refused refused) {
            log.warn("refused a log request, not answered: {} {}", refused.reason(), refused.message());
            return Outcome.REFUSED;
        }
        LogRequestRules.Accepted accepted = (LogRequestRules.Accepted) verdict;
        LogRequest request = accepted.request();
        if (answered.contains(request.getRequestId())) {
            log.debug("log request {} answered already", request.getRequestId());
            return Outcome.REPEATED;
        }
        long now = nanoTime.getAsLong();
        if (answeredOnce && now - lastAnswerNanos < MIN_INTERVAL.toNanos()) {
            log.warn("dropped log request {} for {}: one answer per {} s at most", request.getRequestId(), request.getApp(),
                    MIN_INTERVAL.toSeconds());
            return Outcome.TOO_SOON;
        }
        answeredOnce = true;
        lastAnswerNanos = now;
        answered.add(request.getRequestId());
        if (answered.size() > REMEMBERED) {
            answered.remove(answered.iterator().next());
        }
        LogResponse response = respond(request, accepted.tail());
        log.info("answered log request {} for {}: {} line(s){}", request.getRequestId(), request.getApp(), response.getLinesCount(),
                response.getError().isEmpty() ? "" : " (" + response.getError() + ")");
        answer.accept(response);
        return Outcome.ANSWERED;
    }

    private LogResponse respond(LogRequest request, int tail) {
        LogResponse.Builder response = LogResponse.newBuilder().setRequestId(request.getRequestId()).setDeviceId(deviceId)
                .setApp(request.getApp());
        Optional<AppRecord> found = store.loadApp(request.getApp());
        if (found.isEmpty()) {
            return response.setError("no app '" + request.getApp() + "' on device " + deviceId).setNotFound(true)
                    .setTimestampMs(wallClockMs.getAsLong()).build();
        }
        AppRecord record = found.get();
        // while an update checks its new container, that one runs: its log is the one to see
        boolean checking = !record.newContainerId().isEmpty();
        String container = checking ? record.newContainerId() : record.containerId();
        String version = checking ? record.targetVersion() : record.runningVersion();
        response.setVersion(version);
        if (container.isEmpty()) {
            return response.setError(request.getApp() + " has no container on device " + deviceId + " (" + record.state() + ")")
                    .setNotFound(true).setTimestampMs(wallClockMs.getAsLong()).build();
        }
        int budget = LogRequestRules.MAX_RESPONSE_BYTES - HEADER_ROOM;
        List<LogEntry> entries;
        try {
            // a little more than fits: if the engine had to leave lines out, the bound below leaves some out too and says so
            entries = runtime.logs(container, tail, request.getSinceNs(), budget + 8 * 1024);
        } catch (UpdateFailure e) {
            return response.setError("cannot read the log of " + request.getApp() + " " + version + ": " + e.getMessage())
                    .setTimestampMs(wallClockMs.getAsLong()).build();
        }
        List<String> texts = new ArrayList<>(entries.size());
        entries.forEach(e -> texts.add(e.text()));
        int from = LogTail.keepFramed(texts, tail, budget, LINE_FRAMING);
        boolean truncated = entries.size() - from < Math.min(entries.size(), tail); // fewer kept than asked for and there
        if (from == entries.size() && !entries.isEmpty()) { // not even the newest line fits whole: its end does
            LogEntry last = entries.get(entries.size() - 1);
            response.addLines(line(new LogEntry(last.timestampNanos(), last.stderr(), LogTail.endOf(last.text(), budget - LINE_FRAMING))));
            truncated = true;
        } else {
            for (LogEntry e : entries.subList(from, entries.size())) {
                response.addLines(line(e));
                truncated |= e.text().startsWith(LogTail.CUT);
            }
        }
        response.setTruncated(truncated).setTimestampMs(wallClockMs.getAsLong());
        while (response.build().getSerializedSize() > LogRequestRules.MAX_RESPONSE_BYTES && response.getLinesCount() > 0) {
            response.removeLines(0).setTruncated(true); // never over the bound, whatever the framing estimate said
        }
        return response.build();
    }

    private static LogLine line(LogEntry e) {
        return LogLine.newBuilder().setTimestampNs(e.timestampNanos()).setStderr(e.stderr()).setText(e.text()).build();
    }
}
