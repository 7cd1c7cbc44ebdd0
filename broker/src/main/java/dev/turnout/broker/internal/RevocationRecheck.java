package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.client.ClientContext;
import com.hivemq.extension.sdk.api.client.parameter.InitializerInput;
import com.hivemq.extension.sdk.api.packets.auth.DefaultAuthorizationBehaviour;
import com.hivemq.extension.sdk.api.packets.disconnect.DisconnectReasonCode;
import com.hivemq.extension.sdk.api.services.Services;
import com.hivemq.extension.sdk.api.services.intializer.ClientInitializer;
import dev.turnout.broker.BrokerIdentities;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks {@link BrokerIdentities#isActive} once more for every connection, after HiveMQ registered it and before its
 * CONNACK: a revocation that came between the credential check and the registration found nothing to disconnect, so
 * here the connection loses every permission and is dropped. A revocation after this point finds the connection
 * registered and disconnects it. (The permissions themselves are set at connect and checked by HiveMQ per packet.)
 */
final class RevocationRecheck implements ClientInitializer {

    private static final Logger LOG = LoggerFactory.getLogger(RevocationRecheck.class);

    private final BrokerIdentities identities;

    RevocationRecheck(BrokerIdentities identities) {
        this.identities = identities;
    }

    @Override
    public void initialize(InitializerInput input, ClientContext context) {
        keeps(input, context);
    }

    /** Runs the recheck; whether the connection keeps its permissions (false: it is being dropped). */
    boolean keeps(InitializerInput input, ClientContext context) {
        String clientId = input.getClientInformation().getClientId();
        String user = CredentialAuthenticator.userOf(input.getConnectionInformation().getConnectionAttributeStore()).orElse(null);
        if (user != null && identities.isActive(user)) {
            return true;
        }
        context.getDefaultPermissions().clear();
        context.getDefaultPermissions().setDefaultBehaviour(DefaultAuthorizationBehaviour.DENY);
        LOG.info("dropped client {}: its identity was revoked while it connected", clientId);
        Services.clientService().disconnectClient(clientId, true, DisconnectReasonCode.NOT_AUTHORIZED, "access revoked");
        return false;
    }
}
