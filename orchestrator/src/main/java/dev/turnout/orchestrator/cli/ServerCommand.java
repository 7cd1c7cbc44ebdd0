package dev.turnout.orchestrator.cli;

import dev.turnout.broker.BrokerStorage;
import dev.turnout.orchestrator.app.BrokerAuth;
import dev.turnout.orchestrator.app.ClusterOptions;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.orchestrator.app.TlsOptions;
import dev.turnout.orchestrator.install.EdgePackage;
import dev.turnout.orchestrator.app.TurnoutServer;
import dev.turnout.orchestrator.domain.Durations;
import dev.turnout.orchestrator.security.Secrets;
import dev.turnout.proto.Topics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
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

    @Option(names = "--mqtt-port", paramLabel = "PORT", description = "Embedded broker port (default: 1883; 8883 with TLS).")
    Integer mqttPort;

    @Option(names = "--tls", description = {"HTTPS for the API and MQTT over TLS on the embedded broker, with a CA and server certificate",
        "generated in DIR/tls/ on first start (reused after); devices pin the CA from their enrollment config."})
    boolean tls;

    @Option(names = "--tls-cert", paramLabel = "FILE", description = "Use this server certificate (PEM, chain allowed) instead of a generated one; implies --tls.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "Private key (PEM) of --tls-cert.")
    Path tlsKey;

    @Option(names = "--tls-ca", paramLabel = "FILE",
            description = "CA certificate (PEM) devices pin for --tls-cert (default: none; devices then use their system trust store).")
    Path tlsCa;

    @Option(names = "--tls-host", paramLabel = "NAME",
            description = "Another DNS name or IP address for the generated certificate (repeatable).")
    java.util.List<String> tlsHosts;

    @Option(names = "--broker-ca", paramLabel = "FILE",
            description = "CA certificate (PEM) of an ssl:// --broker-url (default: the orchestrator's CA with --tls, else the system trust store).")
    Path brokerCa;

    @Option(names = "--broker-url", paramLabel = "URL", description = "Use this broker (tcp://HOST:1883 or ssl://HOST:8883) instead of embedding one.")
    String brokerUrl;

    @Option(names = "--broker-persistence", paramLabel = "file|memory",
            description = {"How the embedded broker keeps retained desired states, sessions and queued reports (default: memory).",
                    "memory: nothing on disk; after a restart the orchestrator subscribes to the reports before devices are let in,"
                            + " republishes every desired state, and devices report again when they reconnect. file: on disk under DIR/broker."})
    String brokerPersistence;

    @Option(names = "--broker-buckets", paramLabel = "N",
            description = "Buckets each of the embedded broker's stores is split into, 1-64 (default: 4). Changing it starts a file store empty.")
    Integer brokerBuckets;

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

    @Option(names = "--store", paramLabel = "URL",
            description = "A PostgreSQL store shared by several orchestrators: jdbc:postgresql://HOST:PORT/DATABASE"
                    + " (default: the embedded SQLite store in the data directory). Password: $TURNOUT_STORE_PASSWORD or --store-password-file.")
    String store;

    @Option(names = "--store-user", paramLabel = "NAME", description = "Database user (default: the user in the --store URL).")
    String storeUser;

    @Option(names = "--store-password-file", paramLabel = "FILE",
            description = "File whose first line is the database password (default: $TURNOUT_STORE_PASSWORD).")
    Path storePasswordFile;

    @Option(names = "--share-group", paramLabel = "NAME",
            description = "MQTT shared-subscription group of the orchestrators on one --store (default: turnout).")
    String shareGroup;

    @Option(names = "--instance-id", paramLabel = "NAME",
            description = "This orchestrator's name among those on one --store (default: HOST-PID).")
    String instanceId;

    @Option(names = "--rollout-lease", paramLabel = "DURATION",
            description = "With --store: how long a stopped orchestrator's rollouts wait before another takes them over (default: 10s).")
    String rolloutLease;

    @Option(names = "--edge-package", paramLabel = "FILE",
            description = {"The edge daemon's Debian package (turnout-edge_VERSION_all.deb) that one-line installs hand to devices",
                "(turnout device enroll ID --install-command). Default: " + "/usr/share/turnout/edge/turnout-edge.deb when it exists (the turnout package ships it)."})
    Path edgePackage;

    @Option(names = "--max-downloads", paramLabel = "N",
            description = {"Artifact downloads served at once (default: " + ServerOptions.DEFAULT_MAX_DOWNLOADS + "). One more is answered"
                    + " 503 with Retry-After; the device waits that long and asks again, which does not count as a failed download."})
    int maxDownloads;

    ServerCommand(Cli cli) {
        this.cli = cli;
    }

    /** The embedded broker's storage from --broker-persistence and --broker-buckets; refused with --broker-url. */
    private BrokerStorage brokerStorage() {
        if (brokerPersistence == null && brokerBuckets == null) {
            return BrokerStorage.DEFAULT;
        }
        if (brokerUrl != null) {
            throw new IllegalArgumentException("--broker-persistence and --broker-buckets set up the embedded broker; with --broker-url"
                    + " the broker you run keeps its own store");
        }
        BrokerStorage.Mode mode = switch (brokerPersistence == null ? BrokerStorage.DEFAULT.mode().name().toLowerCase(java.util.Locale.ROOT)
                : brokerPersistence.toLowerCase(java.util.Locale.ROOT)) {
            case "file" -> BrokerStorage.Mode.FILE;
            case "memory" -> BrokerStorage.Mode.MEMORY;
            default -> throw new IllegalArgumentException("--broker-persistence is file or memory, not '" + brokerPersistence + "'");
        };
        return new BrokerStorage(mode, brokerBuckets == null ? BrokerStorage.DEFAULT.buckets() : brokerBuckets);
    }

    @Override
    public void run() {
        Path dataDir = Cli.dataDir(cli.env, data);
        String dataProblem = DataDirectory.problem(dataDir);
        if (dataProblem != null) {
            throw new CliException(ExitCodes.USAGE, dataProblem);
        }
        ServerOptions options;
        try {
            TlsOptions tlsOptions = new TlsOptions(tls, tlsCert, tlsKey, tlsCa, tlsHosts, brokerCa);
            int port = mqttPort != null ? mqttPort
                    : tlsOptions.enabled() ? ServerOptions.DEFAULT_MQTTS_PORT : ServerOptions.DEFAULT_MQTT_PORT;
            options = new ServerOptions(dataDir, httpPort, port, bind, brokerUrl, advertiseHost, topicPrefix,
                    new BrokerAuth(brokerUsername, brokerPasswordFile, mosquittoConfig, mosquittoReload, hivemqIdentities), tlsOptions,
                    brokerStorage()).withEdgePackage(edgePackage()).withMaxDownloads(maxDownloads);
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.USAGE, e.getMessage());
        }
        ClusterOptions cluster;
        try {
            cluster = new ClusterOptions(store, storeUser, storePassword(), shareGroup, instanceId,
                    rolloutLease == null ? null : Durations.parse(rolloutLease, "--rollout-lease"));
        } catch (IllegalArgumentException e) {
            throw new CliException(ExitCodes.USAGE, e.getMessage());
        }
        if (!cluster.shared() && (storeUser != null || storePasswordFile != null || shareGroup != null || instanceId != null
                || rolloutLease != null)) {
            throw new CliException(ExitCodes.USAGE, "--store-user, --store-password-file, --share-group, --instance-id and"
                    + " --rollout-lease go with --store");
        }
        TurnoutServer server;
        try {
            server = TurnoutServer.start(options, cluster);
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
        if (server.caFile() != null) {
            cli.out.printf("  CA certificate     %s (devices get it at enrollment; the CLI reads it here or from TURNOUT_CA)%n",
                    server.caFile().toAbsolutePath());
        }
        if (cluster.shared()) {
            cli.out.printf("  store              %s (shared; this is instance %s, group %s)%n", cluster.storeUrl(),
                    cluster.instanceId(), cluster.shareGroup());
        }
        cli.out.printf("  operator token     %s (the CLI on this host reads it; elsewhere: TURNOUT_TOKEN or --token-file)%n",
                server.operatorTokenFile());
        if (mosquittoConfig != null) {
            cli.out.printf("  Mosquitto files    %s%n", mosquittoConfig.toAbsolutePath());
        }
        if (options.edgePackage() != null) {
            cli.out.printf("  edge package       %s (one-line installs)%n", options.edgePackage().toAbsolutePath());
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

    /** --edge-package, checked; else the copy the Debian package ships, when there is one; else none. */
    private Path edgePackage() {
        if (edgePackage != null) {
            if (!Files.isRegularFile(edgePackage) || !Files.isReadable(edgePackage)) {
                throw new IllegalArgumentException("--edge-package " + edgePackage + " is not a readable file");
            }
            return edgePackage;
        }
        return Files.isRegularFile(EdgePackage.DEBIAN_DEFAULT) ? EdgePackage.DEBIAN_DEFAULT : null;
    }

    /** The database password: the first line of --store-password-file, else $TURNOUT_STORE_PASSWORD, else none. */
    private String storePassword() {
        if (storePasswordFile != null) {
            try {
                return Secrets.firstLine(storePasswordFile);
            } catch (java.io.IOException e) {
                throw new CliException(ExitCodes.USAGE, "cannot read --store-password-file " + storePasswordFile + ": " + e.getMessage());
            }
        }
        String fromEnv = cli.env.get("TURNOUT_STORE_PASSWORD");
        return fromEnv == null || fromEnv.isEmpty() ? null : fromEnv;
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
