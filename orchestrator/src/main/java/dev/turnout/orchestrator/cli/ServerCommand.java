package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.proto.Topics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/** {@code turnout server}: the orchestrator, with its embedded broker unless {@code --broker-url} names one. */
@Command(name = "server", description = "Run the orchestrator (HTTP API, rollout engine, store; embedded MQTT broker unless --broker-url).")
final class ServerCommand implements Runnable {

    private final Cli cli;

    @Option(names = "--data", paramLabel = "DIR",
            description = "Store, signing key, artifacts and embedded broker data (default: $TURNOUT_DATA, else ./turnout-data).")
    Path data;

    @Option(names = "--http-port", defaultValue = "8080", paramLabel = "PORT", description = "HTTP API port (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--mqtt-port", defaultValue = "1883", paramLabel = "PORT", description = "Embedded broker port (default: ${DEFAULT-VALUE}).")
    int mqttPort;

    @Option(names = "--broker-url", paramLabel = "URL", description = "Use this broker (tcp://HOST:PORT) instead of embedding one.")
    String brokerUrl;

    @Option(names = "--bind", defaultValue = ServerOptions.DEFAULT_BIND_ADDRESS, paramLabel = "ADDRESS",
            description = "Address the API and the embedded broker listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--advertise-host", paramLabel = "HOST",
            description = "Host name devices use to reach this server (default: first non-loopback IPv4 address).")
    String advertiseHost;

    @Option(names = "--topic-prefix", defaultValue = Topics.DEFAULT_PREFIX, paramLabel = "PREFIX",
            description = "MQTT topic prefix (default: ${DEFAULT-VALUE}).")
    String topicPrefix;

    @Option(names = "--broker-username", paramLabel = "NAME",
            description = "User name on an external broker (default: the generated turnout-orchestrator-<key id>).")
    String brokerUsername;

    @Option(names = "--broker-password-file", paramLabel = "FILE",
            description = "File whose first line is the password of --broker-username (default: DIR/broker.secret, generated).")
    Path brokerPasswordFile;

    @Option(names = "--mosquitto-config", paramLabel = "DIR",
            description = "Keep the Mosquitto password and ACL files in DIR current (see `turnout broker mosquitto-config`).")
    Path mosquittoConfig;

    @Option(names = "--mosquitto-reload-command", paramLabel = "COMMAND",
            description = "Run this after each rewrite of the Mosquitto files, e.g. 'systemctl reload mosquitto'.")
    String mosquittoReload;

    @Option(names = "--hivemq-identities", paramLabel = "FILE",
            description = "Keep this identities file of a standalone HiveMQ with the Turnout extension current.")
    Path hivemqIdentities;

    ServerCommand(Cli cli) {
        this.cli = cli;
    }

    @Override
    public void run() {
        Path dataDir = data != null ? data : Path.of(cli.env.getOrDefault("TURNOUT_DATA", "turnout-data"));
        ServerOptions options;
        try {
            options = new ServerOptions(dataDir, httpPort, mqttPort, bind, brokerUrl, advertiseHost, topicPrefix,
                    new BrokerAuth(brokerUsername, brokerPasswordFile, mosquittoConfig, mosquittoReload, hivemqIdentities));
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.USAGE, e.getMessage());
        }
        TurnoutServer server;
        try {
            server = TurnoutServer.start(options);
        } catch (Exception e) {
            if (rootCause(e) instanceof java.net.BindException && !rootMessage(e).contains("MQTT")) {
                throw new CliException("cannot start the orchestrator: HTTP port " + httpPort + " on " + bind
                        + " is in use; stop what holds it or choose another with --http-port");
            }
            throw new CliException("cannot start the orchestrator: " + rootMessage(e));
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "turnout-shutdown"));
        cli.out.printf("Turnout %s is running.%n", TurnoutServer.VERSION);
        cli.out.printf("  API and dashboard  %s%n", server.url());
        cli.out.printf("  MQTT broker        %s%s%n", server.brokerUrl(), options.embedsBroker() ? " (embedded HiveMQ CE)" : "");
        cli.out.printf("  data               %s%n", dataDir.toAbsolutePath());
        cli.out.printf("  operator token     %s (the CLI on this host reads it; elsewhere: TURNOUT_TOKEN or --token-file)%n",
                server.operatorTokenFile());
        if (mosquittoConfig != null) {
            cli.out.printf("  Mosquitto files    %s%n", mosquittoConfig.toAbsolutePath());
        }
        cli.out.printf("Enroll a device:     turnout device enroll pi-1 --out pi-1.yaml%n");
        cli.out.flush();
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.close();
        }
    }

    static Throwable rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    static String rootMessage(Throwable e) {
        Throwable t = rootCause(e);
        String own = e.getMessage() == null ? e.toString() : e.getMessage();
        String root = t.getMessage() == null ? t.toString() : t.getMessage();
        return own.contains(root) ? own : own + ": " + root;
    }
}
