package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code turnout login}: trades an operator's name and password for an API token (30 days) and keeps
 * it in the CLI config file, where every later command finds it (docs/cli.md, "Signing in").
 */
@Command(name = "login", description = {"Sign in as an operator: the password (typed, or the first line of standard input) buys an"
        + " API token, valid 30 days, kept in the CLI config file (mode 0600) with the server's URL; later commands use it."
        + " `turnout logout` ends it."})
final class LoginCommand implements Runnable {

    private final Cli cli;

    @Option(names = "--user", paramLabel = "NAME", description = "Operator name (default: $TURNOUT_USER, else $USER).")
    String user;

    @Option(names = "--password-stdin", description = "Read the password from standard input even on a terminal.")
    boolean passwordStdin;

    LoginCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        String name = user != null ? user : cli.env.getOrDefault("TURNOUT_USER", cli.env.get("USER"));
        if (name == null || name.isBlank()) {
            throw new CliException("give the operator name with --user NAME");
        }
        String server = cli.serverUrl();
        ApiClient anonymous = new ApiClient(server, cli.json, null, server.startsWith("https:") ? CliTrust.resolve(cli.env) : null);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", name);
        body.put("password", cli.readSecret("password for " + name + " at " + server + ": ", passwordStdin));
        JsonNode answer = anonymous.post("/api/v1/tokens", body);
        Path file = TokenLookup.writeConfig(cli.env, anonymous.server(), answer.path("token").asText(), name);
        if (cli.jsonOutput()) {
            Map<String, Object> v = new LinkedHashMap<>();
            v.put("name", answer.path("name").asText());
            v.put("role", answer.path("role").asText());
            v.put("expiresAt", answer.path("expiresAt").asText());
            v.put("config", file.toAbsolutePath().toString());
            cli.printJson(v);
            return;
        }
        cli.out.printf("signed in to %s as %s (%s) until %s; the token is in %s%n", anonymous.server(), name,
                answer.path("role").asText(), answer.path("expiresAt").asText(), file.toAbsolutePath());
        if (cli.env.get("TURNOUT_TOKEN") != null && !cli.env.get("TURNOUT_TOKEN").isBlank()) {
            cli.err.println("note: TURNOUT_TOKEN is set and wins over the config file; unset it to use this login");
        }
    }
}
