package dev.turnout.orchestrator.http;

import dev.turnout.orchestrator.domain.Device;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.domain.NotFoundException;
import dev.turnout.orchestrator.logs.DeviceLogs;
import dev.turnout.orchestrator.store.FleetStore;
import dev.turnout.proto.LogLine;
import dev.turnout.proto.LogResponse;
import dev.turnout.proto.rules.LogRequestRules;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.time.Clock;
import java.time.DateTimeException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeoutException;

/**
 * {@code GET /api/v1/devices/{id}/logs/{app}?tail=100&since=10m} ({@code turnout logs}): the orchestrator asks the
 * device over MQTT ({@link DeviceLogs}) and answers with the container's newest lines. Deployers and admins only
 * (docs/security.md, "Roles"): the answer is the app's live output, and each request makes the device work. A device
 * that is offline or does not answer in time is a {@code 504} naming it; a flood a {@code 429}.
 */
public final class LogRoutes {

    private final ApiExchange exchange;
    private final FleetStore store;
    private final DeviceLogs logs;
    private final Clock clock;

    public LogRoutes(Vertx vertx, FleetStore store, DeviceLogs logs, Clock clock) {
        this.exchange = new ApiExchange(vertx, Runnable::run);
        this.store = store;
        this.logs = logs;
        this.clock = clock;
    }

    public void mountOn(Router router) {
        router.get("/api/v1/devices/:id/logs/:app").handler(this::logs);
    }

    private record Asked(String deviceId, String app, int tail, long sinceNanos) {
    }

    private void logs(RoutingContext ctx) {
        Asked asked;
        try {
            asked = parse(ctx);
        } catch (InvalidInputException e) {
            exchange.fail(ctx, e);
            return;
        }
        Context context = ctx.vertx().getOrCreateContext();
        exchange.blocking(ctx, () -> {
            Device device = store.findDevice(asked.deviceId())
                    .orElseThrow(() -> new NotFoundException("device " + asked.deviceId() + " is not enrolled"));
            return device;
        }, device -> {
            if (!device.online()) {
                exchange.error(ctx, 504, "device " + device.id() + " is offline (last seen " + (device.lastSeen() == null ? "never"
                        : JsonViews.timestamp(device.lastSeen())) + "): it cannot send the log of " + asked.app() + " now");
                return;
            }
            try {
                logs.ask(asked.deviceId(), asked.app(), asked.tail(), asked.sinceNanos()).whenComplete((answer, failure) ->
                        context.runOnContext(ignored -> answer(ctx, asked, answer, failure)));
            } catch (DeviceLogs.Busy e) {
                ctx.response().putHeader("Retry-After", "1");
                exchange.error(ctx, 429, e.getMessage());
            }
        });
    }

    private void answer(RoutingContext ctx, Asked asked, LogResponse answer, Throwable failure) {
        if (ctx.response().closed() || ctx.response().ended()) {
            return; // the caller gave up (Ctrl-C)
        }
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (cause instanceof TimeoutException) {
            exchange.error(ctx, 504, "device " + asked.deviceId() + " did not answer within " + DeviceLogs.ANSWER_TIMEOUT.toSeconds()
                    + " s (is its daemon running, and new enough to answer log requests?)");
            return;
        }
        if (cause != null) {
            exchange.fail(ctx, cause);
            return;
        }
        if (!answer.getError().isEmpty()) {
            exchange.error(ctx, answer.getNotFound() ? 404 : 502, "device " + asked.deviceId() + ": " + answer.getError());
            return;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("device", asked.deviceId());
        body.put("app", asked.app());
        body.put("version", answer.getVersion().isEmpty() ? null : answer.getVersion());
        List<Map<String, Object>> lines = new ArrayList<>(answer.getLinesCount());
        for (LogLine line : answer.getLinesList()) {
            Map<String, Object> l = new LinkedHashMap<>();
            l.put("time", line.getTimestampNs() == 0 ? null : time(line.getTimestampNs()));
            l.put("stream", line.getStderr() ? "stderr" : "stdout");
            l.put("text", line.getText());
            lines.add(l);
        }
        body.put("lines", lines);
        body.put("truncated", answer.getTruncated());
        exchange.ok(ctx, 200, body);
    }

    /** Unix epoch nanoseconds as RFC 3339 in UTC with up to nine fraction digits (what {@code since} takes back). */
    static String time(long epochNanos) {
        return Instant.ofEpochSecond(Math.floorDiv(epochNanos, 1_000_000_000L), Math.floorMod(epochNanos, 1_000_000_000L)).toString();
    }

    private Asked parse(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        String app = ctx.pathParam("app");
        if (app == null || app.isEmpty() || app.length() > 128 || !app.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw new InvalidInputException("app '" + app + "' is not an app name");
        }
        int tail = LogRequestRules.DEFAULT_TAIL;
        String tailText = ctx.queryParams().get("tail");
        if (tailText != null && !tailText.isBlank()) {
            try {
                tail = Integer.parseInt(tailText.strip());
            } catch (NumberFormatException e) {
                tail = -1;
            }
            if (tail < 1 || tail > LogRequestRules.MAX_TAIL) {
                throw new InvalidInputException("tail must be a number of lines from 1 to " + LogRequestRules.MAX_TAIL + ", not '" + tailText + "'");
            }
        }
        long since = 0;
        String sinceText = ctx.queryParams().get("since");
        if (sinceText != null && !sinceText.isBlank()) {
            since = sinceNanos(sinceText.strip(), clock.instant());
        }
        return new Asked(id, app, tail, since);
    }

    /** {@code since}: a duration back from now ({@code 10m}, {@code 2h}) or an RFC 3339 instant (nanoseconds kept). */
    static long sinceNanos(String text, Instant now) {
        Instant at;
        if (!text.isEmpty() && Character.isDigit(text.charAt(0)) && text.contains("T")) {
            try {
                at = Instant.parse(text);
            } catch (DateTimeException e) {
                throw new InvalidInputException("since '" + text + "' is neither a duration (10m, 2h) nor an RFC 3339 time");
            }
        } else {
            try {
                at = now.minus(Durations.parse(text, "since"));
            } catch (ArithmeticException | DateTimeException e) {
                at = Instant.EPOCH; // longer ago than anything: the whole log
            }
        }
        return Math.max(0, at.getEpochSecond() * 1_000_000_000L + at.getNano());
    }
}
