package dev.turnout.orchestrator.app;

import java.nio.file.Path;

/**
 * How the orchestrator authenticates to its broker and keeps a site's Mosquitto in step.
 *
 * @param username               user name on an external broker; null: the generated identity
 *                               ({@code turnout-orchestrator-<key id>}, secret in {@code <data>/broker.secret})
 * @param passwordFile           file whose first line is the password for {@code username}
 * @param mosquittoConfigDir     directory whose Mosquitto password and ACL files are rewritten at start
 *                               and after every enrollment, revocation and user change; null: none
 * @param mosquittoReloadCommand shell command run after each rewrite (e.g. {@code systemctl reload mosquitto}); null: none
 * @param hivemqIdentitiesFile   identities file of a standalone HiveMQ running the Turnout extension, rewritten like
 *                               the Mosquitto files; null: none
 */
public record BrokerAuth(String username, Path passwordFile, Path mosquittoConfigDir, String mosquittoReloadCommand,
                         Path hivemqIdentitiesFile) {

    public BrokerAuth(String username, Path passwordFile, Path mosquittoConfigDir, String mosquittoReloadCommand) {
        this(username, passwordFile, mosquittoConfigDir, mosquittoReloadCommand, null);
    }

    public BrokerAuth {
        username = username == null || username.isBlank() ? null : username;
        mosquittoReloadCommand = mosquittoReloadCommand == null || mosquittoReloadCommand.isBlank() ? null : mosquittoReloadCommand;
        if ((username == null) != (passwordFile == null)) {
            throw new IllegalArgumentException("--broker-username and --broker-password-file go together");
        }
    }

    /** The generated identity, no Mosquitto files. */
    public static BrokerAuth generated() {
        return new BrokerAuth(null, null, null, null, null);
    }
}
