package dev.turnout.orchestrator.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code turnout rollback APP --to VERSION --target ...}: takes an app back to a named version
 * fleet-wide. It is a rollout like any other (waves, thresholds, --wait), whose desired states
 * carry the signed rollback flag so devices accept the older version.
 */
@Command(name = "rollback", description = "Roll an app back fleet-wide to a named version (a rollout: waves and --wait apply).")
final class RollbackCommand implements Callable<Integer> {

    private final Cli cli;

    @Parameters(paramLabel = "APP")
    String app;

    @Option(names = "--to", required = true, paramLabel = "VERSION", description = "The release to go back to.")
    String version;

    @Mixin
    DeployCommand.Strategy strategy;

    RollbackCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public Integer call() {
        AppVersion release = new AppVersion(app, version);
        Map<String, Object> body = strategy.body(release);
        body.put("rollback", true);
        return DeployCommand.start(cli, strategy, release, body, "rolling back to");
    }
}
