package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.turnout.proto.agent.AgentDistribution;
import dev.turnout.proto.agent.InvalidAgentDistributionException;
import dev.turnout.proto.rules.SemVer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code turnout agent release|deploy|list}: the edge daemon itself, updated through Turnout (docs/operations.md,
 * "Updating the edge daemon"). An agent release is a release of the reserved app {@value AgentDistribution#APP}; it
 * rolls out through the same rollout engine as any app (waves, thresholds, pause, rollback).
 */
@Command(name = "agent", description = "Release and roll out the edge daemon itself (app " + AgentDistribution.APP + ").",
        subcommands = {AgentCommand.Release.class, AgentCommand.Deploy.class, AgentCommand.ListReleases.class})
final class AgentCommand {

    @Command(name = "release", description = {"Upload an edge daemon distribution and register it as release "
            + AgentDistribution.APP + ":VERSION.",
            "FILE: a tar.gz holding turnout-edge.jar (edge-daemon/target/turnout-edge-device.jar, renamed) and jvm.options"
                    + " at its top level, e.g. tar -czf edge-0.2.0.tar.gz turnout-edge.jar jvm.options"})
    static final class Release implements Runnable {
        private final Cli cli;

        @Parameters(index = "0", paramLabel = "VERSION", description = "Its version (semantic, e.g. 0.2.0); devices report it as their agentVersion.")
        String version;

        @Parameters(index = "1", paramLabel = "FILE", description = "The distribution (.tar.gz).")
        Path file;

        Release(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            if (!SemVer.isWellFormed(version)) {
                throw new CliException(ExitCodes.USAGE, "version '" + version + "' is not a semantic version such as 0.2.0");
            }
            if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
                throw new CliException(file + " is not a readable file");
            }
            try { // checked here first, so that a wrong file is named before it goes up
                AgentDistribution.check(file);
            } catch (InvalidAgentDistributionException e) {
                throw new CliException(file + " is not an edge daemon distribution: " + e.getMessage());
            } catch (IOException e) {
                throw new CliException("cannot read " + file + ": " + e.getMessage());
            }
            if (!cli.jsonOutput()) {
                cli.out.printf("uploading %s (%d bytes)%n", file, size(file));
            }
            JsonNode release = cli.api().upload("/api/v1/agent/releases/" + ApiClient.segment(version), file);
            if (cli.jsonOutput()) {
                cli.printJson(release);
                return;
            }
            cli.out.printf("created %s:%s (%s); roll it out with: turnout agent deploy %s --target TARGET%n",
                    AgentDistribution.APP, version, release.path("agent").path("digest").asText(), version);
        }

        private static long size(Path file) {
            try {
                return Files.size(file);
            } catch (IOException e) {
                return -1;
            }
        }
    }

    @Command(name = "deploy", description = {"Roll an agent release out to devices, in waves, as `turnout deploy "
            + AgentDistribution.APP + ":VERSION` does.",
            "Each device switches to it and starts it on trial: a version that does not come back, connect and report within"
                    + " the device's agentStartTimeout is replaced by the one before (AGENT_START_FAILED, AGENT_NOT_CONNECTED)."})
    static final class Deploy implements java.util.concurrent.Callable<Integer> {
        private final Cli cli;

        @Parameters(paramLabel = "VERSION")
        String version;

        @Mixin
        DeployCommand.Strategy strategy;

        Deploy(Cli cli) {
            this.cli = cli;
        }

        @Override
        public Integer call() {
            AppVersion release = new AppVersion(AgentDistribution.APP, version);
            Map<String, Object> body = strategy.body(release);
            return DeployCommand.start(cli, strategy, release, body, "rolling out edge daemon");
        }
    }

    @Command(name = "list", description = "List the agent releases.")
    static final class ListReleases implements Runnable {
        private final Cli cli;

        ListReleases(Cli cli) {
            this.cli = cli;
        }

        @Override
        public void run() {
            JsonNode all = cli.api().get("/api/v1/releases");
            java.util.List<JsonNode> agents = new java.util.ArrayList<>();
            all.path("releases").forEach(r -> {
                if (AgentDistribution.APP.equals(r.path("app").asText())) {
                    agents.add(r);
                }
            });
            if (cli.jsonOutput()) {
                cli.printJson(Map.of("releases", agents));
                return;
            }
            if (agents.isEmpty()) {
                cli.out.println("no agent releases yet: turnout agent release VERSION FILE");
                return;
            }
            Table table = new Table("VERSION", "CREATED", "DIGEST", "SIZE");
            for (JsonNode r : agents) {
                table.row(r.path("version").asText(), r.path("createdAt").asText(), r.path("agent").path("digest").asText(),
                        r.path("agent").path("size").asLong());
            }
            table.print(cli.out);
        }
    }
}
