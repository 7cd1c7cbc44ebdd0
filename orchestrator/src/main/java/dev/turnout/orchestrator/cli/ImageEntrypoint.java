package dev.turnout.orchestrator.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The entry point of the orchestrator's Docker image ({@code turnout/server}, packaging/src/image/): {@code turnout}
 * with {@code server} as the default command, and {@code TURNOUT_SERVER_ARGS} read as the Debian package's
 * {@code /etc/turnout/server.env} is read by systemd: its value split at white space, no quoting, added after
 * {@code server} and before any flags given on the command line. The image has no shell to do that split.
 * Any other command ({@code docker run IMAGE devices}) runs as given.
 */
public final class ImageEntrypoint {

    /** The server's flags, the variable of the Debian package's server.env. */
    static final String SERVER_ARGS = "TURNOUT_SERVER_ARGS";

    private ImageEntrypoint() {
    }

    public static void main(String[] args) {
        System.exit(run(System.out, System.err, System.getenv(), args));
    }

    static int run(PrintStream out, PrintStream err, Map<String, String> env, String... args) {
        return TurnoutCli.run(out, err, env, commandLine(env, args));
    }

    /** The command line the image runs for {@code args} (its CMD, or what {@code docker run IMAGE ...} gave). */
    static String[] commandLine(Map<String, String> env, String... args) {
        if (args.length > 0 && !"server".equals(args[0])) {
            return args;
        }
        List<String> line = new ArrayList<>();
        line.add("server");
        line.addAll(words(env.get(SERVER_ARGS)));
        if (args.length > 1) {
            line.addAll(Arrays.asList(args).subList(1, args.length));
        }
        return line.toArray(String[]::new);
    }

    /** {@code value} split at white space, as systemd splits an unbraced {@code $VARIABLE}. */
    static List<String> words(String value) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        return Arrays.asList(value.strip().split("\\s+"));
    }
}
