package dev.turnout.broker;

import com.hivemq.extension.sdk.api.ExtensionMain;
import com.hivemq.extension.sdk.api.packets.disconnect.DisconnectReasonCode;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartOutput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopOutput;
import com.hivemq.extension.sdk.api.services.Services;
import dev.turnout.broker.internal.TurnoutExtensionMain;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The Turnout security extension for a standalone HiveMQ CE: the same authenticator and topic
 * rules as the embedded broker, with identities from a file ({@link FileBrokerIdentities}).
 * Configured by {@code turnout.properties} in the extension's folder:
 * <pre>
 * identities=/var/lib/turnout/hivemq-identities
 * topicPrefix=turnout/v1
 * </pre>
 * When the file loses a name, that client's connection is dropped within two seconds.
 */
public final class StandaloneExtensionMain implements ExtensionMain {

    private static final Logger LOG = LoggerFactory.getLogger(StandaloneExtensionMain.class);
    private static final long RECHECK_MILLIS = 2_000;

    private final Path configFile;
    private ScheduledFuture<?> watcher;

    /** For HiveMQ: reads {@code turnout.properties} from the extension's home folder. */
    public StandaloneExtensionMain() {
        this(null);
    }

    /** With an explicit configuration file (tests, embedded use). */
    public StandaloneExtensionMain(Path configFile) {
        this.configFile = configFile;
    }

    @Override
    public void extensionStart(ExtensionStartInput input, ExtensionStartOutput output) {
        Path config = configFile != null ? configFile
                : input.getExtensionInformation().getExtensionHomeFolder().toPath().resolve("turnout.properties");
        Properties properties = new Properties();
        try (Reader reader = Files.newBufferedReader(config, StandardCharsets.UTF_8)) {
            properties.load(reader);
        } catch (IOException e) {
            output.preventExtensionStartup("cannot read " + config + ": " + e.getMessage());
            return;
        }
        String identitiesPath = properties.getProperty("identities");
        if (identitiesPath == null || identitiesPath.isBlank()) {
            output.preventExtensionStartup(config + " names no identities file (identities=...)");
            return;
        }
        FileBrokerIdentities identities = new FileBrokerIdentities(Path.of(identitiesPath.strip()), RECHECK_MILLIS);
        TopicPolicy policy = new TopicPolicy(new Topics(properties.getProperty("topicPrefix", Topics.DEFAULT_PREFIX).strip()));
        TurnoutExtensionMain.register(identities, policy, () -> true);
        watcher = Services.extensionExecutorService().scheduleWithFixedDelay(() -> {
            Set<String> revoked = identities.reloadIfChanged(false);
            for (String name : revoked) {
                LOG.info("{} left the identities file: dropping its connection", name);
                Services.clientService().disconnectClient(name, false, DisconnectReasonCode.NOT_AUTHORIZED, "access revoked");
            }
        }, RECHECK_MILLIS, RECHECK_MILLIS, TimeUnit.MILLISECONDS);
        LOG.info("Turnout security extension: identities from {}, topics under {}/", identitiesPath, policy.topics().prefix());
    }

    @Override
    public void extensionStop(ExtensionStopInput input, ExtensionStopOutput output) {
        if (watcher != null) {
            watcher.cancel(false);
        }
    }
}
