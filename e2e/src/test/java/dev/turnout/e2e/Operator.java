package dev.turnout.e2e;

import dev.turnout.orchestrator.cli.TurnoutCli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The operator's {@code turnout} CLI, run in this JVM with the environment a shell would give it;
 * every command and what it printed go to the test's output.
 */
final class Operator {

    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    private final Supplier<Map<String, String>> env;
    private final Supplier<String> serverUrl;

    private Operator(Supplier<Map<String, String>> env, Supplier<String> serverUrl) {
        this.env = env;
        this.serverUrl = serverUrl;
    }

    /**
     * The operator on the server's host: the CLI reads the token from the server's data directory;
     * {@code --server} is the URL {@code serverUrl} gives at each command (none while it gives null).
     */
    static Operator onServerHost(Supplier<Path> serverDataDir, Supplier<String> serverUrl) {
        return new Operator(() -> Map.of("TURNOUT_DATA", serverDataDir.get().toString()), serverUrl);
    }

    /** An operator elsewhere, whose environment ({@code TURNOUT_SERVER}, {@code TURNOUT_TOKEN}...) says everything. */
    static Operator withEnvironment(Supplier<Map<String, String>> env) {
        return new Operator(env, () -> null);
    }

    Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> full = new ArrayList<>(List.of(args));
        String url = serverUrl.get();
        if (url != null) {
            full.add("--server");
            full.add(url);
        }
        int code = TurnoutCli.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env.get(), full.toArray(String[]::new));
        Result result = new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        System.out.println("$ turnout " + String.join(" ", args) + "\n" + result);
        return result;
    }
}
