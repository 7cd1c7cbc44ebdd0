package dev.turnout.orchestrator.security;

import dev.turnout.broker.PasswordHash;
import dev.turnout.orchestrator.store.BrokerIdentity;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The identities file a standalone HiveMQ with the Turnout extension reads
 * ({@link dev.turnout.broker.FileBrokerIdentities}): {@code NAME ROLE HASH} per line (the orchestrator's own secret, which an operator may
 * have chosen, as Argon2id; devices and monitors as stored),
 * written atomically with mode 0600.
 */
public final class HiveMqIdentitiesFile {

    private HiveMqIdentitiesFile() {
    }

    public static void write(Path file, OrchestratorIdentity orchestrator, List<BrokerIdentity> identities) throws IOException {
        StringBuilder b = new StringBuilder("# Turnout broker identities: rewritten on every enrollment, revocation and user change.\n");
        b.append(orchestrator.name()).append(" orchestrator ").append(PasswordHash.hash(orchestrator.secret())).append('\n');
        for (BrokerIdentity identity : identities) {
            b.append(identity.name()).append(' ').append(identity.role().name().toLowerCase(Locale.ROOT)).append(' ')
                    .append(identity.secretHash()).append('\n');
        }
        Secrets.writePrivate(file, b.toString());
    }
}
