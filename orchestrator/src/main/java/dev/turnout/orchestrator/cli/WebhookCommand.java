package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.domain.InvalidInputException;
import dev.turnout.orchestrator.security.Secrets;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code turnout webhook add|list|remove|deliveries|test}: signed JSON POSTs of fleet events (docs/operations.md). */
@Command(name = "webhook", description = "Send fleet events (rollout.*, device.failed, ...) as signed JSON POSTs to a URL.",
        subcommands = {WebhookCommand.Add.class, WebhookCommand.ListWebhooks.class, WebhookCommand.Remove.class,
                WebhookCommand.Deliveries.class, WebhookCommand.Test.class})
final class WebhookCommand {

    @Command(name = "add", description = "Add a webhook. Without --secret-file a secret is generated and printed once:"
            + " receivers need it to check X-Turnout-Signature.")
    static final class Add implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "URL", description = "Where to POST: http:// or https://.")
        String url;

        @Option(names = "--events", required = true, split = ",", paramLabel = "PATTERN",
                description = "Event names or globs, comma-separated: rollout.*, device.failed, device.offline, * ...")
        List<String> events;

        @Option(names = "--secret-file", paramLabel = "FILE",
                description = "The signing secret, first line of FILE (at least 16 characters).")
        Path secretFile;

        Add(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("url", url);
            body.put("events", events);
            if (secretFile != null) {
                try {
                    body.put("secret", Secrets.firstLine(secretFile));
                } catch (IOException e) {
                    throw new CliException("cannot read the secret file " + secretFile + ": " + e.getMessage());
                }
            }
            JsonNode answer = cli.api().post("/api/v1/webhooks", body);
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            String added = String.format("added webhook %s: %s for %s", answer.path("id").asText(), answer.path("url").asText(),
                    events(answer));
            if (answer.hasNonNull("secret")) {
                // the only time it is shown: the rest on stderr, the secret alone on stdout (`> hook.secret` keeps just it)
                cli.err.println(added);
                cli.err.println("its signing secret follows (shown once; receivers check X-Turnout-Signature with it):");
                cli.out.println(answer.path("secret").asText());
            } else {
                cli.out.println(added);
            }
        }
    }

    @Command(name = "list", description = "The webhooks (their secrets are never shown).")
    static final class ListWebhooks implements Runnable {
        private final Cli cli;

        ListWebhooks(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().get("/api/v1/webhooks");
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            Table table = new Table("ID", "URL", "EVENTS", "CREATED");
            for (JsonNode w : answer.path("webhooks")) {
                table.row(w.path("id").asText(), w.path("url").asText(), events(w), DevicesCommand.text(w.path("createdAt")));
            }
            table.print(cli.out);
        }
    }

    @Command(name = "remove", description = "Remove a webhook and its delivery log; deliveries waiting for it are dropped.")
    static final class Remove implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "ID")
        String id;

        Remove(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().delete("/api/v1/webhooks/" + ApiClient.segment(id));
            if (cli.jsonOutput()) {
                cli.printJson(answer);
            } else {
                cli.out.printf("removed webhook %s%n", id);
            }
        }
    }

    @Command(name = "deliveries", description = "The delivery log, newest first: of one webhook, or of all.")
    static final class Deliveries implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "ID", arity = "0..1")
        String id;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "50", description = "At most N deliveries (1 to 1000; default 50).")
        int limit;

        Deliveries(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            if (limit < 1 || limit > 1000) {
                throw new CliException(ExitCodes.USAGE, "--limit must be from 1 to 1000");
            }
            String path = (id == null ? "/api/v1/webhooks/deliveries" : "/api/v1/webhooks/" + ApiClient.segment(id) + "/deliveries")
                    + "?limit=" + limit;
            JsonNode answer = cli.api().get(path);
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            Table table = id == null ? new Table("AT", "WEBHOOK", "EVENT", "RESULT", "STATUS", "ATTEMPTS", "DURATION", "ERROR", "DELIVERY")
                    : new Table("AT", "EVENT", "RESULT", "STATUS", "ATTEMPTS", "DURATION", "ERROR", "DELIVERY");
            for (JsonNode d : answer.path("deliveries")) {
                List<Object> cells = new java.util.ArrayList<>();
                cells.add(d.path("at").asText());
                if (id == null) {
                    cells.add(d.path("webhookId").asText());
                }
                cells.addAll(List.of(d.path("event").asText(), d.path("result").asText(), DevicesCommand.text(d.path("statusCode")),
                        d.path("attempts").asText(), d.path("durationMs").asLong() + " ms", DevicesCommand.text(d.path("error")),
                        d.path("deliveryId").asText()));
                table.row(cells.toArray());
            }
            table.print(cli.out);
        }
    }

    @Command(name = "test", description = "Send a ping event to a webhook and wait for its delivery's outcome (exit 0: delivered).")
    static final class Test implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "ID")
        String id;

        @Option(names = "--wait", paramLabel = "DURATION", defaultValue = "30s",
                description = "How long to wait for the outcome, retries included (default 30s; 0: do not wait).")
        String waitFor;

        Test(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            Duration wait;
            try {
                wait = Durations.parse(waitFor, "--wait");
            } catch (InvalidInputException e) {
                throw new CliException(ExitCodes.USAGE, e.getMessage());
            }
            String deliveries = "/api/v1/webhooks/" + ApiClient.segment(id) + "/deliveries?limit=100";
            JsonNode queued = cli.api().post("/api/v1/webhooks/" + ApiClient.segment(id) + "/test", Map.of());
            String deliveryId = queued.path("deliveryId").asText();
            long deadline = System.nanoTime() + wait.toNanos();
            JsonNode outcome = null;
            while (outcome == null) {
                for (JsonNode d : cli.api().get(deliveries).path("deliveries")) {
                    if (d.path("deliveryId").asText().equals(deliveryId)) {
                        outcome = d;
                    }
                }
                if (outcome != null || System.nanoTime() - deadline >= 0) {
                    break;
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CliException("interrupted");
                }
            }
            if (cli.jsonOutput()) {
                cli.printJson(outcome != null ? outcome : queued);
            } else if (outcome == null) {
                cli.out.printf("ping %s queued for webhook %s, not delivered yet (retries may be under way):"
                        + " turnout webhook deliveries %s%n", deliveryId, id, id);
            } else {
                cli.out.printf("ping %s: %s (HTTP %s, %d attempt(s), %d ms)%s%n", deliveryId, outcome.path("result").asText(),
                        DevicesCommand.text(outcome.path("statusCode")), outcome.path("attempts").asInt(),
                        outcome.path("durationMs").asLong(), outcome.hasNonNull("error") ? ": " + outcome.path("error").asText() : "");
            }
            if (outcome == null || !outcome.path("result").asText().equals("DELIVERED")) {
                throw new CliException(ExitCodes.ERROR, outcome == null ? "no outcome within " + waitFor
                        : "the ping was not delivered");
            }
        }
    }

    private static String events(JsonNode webhook) {
        List<String> names = new java.util.ArrayList<>();
        webhook.path("events").forEach(e -> names.add(e.asText()));
        return String.join(",", names);
    }
}
