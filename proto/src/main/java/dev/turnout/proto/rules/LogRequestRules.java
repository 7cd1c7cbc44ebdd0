package dev.turnout.proto.rules;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.turnout.proto.LogRequest;
import dev.turnout.proto.Reason;
import dev.turnout.proto.Topics;
import dev.turnout.proto.crypto.EnvelopeVerifier;
import dev.turnout.proto.crypto.VerificationException;

/**
 * Whether a device answers a log request (docs/security.md, "Container logs leave the device"): the envelope's
 * signature first, over the exact payload bytes, with the keys the device trusts for desired states; then the request
 * must name this device, an app, a request id, and must not have expired. A refused request is never answered.
 * Pure: the caller keeps the request ids it answered and its rate.
 */
public final class LogRequestRules {

    /** Longest a request may live (expires_at_ms - issued_at_ms). */
    public static final long MAX_LIFETIME_MS = 5 * 60_000;
    /** Most lines a request may ask for; 0 asks for {@link #DEFAULT_TAIL}. */
    public static final int MAX_TAIL = 1000;
    public static final int DEFAULT_TAIL = 100;
    /** Largest answer a device sends (the serialized {@code LogResponse}). */
    public static final int MAX_RESPONSE_BYTES = 64 * 1024;

    /** The verdict on one request. */
    public sealed interface Verdict permits Accepted, Refused {
    }

    /** Answer it; {@code tail} is the number of lines to give (1-1000). */
    public record Accepted(LogRequest request, int tail) implements Verdict {
    }

    /** Drop it unanswered. */
    public record Refused(Reason reason, String message) implements Verdict {
    }

    private final String deviceId;

    public LogRequestRules(String deviceId) {
        this.deviceId = deviceId;
    }

    /**
     * @param wallClockSynced whether the device's wall clock is known to be right: an unsynchronised clock does not
     *                        expire a request (a Pi without a real-time clock may be years behind or ahead)
     */
    public Verdict judge(byte[] wire, EnvelopeVerifier keys, long nowMs, boolean wallClockSynced) {
        byte[] payload;
        try {
            payload = keys.open(wire);
        } catch (VerificationException e) {
            return new Refused(e.reason(), e.getMessage());
        }
        LogRequest request;
        try {
            request = LogRequest.parseFrom(payload);
        } catch (InvalidProtocolBufferException e) {
            return new Refused(Reason.MALFORMED, "not a log request: " + e.getMessage());
        }
        if (!deviceId.equals(request.getDeviceId())) {
            return new Refused(Reason.WRONG_DEVICE, "the log request is for device '" + printable(request.getDeviceId()) + "'");
        }
        if (!Topics.isValidId(request.getRequestId())) {
            return new Refused(Reason.MALFORMED, "the log request has no valid request id");
        }
        if (request.getApp().isEmpty() || request.getApp().length() > 128 || !request.getApp().chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            return new Refused(Reason.MALFORMED, "the log request names no valid app");
        }
        if (request.getTailLines() < 0 || request.getTailLines() > MAX_TAIL || request.getSinceNs() < 0) {
            return new Refused(Reason.MALFORMED, "the log request asks for " + request.getTailLines() + " lines (1-" + MAX_TAIL + ")");
        }
        if (request.getExpiresAtMs() <= 0 || request.getExpiresAtMs() < request.getIssuedAtMs()
                || request.getExpiresAtMs() - request.getIssuedAtMs() > MAX_LIFETIME_MS) {
            return new Refused(Reason.MALFORMED, "the log request's lifetime is not within " + MAX_LIFETIME_MS / 1000 + " s");
        }
        if (wallClockSynced && nowMs > request.getExpiresAtMs()) {
            return new Refused(Reason.EXPIRED, "the log request expired " + (nowMs - request.getExpiresAtMs()) + " ms ago");
        }
        return new Accepted(request, request.getTailLines() == 0 ? DEFAULT_TAIL : request.getTailLines());
    }

    private static String printable(String s) {
        String cut = s.length() > 64 ? s.substring(0, 64) + "..." : s;
        return cut.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
