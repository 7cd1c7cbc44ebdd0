package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;

/**
 * Follows a rollout until it ends or pauses, printing what changes, and turns the outcome into an
 * exit code: 0 only when every targeted device ended {@code ACTIVE} on the new version.
 */
final class RolloutWatcher {

    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss");
    private static final long POLL_MILLIS = 500;
    /** Consecutive failed polls tolerated (an orchestrator restart takes a few seconds). */
    private static final int MAX_MISSED_POLLS = 60;

    /** How progress is printed ({@code SUMMARY}: only the one-line summary when it changes, indented). */
    enum Mode { TEXT, JSON_LINES, QUIET, SUMMARY }

    private final Cli cli;
    private final Mode mode;
    private final ObjectMapper compact = new ObjectMapper();
    private final Map<String, String> deviceStates = new HashMap<>();
    private final Map<String, String> deviceDownloads = new HashMap<>();
    private String lastSummary = "";
    private JsonNode last;

    /** {@code JSON_LINES}: print each changed snapshot as one JSON line (for piping); {@code QUIET}: print nothing. */
    RolloutWatcher(Cli cli, Mode mode) {
        this.cli = cli;
        this.mode = mode;
    }

    /** The last snapshot seen. */
    JsonNode last() {
        return last;
    }

    /** Polls until the rollout is terminal or paused; returns the exit code. */
    int follow(String id) {
        int missed = 0;
        while (true) {
            JsonNode rollout;
            try {
                rollout = cli.api().get("/api/v1/rollouts/" + ApiClient.segment(id));
                missed = 0;
            } catch (CliException e) {
                if (++missed > MAX_MISSED_POLLS || e.getMessage().contains("unknown") || e.getMessage().contains("not found")) {
                    throw e;
                }
                sleep();
                continue;
            }
            last = rollout;
            report(rollout);
            String state = rollout.path("state").asText();
            if (rollout.path("terminal").asBoolean() || "PAUSED".equals(state)) {
                return mode == Mode.SUMMARY ? exitCode(rollout) : outcome(rollout, mode == Mode.TEXT);
            }
            sleep();
        }
    }

    private void report(JsonNode rollout) {
        String summary = summary(rollout);
        boolean changed = !summary.equals(lastSummary);
        if (mode == Mode.QUIET) {
            return;
        }
        if (mode == Mode.SUMMARY) {
            if (changed) {
                cli.out.printf("    %s  %s%n", LocalTime.now().format(CLOCK), summary);
            }
            lastSummary = summary;
            return;
        }
        if (mode == Mode.JSON_LINES) {
            if (changed) {
                try {
                    cli.out.println(compact.writeValueAsString(rollout));
                } catch (Exception e) {
                    throw new CliException("cannot write JSON: " + e.getMessage());
                }
            }
            lastSummary = summary;
            return;
        }
        String now = LocalTime.now().format(CLOCK);
        for (JsonNode d : rollout.path("devices")) {
            String key = d.path("state").asText() + " " + d.path("version").asText();
            String before = deviceStates.put(d.path("id").asText(), key);
            if (!key.equals(before)) {
                String reason = d.path("reason").isNull() || d.path("reason").asText().isEmpty() ? "" : " (" + d.path("reason").asText() + ")";
                cli.out.printf("%s  %-24s %s%s%n", now, d.path("id").asText(), key, reason);
            }
            String progress = DevicesCommand.download(d.path("download"));
            if (progress != null && !progress.equals(deviceDownloads.put(d.path("id").asText(), progress))) {
                cli.out.printf("%s  %-24s downloading %s%n", now, d.path("id").asText(), progress);
            }
        }
        if (changed) {
            cli.out.printf("%s  %s%n", now, summary);
        }
        lastSummary = summary;
    }

    /** One line: state, wave, and per-wave counts. */
    static String summary(JsonNode r) {
        StringBuilder b = new StringBuilder();
        b.append(r.path("state").asText());
        int waves = r.path("waves").size();
        int current = r.path("currentWave").asInt();
        b.append(current == 0 ? ", staging" : ", wave " + current + "/" + waves);
        for (JsonNode w : r.path("waves")) {
            JsonNode c = w.path("counts");
            b.append(" | w").append(w.path("number").asInt()).append(' ').append(w.path("state").asText()).append(':');
            append(b, c, "staged");
            append(b, c, "activating");
            append(b, c, "active");
            append(b, c, "failed");
            append(b, c, "rollingBack");
            append(b, c, "rolledBack");
            append(b, c, "cancelled");
            append(b, c, "offline");
        }
        String reason = r.path("reason").isNull() ? "" : r.path("reason").asText("");
        if (!reason.isEmpty()) {
            b.append(" — ").append(reason);
        }
        return b.toString();
    }

    private static void append(StringBuilder b, JsonNode counts, String key) {
        long n = counts.path(key).asLong();
        if (n > 0) {
            b.append(' ').append(key).append(' ').append(n);
        }
    }

    /** The exit code a rollout stands for, printing nothing. */
    static int exitCode(JsonNode r) {
        return switch (r.path("state").asText()) {
            case "SUCCEEDED" -> notActive(r) == 0 ? ExitCodes.OK : ExitCodes.ROLLOUT_FAILED;
            case "PAUSED" -> ExitCodes.ROLLOUT_PAUSED;
            case "FAILED", "ROLLED_BACK", "ABORTED" -> ExitCodes.ROLLOUT_FAILED;
            default -> ExitCodes.OK;
        };
    }

    private static long notActive(JsonNode r) {
        long n = 0;
        for (JsonNode d : r.path("devices")) {
            if (!"ACTIVE".equals(d.path("state").asText())) {
                n++;
            }
        }
        return n;
    }

    /** The exit code a finished (or paused) rollout stands for; prints why when it is not 0. */
    int outcome(JsonNode r, boolean explain) {
        int code = exitCode(r);
        String state = r.path("state").asText();
        String reason = r.path("reason").isNull() ? "" : r.path("reason").asText("");
        String id = r.path("id").asText();
        String why = reason.isEmpty() ? "" : ": " + reason;
        switch (state) {
            case "SUCCEEDED" -> {
                if (code != ExitCodes.OK) {
                    cli.err.printf("turnout: rollout %s succeeded, but %d device(s) did not end active%s%n", id, notActive(r), why);
                } else if (explain) {
                    cli.out.printf("rollout %s succeeded: %d device(s) active on %s:%s%n", id, r.path("devices").size(),
                            r.path("app").asText(), r.path("version").asText());
                }
            }
            case "PAUSED" -> cli.err.printf("turnout: rollout %s paused%s; resume with `turnout rollout resume %s`%n", id, why, id);
            case "FAILED", "ROLLED_BACK", "ABORTED" -> cli.err.printf("turnout: rollout %s ended %s%s%n", id, state, why);
            default -> {
                // still running: nothing to say
            }
        }
        return code;
    }

    private static void sleep() {
        try {
            Thread.sleep(POLL_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted");
        }
    }
}
