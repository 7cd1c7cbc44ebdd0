package dev.turnout.orchestrator.cli;

import dev.turnout.orchestrator.store.IdentityStore;
import dev.turnout.orchestrator.security.MosquittoConfig;
import dev.turnout.orchestrator.security.Keyring;
import dev.turnout.orchestrator.security.OrchestratorIdentity;
import dev.turnout.orchestrator.security.TlsMaterial;
import dev.turnout.orchestrator.app.ServerOptions;
import dev.turnout.proto.Topics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code turnout broker mosquitto-config}: the Turnout rules as files for the site's Mosquitto. */
@Command(name = "broker", description = "Broker set-up.", subcommands = {BrokerCommand.MosquittoConfigCommand.class})
final class BrokerCommand {

    @Command(name = "mosquitto-config",
            description = {"Write a Mosquitto 2.0 password file, ACL file and listener snippet for the fleet into DIR.",
                "Reads the server's data directory (run it on the server's host; the server need not run).",
                "Keep them current with `turnout server --mosquitto-config DIR`."})
    static final class MosquittoConfigCommand implements Runnable {
        private final Cli cli;

        @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where to write turnout.conf, turnout.passwd and turnout.acl.")
        Path out;

        @Option(names = "--data", paramLabel = "DIR", description = "The server's data directory (default: $TURNOUT_DATA, else ./turnout-data).")
        Path data;

        @Option(names = "--topic-prefix", defaultValue = Topics.DEFAULT_PREFIX, paramLabel = "PREFIX",
                description = "MQTT topic prefix (default: ${DEFAULT-VALUE}).")
        String topicPrefix;

        @Option(names = "--listener", paramLabel = "'PORT [ADDRESS]'",
                description = "Add a listener line to turnout.conf, e.g. '1883' or '1883 0.0.0.0' (default: none; use the existing one).")
        String listener;

        @Option(names = "--allow-anonymous",
                description = "Keep anonymous clients (the site's own) allowed; they get only what site.acl grants them, nothing under the prefix.")
        boolean allowAnonymous;

        @Option(names = "--keep-client-ids",
                description = "Leave out use_username_as_clientid (it applies to every client: site clients that share a user name would push each other off).")
        boolean keepClientIds;

        @Option(names = "--broker-username", paramLabel = "NAME", description = "The orchestrator's user name, if not the generated one.")
        String brokerUsername;

        @Option(names = "--broker-password-file", paramLabel = "FILE", description = "Password file of --broker-username.")
        Path brokerPasswordFile;

        @Option(names = "--tls", description = {"Also write a certificate and key for the Mosquitto host, signed by the orchestrator's CA",
            "(DIR/tls/ca.pem of the data directory, created if missing), and a TLS listener on --tls-port."})
        boolean tls;

        @Option(names = "--tls-host", paramLabel = "NAME",
                description = "A name devices use for the Mosquitto host (repeatable; this machine's host name and address,"
                        + " localhost and 127.0.0.1 are always included).")
        java.util.List<String> tlsHosts;

        @Option(names = "--tls-port", defaultValue = "8883", paramLabel = "PORT", description = "Port of the TLS listener (default: ${DEFAULT-VALUE}).")
        int tlsPort;

        @Option(names = "--tls-bind", paramLabel = "ADDRESS", description = "Address of the TLS listener (default: all).")
        String tlsBind;

        @Option(names = "--file-group", paramLabel = "GROUP", defaultValue = "mosquitto",
                description = "Group that may read turnout.passwd (mode 0640): the one Mosquitto runs as (default: ${DEFAULT-VALUE}).")
        String fileGroup;

        private java.util.List<String> tlsNames = java.util.List.of();

        MosquittoConfigCommand(Cli cli) {
            this.cli = cli;
        }

