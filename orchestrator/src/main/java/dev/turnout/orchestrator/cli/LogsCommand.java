package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;

/**
 * {@code turnout logs DEVICE APP [--tail N] [--since 10m] [--follow]}: the orchestrator asks the device over MQTT and
 * this prints the container's lines. {@code --follow} asks again every {@link #POLL} for the lines after the last one
 * printed (polling, not a stream).
 */
@Command(name = "logs", description = "Print the log of an app's container on a device: the orchestrator asks the device over MQTT"
        + " (deployers and admins; the device must be online).")
final class LogsCommand implements Runnable {

    /** How often --follow asks again. */
    static final Duration POLL = Duration.ofSeconds(2);
    /** Lines asked for per poll while following: as many as a device gives. */
    private static final int FOLLOW_TAIL = 1000;

    private final Cli cli;

    @Parameters(index = "0", paramLabel = "DEVICE", description = "The device id.")
    String device;

    @Parameters(index = "1", paramLabel = "APP", description = "The app whose container's log to print.")
    String app;

    @Option(names = {"-n", "--tail"}, paramLabel = "N", description = "The newest N lines, 1-1000 (default ${DEFAULT-VALUE}).",
            defaultValue = "100")
    int tail;

    @Option(names = "--since", paramLabel = "DURATION|TIME",
            description = "Only lines written after this: a duration back from now (10m, 2h) or an RFC 3339 time.")
    String since;

    @Option(names = {"-f", "--follow"}, description = "Keep printing new lines: asks the device again every 2 s for the lines"
            + " after the last one printed (polling; Ctrl-C stops).")
    boolean follow;

    @Option(names = {"-t", "--timestamps"}, description = "Put the time the device's engine took each line before it.")
    boolean timestamps;

    /** Tests: stop following after this many polls (0: never). */
    @Option(names = "--follow-polls", hidden = true, defaultValue = "0")
    int followPolls;

    LogsCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        if (tail < 1 || tail > 1000) {
            throw new CliException(ExitCodes.USAGE, "--tail must be 1-1000, not " + tail);
        }
        String base = "/api/v1/devices/" + ApiClient.segment(device) + "/logs/" + ApiClient.segment(app);
        JsonNode first = cli.api().get(base + "?tail=" + tail + (since == null ? "" : "&since=" + query(since)));
        if (cli.jsonOutput() && !follow) {
            cli.printJson(first);
            return;
        }
        String last = print(first, null);
        boolean waiting = false;
        for (int polls = 0; follow && (followPolls == 0 || polls < followPolls); polls++) {
            try {
                Thread.sleep(POLL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            String next = last != null ? base + "?tail=" + FOLLOW_TAIL + "&since=" + query(last)
                    : base + "?tail=" + tail + (since == null ? "" : "&since=" + query(since)); // nothing printed yet: nothing doubled
            ApiClient.Answer answer = cli.api().getAnswer(next, Set.of(429, 502, 504));
            if (answer.status() != 200) { // the device went away for a moment, or another operator asks too: keep trying
                if (!waiting) {
                    cli.err.println("turnout: " + answer.body().path("error").asText("the server answered " + answer.status())
                            + "; still trying");
                }
                waiting = true;
                continue;
            }
            waiting = false;
            last = print(answer.body(), last);
        }
    }

    /** Prints an answer's lines; returns the time of the last line printed (or {@code last} when none). */
    private String print(JsonNode answer, String last) {
        String newest = last;
        for (JsonNode line : answer.path("lines")) {
            if (cli.jsonOutput()) {
                cli.out.println(line.toString());
            } else {
                String time = line.path("time").isNull() ? "-" : line.path("time").asText();
                cli.out.println((timestamps ? time + " " : "") + LogText.line(line.path("text").asText()));
            }
            if (!line.path("time").isNull()) {
                newest = line.path("time").asText();
            }
        }
        if (answer.path("truncated").asBoolean()) {
            cli.err.println("turnout: older lines were left out to keep the device's answer within 64 KiB; ask for fewer with --tail");
        }
        return newest;
    }

    private static String query(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }
}
