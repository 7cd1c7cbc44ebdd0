package dev.turnout.orchestrator.cli;

import picocli.CommandLine.Command;

import java.util.Map;

/** {@code turnout logout}: ends the API token of {@code turnout login} on the server and removes it from the CLI config file. */
@Command(name = "logout", description = "End the API token `turnout login` stored: the server forgets it and the CLI config file loses it.")
final class LogoutCommand implements Runnable {

    private final Cli cli;

    LogoutCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        TokenLookup.Config config = TokenLookup.config(cli.env).orElse(null);
        if (config == null || config.token() == null) {
            throw new CliException("not logged in: the CLI config file " + TokenLookup.configFile(cli.env) + " holds no token");
        }
        String server = config.server() != null ? config.server() : cli.serverUrl();
        cli.useToken(config.token(), config.file().toString());
        boolean ended;
        try {
            ended = cli.api().delete("/api/v1/tokens/current").path("ended").asBoolean();
        } catch (CliException e) {
            if (!e.getMessage().contains("refused")) {
                throw new CliException(e.getMessage() + " (the token stays in " + config.file() + ")");
            }
            ended = false; // expired or revoked already: only the file keeps it
        }
        TokenLookup.writeConfig(cli.env, server, null, null);
        if (cli.jsonOutput()) {
            cli.printJson(Map.of("ended", ended, "config", config.file().toString()));
            return;
        }
        cli.out.printf("logged out%s; removed the token from %s%n", ended ? "" : " (the server no longer knew the token)", config.file());
    }
}