        /** The orchestrator's CA (created if missing) and a certificate for the Mosquitto host it signs. */
        private void writeTlsFiles(Path dataDir) throws IOException {
            TlsMaterial.Authority ca = TlsMaterial.authority(dataDir.resolve("tls"), java.time.Clock.systemUTC());
            tlsNames = TlsMaterial.serverNames(ServerOptions.defaultAdvertiseHost(), tlsBind, tlsHosts);
            Files.createDirectories(out);
            TlsMaterial.Issued issued = ca.issue(tlsNames, "Turnout MQTT broker", java.time.Duration.ofDays(2 * 365));
            issued.writeTo(out.resolve(MosquittoConfig.TLS_CERT_FILE), out.resolve(MosquittoConfig.TLS_KEY_FILE));
            Files.writeString(out.resolve(MosquittoConfig.TLS_CA_FILE), TlsMaterial.pem(ca.certificate()));
        }

        @Override
        public void run() {
            Path dataDir = Cli.dataDir(cli.env, data);
            if ((brokerUsername == null) != (brokerPasswordFile == null)) {
                throw new CliException(ExitCodes.USAGE, "--broker-username and --broker-password-file go together");
            }
            Topics topics;
            try {
                topics = new Topics(topicPrefix);
            } catch (IllegalArgumentException e) {
                throw new CliException(ExitCodes.USAGE, e.getMessage());
            }
            try {
                Files.createDirectories(dataDir);
                OrchestratorIdentity self;
                if (brokerUsername != null) {
                    self = OrchestratorIdentity.fromFile(brokerUsername, brokerPasswordFile);
                } else {
                    // named after the first signing key, as the server does: a key rotation does not rename it
                    self = OrchestratorIdentity.loadOrCreate(dataDir, Keyring.open(dataDir).identityKeyId());
                }
                try (IdentityStore store = IdentityStore.open(dataDir)) {
                    new MosquittoConfig(topics, self, store.list()).writeTo(out);
                }
                String tlsListener = null;
                if (tls) {
                    writeTlsFiles(dataDir);
                    tlsListener = MosquittoConfig.tlsListenerSnippet(out, tlsPort, tlsBind);
                }
                MosquittoConfig.writeListener(out, listener, allowAnonymous, !keepClientIds, tlsListener);
                try {
                    MosquittoConfig.shareWithGroup(out, fileGroup);
                    if (tls) {
                        MosquittoConfig.shareFileWithGroup(out.resolve(MosquittoConfig.TLS_KEY_FILE), fileGroup);
                    }
                } catch (java.nio.file.attribute.UserPrincipalNotFoundException e) {
                    cli.err.printf("turnout: no group %s here: make %s readable by the user Mosquitto runs as%n", fileGroup,
                            out.resolve(MosquittoConfig.PASSWORD_FILE));
                } catch (UnsupportedOperationException e) {
                    cli.err.printf("turnout: cannot set the group of %s on this file system%n", out.resolve(MosquittoConfig.PASSWORD_FILE));
                }
            } catch (IOException | IllegalArgumentException e) {
                throw new CliException("cannot write the Mosquitto files: " + e.getMessage());
            }
            Path abs = out.toAbsolutePath();
            cli.out.printf("wrote %s, %s and %s in %s%n", MosquittoConfig.LISTENER_FILE, MosquittoConfig.PASSWORD_FILE,
                    MosquittoConfig.ACL_FILE, abs);
            cli.out.printf("include it from mosquitto.conf with:  include_dir %s%n", abs);
            if (tls) {
                cli.out.printf("wrote %s, %s and %s (for %s), signed by the CA %s%n", MosquittoConfig.TLS_CA_FILE,
                        MosquittoConfig.TLS_CERT_FILE, MosquittoConfig.TLS_KEY_FILE, String.join(", ", tlsNames),
                        dataDir.resolve("tls").resolve(TlsMaterial.CA_FILE).toAbsolutePath());
                cli.out.printf("keep it current:  turnout server --tls --broker-url ssl://HOST:%d --mosquitto-config %s"
                        + " --mosquitto-reload-command 'systemctl reload mosquitto'%n", tlsPort, abs);
            } else {
                cli.out.printf("keep it current:  turnout server --broker-url tcp://HOST:1883 --mosquitto-config %s"
                        + " --mosquitto-reload-command 'systemctl reload mosquitto'%n", abs);
            }
        }
    }
}
