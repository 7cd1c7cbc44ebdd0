package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;

/**
 * What every command shares: where to print, the environment, the global options, and a client
 * for the server's HTTP API.
 */
final class Cli {

    static final String DEFAULT_SERVER = "http://127.0.0.1:8080";
    static final String DEFAULT_DATA_DIR = "turnout-data";

    final java.io.InputStream in;
    final PrintStream out;
    final PrintStream err;
    final Map<String, String> env;
    final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    TurnoutCli root;
    private ApiClient api;
    private TokenLookup.Found token;
    private java.io.BufferedReader lines;

    Cli(PrintStream out, PrintStream err, Map<String, String> env) {
        this(System.in, out, err, env);
    }

    Cli(java.io.InputStream in, PrintStream out, PrintStream err, Map<String, String> env) {
        this.in = in;
        this.out = out;
        this.err = err;
        this.env = env;
    }

    /**
     * The server's data directory: {@code given} (a {@code --data} option), else {@code $TURNOUT_DATA},
     * else {@code ./turnout-data}; where {@code turnout server} keeps its files and where the other
     * commands look for its operator token and CA when they run on its host.
     */
    static Path dataDir(Map<String, String> env, Path given) {
        if (given != null) {
            return given;
        }
        String fromEnv = env.get("TURNOUT_DATA");
        return Path.of(fromEnv == null || fromEnv.isBlank() ? DEFAULT_DATA_DIR : fromEnv);
    }

    /** The server URL: {@code --server}, else {@code TURNOUT_SERVER}, else the CLI config file's {@code server:}, else the local default. */
    String serverUrl() {
        if (root.server != null && !root.server.isBlank()) {
            return root.server;
        }
        String fromEnv = env.get("TURNOUT_SERVER");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return fromEnv;
        }
        java.util.Optional<String> configured = TokenLookup.config(env).map(TokenLookup.Config::server);
        if (configured.isPresent()) {
            return configured.get();
        }
        // the server on this host runs with TLS (it made a CA in its data dir): talk HTTPS to it
        return CliTrust.localCa(env) != null ? DEFAULT_SERVER.replace("http://", "https://") : DEFAULT_SERVER;
    }

    /** Uses this token instead of looking for one (a server this process started itself, e.g. the demo's). */
    void useToken(String value, String source) {
        token = new TokenLookup.Found(value, source, java.util.List.of(source));
        api = null;
    }

    boolean jsonOutput() {
        return root.output == TurnoutCli.Output.json;
    }

    ApiClient api() {
        if (api == null) {
            String server = serverUrl();
            ApiClient.parseServer(server); // a bad URL is reported as such, before any token lookup
            if (token == null) {
                token = TokenLookup.find(env, root.tokenFile, server);
            }
            api = new ApiClient(server, json, token, server.startsWith("https:") ? CliTrust.resolve(env) : null);
        }
        return api;
    }

    /**
     * A password: typed at the terminal without echo when there is one and {@code fromStdin} is false,
     * else the next line of standard input. Never an argument: it would show in {@code ps}.
     */
    String readSecret(String prompt, boolean fromStdin) {
        java.io.Console console = System.console();
        if (!fromStdin && in == System.in && console != null) {
            char[] typed = console.readPassword("%s", prompt);
            if (typed == null || typed.length == 0) {
                throw new CliException("no password given");
            }
            return new String(typed);
        }
        try {
            if (lines == null) {
                lines = new java.io.BufferedReader(new java.io.InputStreamReader(in, java.nio.charset.StandardCharsets.UTF_8));
            }
            String line = lines.readLine();
            if (line == null || line.isEmpty()) {
                throw new CliException("no password on standard input (" + prompt.replace(": ", "") + ")");
            }
            return line;
        } catch (java.io.IOException e) {
            throw new CliException("cannot read standard input: " + e.getMessage());
        }
    }

    /** The token this CLI would send and where it came from (null token: none). */
    TokenLookup.Found tokenInUse() {
        api();
        return token;
    }

    /** Prints a JSON value as the command's whole output. */
    void printJson(Object value) {
        try {
            out.println(json.writeValueAsString(value));
        } catch (Exception e) {
            throw new CliException("cannot write JSON output: " + e.getMessage());
        }
    }
}
