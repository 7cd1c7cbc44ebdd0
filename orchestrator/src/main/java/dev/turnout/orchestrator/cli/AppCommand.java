package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code turnout app floor APP [VERSION] [--force]}. */
@Command(name = "app", description = "Settings of an app across releases.", subcommands = {AppCommand.Floor.class})
final class AppCommand {

    @Command(name = "floor", description = "Show or set an app's rollback floor: devices refuse releases below it, signed"
            + " rollbacks too, and the orchestrator refuses deploys and rollbacks below it.")
    static final class Floor implements Runnable {
        private final Cli cli;

        @Parameters(index = "0", paramLabel = "APP")
        String app;

        @Parameters(index = "1", arity = "0..1", paramLabel = "VERSION",
                description = "The lowest version devices may run from now on (a release that exists); none: show the floor.")
        String version;

        @Option(names = "--force", description = "Lower the floor (it only rises otherwise; devices that saw the higher one"
                + " keep refusing what is below it).")
        boolean force;

        Floor(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            String path = "/api/v1/apps/" + ApiClient.segment(app) + "/floor";
            JsonNode answer;
            if (version == null) {
                if (force) {
                    throw new CliException(ExitCodes.USAGE, "--force goes with a VERSION to set");
                }
                answer = cli.api().get(path);
            } else {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("version", version);
                if (force) {
                    body.put("force", true);
                }
                answer = cli.api().put(path, body);
            }
            if (cli.jsonOutput()) {
                cli.printJson(answer);
                return;
            }
            String floor = answer.path("floor").isNull() ? null : answer.path("floor").asText();
            if (version == null) {
                cli.out.println(floor == null ? app + " has no rollback floor" : app + " rollback floor " + floor);
            } else if (answer.path("changed").asBoolean()) {
                String before = answer.path("previous").isNull() ? "none" : answer.path("previous").asText();
                cli.out.printf("%s rollback floor %s (was %s); devices get it with their next desired state%n", app, floor, before);
            } else {
                cli.out.printf("%s rollback floor %s (unchanged)%n", app, floor);
            }
        }
    }
}
