package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.security.Secrets;
import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** {@code turnout token rotate}: replaces the server's operator token (docs/security.md). */
@Command(name = "token", description = "The server's operator token (the credential of every API call).",
        subcommands = {TokenCommand.Rotate.class})
final class TokenCommand {

    @Command(name = "rotate", description = {"Replace the operator token: the server writes a new one to operator.token in its "
            + "data directory and the old one, and every dashboard session, stop working at once. The new token is never printed; "
            + "--out FILE also writes it to FILE (mode 0600) for a CLI on another host."})
    static final class Rotate implements Runnable {
        private final Cli cli;

        @Option(names = "--out", paramLabel = "FILE", description = "Also write the new token to FILE (mode 0600).")
        Path out;

        Rotate(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            if (out != null && out.toAbsolutePath().getParent() != null && !Files.isDirectory(out.toAbsolutePath().getParent())) {
                throw new CliException("cannot write " + out + ": its directory does not exist (nothing was rotated)");
            }
            String source = cli.api().tokenSource();
            JsonNode answer = cli.api().post("/api/v1/token/rotate", Map.of());
            String file = answer.path("tokenFile").asText();
            if (out != null) {
                write(out, answer.path("token").asText());
            }
            if (cli.jsonOutput()) {
                cli.printJson(out == null ? Map.of("tokenFile", file) : Map.of("tokenFile", file, "out", out.toAbsolutePath().toString()));
                return;
            }
            cli.out.printf("rotated the operator token: the server wrote the new one to %s%s%n", file,
                    out == null ? "" : " (and this CLI to " + out.toAbsolutePath() + ")");
            cli.out.println("the old token and every dashboard session no longer work");
            if (source != null && !source.equals(file)) {
                cli.out.printf("this CLI took the old token from %s: update it there%n", source);
            }
        }

        private static void write(Path file, String token) {
            try {
                Secrets.writePrivate(file, token + "\n");
            } catch (IOException e) {
                throw new CliException("the token was rotated but cannot be written to " + file + ": " + e.getMessage()
                        + "; read the new one from the server's operator.token");
            }
        }
    }
}
