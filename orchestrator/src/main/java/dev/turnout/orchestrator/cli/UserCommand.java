package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code turnout user add|list|revoke}: broker identities that are not devices (monitoring subscribers). */
@Command(name = "user", description = "Broker users that are not devices: monitoring subscribers.",
        subcommands = {UserCommand.Add.class, UserCommand.ListUsers.class, UserCommand.Revoke.class})
final class UserCommand {

    enum UserRole { monitor }

    @Command(name = "add", description = "Create a broker user and print its password once (it is stored only hashed).")
    static final class Add implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "NAME", description = "User name, also its MQTT client id: letters, digits, '.', '_' or '-'.")
        String name;

        @Option(names = "--role", required = true, paramLabel = "monitor",
                description = "monitor: may subscribe to status, health, presence and rollout events; publishes nothing.")
        UserRole role;

        Add(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("name", name);
            body.put("role", role.name());
            JsonNode answer = cli.api().post("/api/v1/users", body);
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            // only the password on stdout, so that `> NAME.secret` keeps it and nothing else
            cli.err.printf("created %s user %s; its password follows (shown once, stored only hashed)%n", role, name);
            cli.out.println(answer.path("password").asText());
            cli.err.printf("connect as user and client id %s to %s; subscribe under %s/%n", name,
                    answer.path("brokerUrl").asText(), answer.path("topicPrefix").asText());
        }
    }

    @Command(name = "list", description = "Broker identities: the orchestrator, devices and monitors.")
    static final class ListUsers implements Runnable {
        private final Cli cli;

        ListUsers(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().get("/api/v1/users");
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            Table table = new Table("NAME", "ROLE", "CREATED");
            for (JsonNode u : answer.path("users")) {
                table.row(u.path("name").asText(), u.path("role").asText(), DevicesCommand.text(u.path("createdAt")));
            }
            table.print(cli.out);
        }
    }

    @Command(name = "revoke", description = "Remove a monitor's broker access at once.")
    static final class Revoke implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "NAME")
        String name;

        Revoke(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().post("/api/v1/users/" + ApiClient.segment(name) + "/revoke", Map.of());
            if (cli.jsonOutput()) {
                cli.printJson(answer);
            } else {
                cli.out.printf("revoked %s%n", name);
            }
        }
    }
}
