package dev.turnout.orchestrator.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.turnout.orchestrator.app.LocalServers;
import dev.turnout.orchestrator.security.OperatorToken;

import java.io.IOException;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where the CLI finds the operator token (docs/cli.md, "The operator token"), first hit wins:
 * <ol>
 *   <li>{@code TURNOUT_TOKEN};</li>
 *   <li>{@code --token-file FILE};</li>
 *   <li>the CLI config file ({@code $TURNOUT_CLI_CONFIG}, else {@code $XDG_CONFIG_HOME/turnout/cli.yaml}, else
 *       {@code ~/.config/turnout/cli.yaml}) with {@code token:}, when its {@code server:} is unset or the server in use;</li>
 *   <li>when the server is on this host: {@code $TURNOUT_DATA/operator.token}, else the token file of the server
 *       that runs on that port ({@link LocalServers}), else {@code ./turnout-data/operator.token}.</li>
 * </ol>
 * Never a plain command-line argument: it would show in {@code ps}.
 */
final class TokenLookup {

    /** The token found (null: none) and where the CLI looked, for error messages. */
    record Found(String token, String source, List<String> looked) {
    }

    /** The CLI config file: {@code server:}, {@code token:} and {@code user:} (whose token it is, from {@code turnout login}). */
    record Config(Path file, String server, String token, String user) {
    }

    private TokenLookup() {
    }

    static Path configFile(Map<String, String> env) {
        String explicit = env.get("TURNOUT_CLI_CONFIG");
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        String xdg = env.get("XDG_CONFIG_HOME");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "turnout", "cli.yaml");
        }
        String home = env.get("HOME");
        return home == null || home.isBlank() ? null : Path.of(home, ".config", "turnout", "cli.yaml");
    }

    /** The config file's contents; empty when there is none. A file that cannot be read is an error. */
    static Optional<Config> config(Map<String, String> env) {
        Path file = configFile(env);
        if (file == null || !Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            JsonNode node = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
            if (node == null || node.isMissingNode() || node.isNull()) {
                return Optional.of(new Config(file, null, null, null));
            }
            if (!node.isObject()) {
                throw new CliException("the CLI config file " + file + " must be a YAML mapping with server: and token:");
            }
            return Optional.of(new Config(file, text(node, "server"), text(node, "token"), text(node, "user")));
        } catch (IOException e) {
            throw new CliException("cannot read the CLI config file " + file + ": " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /**
     * Writes the config file (mode 0600, atomically; its directory made if need be): {@code server:}, and
     * {@code token:} and {@code user:} when not null. What else the file held is kept.
     */
    static Path writeConfig(Map<String, String> env, String server, String token, String user) {
        Path file = configFile(env);
        if (file == null) {
            throw new CliException("there is no CLI config file to write: set TURNOUT_CLI_CONFIG or HOME");
        }
        try {
            ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
            com.fasterxml.jackson.databind.node.ObjectNode node = yaml.createObjectNode();
            if (Files.isRegularFile(file)) {
                JsonNode old = yaml.readTree(file.toFile());
                if (old != null && old.isObject()) {
                    node.setAll((com.fasterxml.jackson.databind.node.ObjectNode) old);
                }
            }
            node.put("server", server);
            for (String[] field : new String[][] {{"token", token}, {"user", user}}) {
                if (field[1] == null) {
                    node.remove(field[0]);
                } else {
                    node.put(field[0], field[1]);
                }
            }
            Path dir = file.toAbsolutePath().getParent();
            if (dir != null) {
                Files.createDirectories(dir);
            }
            dev.turnout.orchestrator.security.Secrets.writePrivate(file, yaml.writeValueAsString(node));
            return file;
        } catch (IOException e) {
            throw new CliException("cannot write the CLI config file " + file + ": " + e.getMessage());
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() || v.asText().isBlank() ? null : v.asText().trim();
    }

    static Found find(Map<String, String> env, Path tokenFile, String serverUrl) {
        List<String> looked = new ArrayList<>();
        String fromEnv = env.get("TURNOUT_TOKEN");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return new Found(fromEnv.trim(), "TURNOUT_TOKEN", List.of("TURNOUT_TOKEN"));
        }
        looked.add("TURNOUT_TOKEN");
        if (tokenFile != null) {
            return new Found(readFile(tokenFile, "--token-file " + tokenFile), "--token-file " + tokenFile, List.of("--token-file " + tokenFile));
        }
        Optional<Config> config = config(env);
        Path configPath = configFile(env);
        if (config.isPresent() && config.get().token() != null) {
            if (config.get().server() == null || sameServer(config.get().server(), serverUrl)) {
                looked.add(config.get().file().toString());
                return new Found(config.get().token(), config.get().file().toString(), looked);
            }
            looked.add(config.get().file() + " (its token is for " + config.get().server() + ")");
        } else if (configPath != null) {
            looked.add(configPath.toString());
        }
        URI server = URI.create(serverUrl);
        if (!isThisHost(server.getHost())) {
            looked.add("no data directory (the server is not on this host)");
            return new Found(null, null, looked);
        }
        String data = env.get("TURNOUT_DATA");
        List<Path> candidates = new ArrayList<>();
        if (data != null && !data.isBlank()) {
            candidates.add(Path.of(data).resolve(OperatorToken.FILE));
        } else {
            int port = server.getPort() > 0 ? server.getPort() : ("https".equals(server.getScheme()) ? 443 : 80);
            LocalServers.tokenFile(env, port).ifPresent(candidates::add);
            candidates.add(Path.of(Cli.DEFAULT_DATA_DIR).resolve(OperatorToken.FILE));
        }
        for (Path candidate : candidates) {
            Path absolute = candidate.toAbsolutePath().normalize();
            looked.add(absolute.toString());
            if (Files.isRegularFile(absolute)) {
                return new Found(readFile(absolute, absolute.toString()), absolute.toString(), looked);
            }
        }
        return new Found(null, null, looked);
    }

    private static String readFile(Path file, String what) {
        try {
            String token = OperatorToken.read(file);
            if (token.isEmpty()) {
                throw new CliException("the token file " + what + " is empty");
            }
            return token;
        } catch (java.nio.file.AccessDeniedException e) {
            throw new CliException("cannot read the operator token in " + file + ": permission denied"
                    + " (run as the server's user, or set TURNOUT_TOKEN)");
        } catch (IOException e) {
            throw new CliException("cannot read the operator token in " + what + ": " + e.getMessage());
        }
    }

    static boolean sameServer(String a, String b) {
        return strip(a).equalsIgnoreCase(strip(b));
    }

    private static String strip(String url) {
        String s = url.trim();
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        return s;
    }

    /** True for loopback names and addresses of this host's interfaces. */
    static boolean isThisHost(String host) {
        if (host == null) {
            return false;
        }
        if (host.equalsIgnoreCase("localhost")) {
            return true;
        }
        try {
            InetAddress address = InetAddress.getByName(host);
            return address.isLoopbackAddress() || address.isAnyLocalAddress() || NetworkInterface.getByInetAddress(address) != null;
        } catch (IOException e) {
            return false;
        }
    }
}
