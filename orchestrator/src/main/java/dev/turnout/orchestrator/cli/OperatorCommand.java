package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code turnout operator add|list|revoke|passwd}: the people who operate the fleet, each with a role (docs/security.md). */
@Command(name = "operator", description = "Operator accounts: people who use the API, the CLI and the dashboard under their own name.",
        subcommands = {OperatorCommand.Add.class, OperatorCommand.ListOperators.class, OperatorCommand.Revoke.class,
                OperatorCommand.Passwd.class})
final class OperatorCommand {

    enum OperatorRole { viewer, deployer, admin }

    @Command(name = "add", description = {"Create an operator account (admins only). Its password is made and printed once,"
            + " or read from standard input with --password-stdin; it is stored only hashed (Argon2id)."})
    static final class Add implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "NAME", description = "Letters, digits, '.', '_' or '-'; 'admin' is the operator token's.")
        String name;

        @Option(names = "--role", required = true, paramLabel = "viewer|deployer|admin",
                description = "viewer: reads everything but backups and accounts; deployer: also releases and rollouts;"
                        + " admin: also devices, users, operators, backups, the operator token.")
        OperatorRole role;

        @Option(names = "--password-stdin", description = "Read the password (12 characters or more) from the first line of standard input.")
        boolean passwordStdin;

        Add(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("name", name);
            body.put("role", role.name());
            if (passwordStdin) {
                body.put("password", cli.readSecret("password for " + name + ": ", true));
            }
            JsonNode answer = cli.api().post("/api/v1/operators", body);
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            if (answer.hasNonNull("password")) {
                // only the password on stdout, so that `> NAME.password` keeps it and nothing else
                cli.err.printf("created %s %s; the password follows (shown once, stored only hashed)%n", role, name);
                cli.out.println(answer.path("password").asText());
            } else {
                cli.out.printf("created %s %s%n", role, name);
            }
            cli.err.printf("%s signs in to the dashboard with it, or runs: turnout login --server %s --user %s%n", name, cli.api().server(), name);
        }
    }

    @Command(name = "list", description = "Operator accounts and their roles (admins only).")
    static final class ListOperators implements Runnable {
        private final Cli cli;

        ListOperators(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().get("/api/v1/operators");
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            Table table = new Table("NAME", "ROLE", "CREATED", "BY");
            for (JsonNode o : answer.path("operators")) {
                boolean builtIn = o.path("builtIn").asBoolean();
                table.row(o.path("name").asText(), o.path("role").asText(),
                        builtIn ? "(the operator token)" : DevicesCommand.text(o.path("createdAt")), builtIn ? "-" : o.path("createdBy").asText());
            }
            table.print(cli.out);
        }
    }

    @Command(name = "revoke", description = "Delete an operator account (admins only): its API tokens and dashboard sessions stop at once.")
    static final class Revoke implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "NAME")
        String name;

        Revoke(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode answer = cli.api().post("/api/v1/operators/" + ApiClient.segment(name) + "/revoke", Map.of());
            if (cli.jsonOutput()) {
                cli.printJson(answer);
            } else {
                cli.out.printf("revoked %s: its tokens and sessions no longer work%n", name);
            }
        }
    }

    @Command(name = "passwd", description = {"Set an operator's password: an admin resets anyone's (made and printed once, or read"
            + " with --password-stdin); anyone changes their own, giving the current one first (typed, or the first line of"
            + " standard input, the new one on the second). Every API token of that operator ends."})
    static final class Passwd implements Runnable {
        private final Cli cli;

        @Parameters(paramLabel = "NAME")
        String name;

        @Option(names = "--password-stdin", description = "Read the password(s) from standard input instead of the terminal or making one.")
        boolean passwordStdin;

        Passwd(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode me = cli.api().get("/api/v1/session");
            boolean admin = "admin".equals(me.path("role").asText());
            boolean own = name.equals(me.path("name").asText());
            Map<String, Object> body = new LinkedHashMap<>();
            if (!admin) {
                if (!own) {
                    throw new CliException("only an admin may set the password of another operator; you are "
                            + me.path("name").asText("nobody") + " (" + me.path("role").asText("no role") + ")");
                }
                body.put("currentPassword", cli.readSecret("current password: ", passwordStdin));
                body.put("password", cli.readSecret("new password: ", passwordStdin));
            } else if (passwordStdin || (own && System.console() != null)) {
                body.put("password", cli.readSecret("new password for " + name + ": ", passwordStdin));
            }
            JsonNode answer = cli.api().post("/api/v1/operators/" + ApiClient.segment(name) + "/password", body);
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            if (answer.hasNonNull("password")) {
                cli.err.printf("set a new password for %s; it follows (shown once, stored only hashed)%n", name);
                cli.out.println(answer.path("password").asText());
            } else {
                cli.out.printf("set a new password for %s%n", name);
            }
            cli.err.printf("every API token of %s ended%s%n", name, own ? ": log in again (turnout login)" : "");
        }
    }
}
