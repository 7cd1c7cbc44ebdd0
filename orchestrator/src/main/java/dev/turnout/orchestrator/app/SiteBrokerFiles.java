package dev.turnout.orchestrator.app;

import dev.turnout.orchestrator.security.BrokerAccess;
import dev.turnout.orchestrator.security.HiveMqIdentitiesFile;
import dev.turnout.orchestrator.security.MosquittoConfig;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the files of a site's own broker in step with the broker identities: the Mosquitto
 * password and ACL files (then its reload command) and the identities file of a standalone HiveMQ,
 * written at start and after every enrollment, revocation and user change.
 */
final class SiteBrokerFiles {

    private static final Logger LOG = LoggerFactory.getLogger(SiteBrokerFiles.class);
    private static final long RELOAD_SECONDS = 30;

    private SiteBrokerFiles() {
    }

    /** Writes the files {@code auth} names now (a failure here stops the start) and after each change of {@code access}. */
    static void keepInStep(BrokerAuth auth, Topics topics, BrokerAccess access) {
        if (auth.mosquittoConfigDir() != null) {
            writeNowAndOnChange(access, mosquitto(auth, topics, access));
        }
        if (auth.hivemqIdentitiesFile() != null) {
            writeNowAndOnChange(access, hivemq(auth.hivemqIdentitiesFile(), access));
        }
    }

    private static void writeNowAndOnChange(BrokerAccess access, Runnable write) {
        write.run();
        access.onChange(write);
    }

    private static Runnable mosquitto(BrokerAuth auth, Topics topics, BrokerAccess access) {
        Path dir = auth.mosquittoConfigDir();
        return () -> {
            try {
                new MosquittoConfig(topics, access.orchestrator(), access.identities()).writeTo(dir);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the Mosquitto files in " + dir + ": " + e.getMessage(), e);
            }
            if (auth.mosquittoReloadCommand() != null) {
                runReload(auth.mosquittoReloadCommand());
            }
        };
    }

    private static Runnable hivemq(Path file, BrokerAccess access) {
        return () -> {
            try {
                HiveMqIdentitiesFile.write(file, access.orchestrator(), access.identities());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
            }
        };
    }

    private static void runReload(String command) {
        try {
            Process p = new ProcessBuilder("/bin/sh", "-c", command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(RELOAD_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                LOG.warn("Mosquitto reload command did not finish within {} s: {}", RELOAD_SECONDS, command);
            } else if (p.exitValue() != 0) {
                LOG.warn("Mosquitto reload command exited with {}: {}", p.exitValue(), command);
            }
        } catch (IOException e) {
            LOG.warn("cannot run the Mosquitto reload command '{}': {}", command, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
