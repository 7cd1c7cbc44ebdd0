package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.InvalidInputException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** {@code turnout history}: the audit trail, newest first. */
@Command(name = "history", description = "The audit trail: who did what, when, and every device transition (newest first).")
final class HistoryCommand implements Runnable {

    private final Cli cli;

    @Option(names = "--device", paramLabel = "ID", description = "Only entries about this device.")
    String device;

    @Option(names = "--app", paramLabel = "APP", description = "Only entries about this app (its releases, rollouts, rollback floor and device reports).")
    String app;

    @Option(names = "--since", paramLabel = "DURATION", description = "Only entries newer than this, e.g. 30m, 2h, 1d.")
    String since;

    HistoryCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        Instant after = null;
        if (since != null) {
            try {
                after = Instant.now().minus(Durations.parse(since, "--since"));
            } catch (InvalidInputException e) {
                throw new CliException(ExitCodes.USAGE, e.getMessage());
            }
        }
        Set<String> rolloutsOfApp = new HashSet<>();
        if (app != null) {
            for (JsonNode r : cli.api().get("/api/v1/rollouts").path("rollouts")) {
                if (app.equals(r.path("app").asText())) {
                    rolloutsOfApp.add(r.path("id").asText());
                }
            }
        }
        List<JsonNode> kept = new ArrayList<>();
        for (JsonNode e : cli.api().get("/api/v1/audit").path("entries")) {
            String subject = e.path("subject").asText();
            String detail = e.path("detail").isNull() ? "" : e.path("detail").asText();
            if (after != null && Instant.parse(e.path("at").asText()).isBefore(after)) {
                continue;
            }
            if (device != null && !device.equals(subject) && !device.equals(e.path("actor").asText())) {
                continue;
            }
            if (app != null && !subject.equals(app) && !rolloutsOfApp.contains(subject) && !subject.startsWith(app + ":") && !detail.startsWith(app + ":")) {
                continue;
            }
            kept.add(e);
        }
        if (cli.jsonOutput()) {
            ArrayNode entries = cli.json.createArrayNode();
            kept.forEach(entries::add);
            cli.printJson(cli.json.createObjectNode().set("entries", entries));
            return;
        }
        Table table = new Table("AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL");
        for (JsonNode e : kept) {
            table.row(e.path("at").asText(), e.path("actor").asText(), e.path("action").asText(), e.path("subject").asText(),
                    DevicesCommand.text(e.path("detail")));
            String tail = e.path("logTail").asText("");
            if (!tail.isEmpty()) { // a failure report's entry: what the container printed last, under its row
                table.note("  | ", tail);
            }
        }
        if (table.isEmpty()) {
            cli.out.println("no matching entries");
            return;
        }
        table.print(cli.out);
    }
}
