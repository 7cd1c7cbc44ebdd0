package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.app.TurnoutServer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.reflect.Constructor;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * {@code turnout}: runs the orchestrator ({@code turnout server}) and drives it over its HTTP API
 * (every other command). Exit codes: see {@link ExitCodes}.
 */
@Command(name = "turnout", mixinStandardHelpOptions = true, scope = ScopeType.INHERIT, versionProvider = TurnoutCli.Version.class,
        description = "Signed, staged container updates for a fleet of devices over MQTT.",
        subcommands = {ServerCommand.class, DeviceCommand.class, DevicesCommand.class, ReleaseCommand.class, AppCommand.class,
                DeployCommand.class, RollbackCommand.class, AgentCommand.class, RolloutCommand.class, BundleCommand.class, HistoryCommand.class, LogsCommand.class,
                WatchCommand.class, UserCommand.class, OperatorCommand.class, LoginCommand.class, LogoutCommand.class, TokenCommand.class, KeyCommand.class, WebhookCommand.class, BrokerCommand.class, BackupCommand.class, RestoreCommand.class, DemoCommand.class, SimulateCommand.class,
                CommandLine.HelpCommand.class},
        footer = {"", "Exit codes: 0 ok, 1 error, 2 usage, 3 rollout failed/rolled back/aborted, 4 rollout paused.",
                "Environment: TURNOUT_SERVER (default for --server), TURNOUT_TOKEN (an API token or the operator token),",
                "TURNOUT_DATA (the server's data directory: its operator.token is read on the server's host),",
                "TURNOUT_CLI_CONFIG (default ~/.config/turnout/cli.yaml: server:, token: and user:, written by turnout login)."})
public final class TurnoutCli implements Runnable {

    enum Output { text, json }

    @Option(names = "--server", scope = ScopeType.INHERIT, paramLabel = "URL",
            description = "Orchestrator HTTP API (default: $TURNOUT_SERVER, else " + Cli.DEFAULT_SERVER + ").")
    String server;

    @Option(names = "--token-file", scope = ScopeType.INHERIT, paramLabel = "FILE",
            description = "Read the operator token from FILE (default: $TURNOUT_TOKEN, the CLI config file, or the server's "
                    + "operator.token on its host; see docs/cli.md). The token itself is never an argument.")
    java.nio.file.Path tokenFile;

    @Option(names = {"-o", "--output"}, scope = ScopeType.INHERIT, paramLabel = "text|json", defaultValue = "text",
            description = "Output format: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    Output output = Output.text;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "name a command");
    }

    public static void main(String[] args) {
        int code = run(System.out, System.err, System.getenv(), args);
        System.exit(code);
    }

    /** Runs one command line and returns its exit code; never calls {@code System.exit}. */
    public static int run(PrintStream out, PrintStream err, Map<String, String> env, String... args) {
        return run(System.in, out, err, env, args);
    }

    /** Runs one command line reading passwords (--password-stdin, turnout login) from {@code in}. */
    public static int run(java.io.InputStream in, PrintStream out, PrintStream err, Map<String, String> env, String... args) {
        Cli cli = new Cli(in, out, err, env);
        TurnoutCli root = new TurnoutCli();
        cli.root = root;
        CommandLine line = new CommandLine(root, new Factory(cli));
        line.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        line.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        line.setCaseInsensitiveEnumValuesAllowed(true);
        line.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof CliException c) {
                err.println("turnout: " + c.getMessage());
                return c.exitCode();
            }
            if (e instanceof CommandLine.ParameterException p) {
                throw p;
            }
            err.println("turnout: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            return ExitCodes.ERROR;
        });
        line.setParameterExceptionHandler((e, parseArgs) -> {
            err.println("turnout: " + e.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
            err.println("Try '" + e.getCommandLine().getCommandSpec().qualifiedName() + " --help'.");
            return ExitCodes.USAGE;
        });
        return line.execute(args);
    }

    /** Gives every command that wants it the shared {@link Cli}. */
    private record Factory(Cli cli) implements CommandLine.IFactory {
        @Override
        public <K> K create(Class<K> type) throws Exception {
            try {
                Constructor<K> withCli = type.getDeclaredConstructor(Cli.class);
                withCli.setAccessible(true);
                return withCli.newInstance(cli);
            } catch (NoSuchMethodException e) {
                return CommandLine.defaultFactory().create(type);
            }
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"turnout " + TurnoutServer.VERSION};
        }
    }
}
