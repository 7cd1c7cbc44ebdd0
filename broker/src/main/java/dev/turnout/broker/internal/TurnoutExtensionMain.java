package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.ExtensionMain;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartOutput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopOutput;
import com.hivemq.extension.sdk.api.services.Services;
import com.hivemq.extension.sdk.api.services.builder.Builders;
import dev.turnout.broker.BrokerIdentities;
import dev.turnout.broker.TopicPolicy;

import java.util.function.BooleanSupplier;

/**
 * Registers Turnout's authenticator, which sets each client's topic rules as HiveMQ default permissions at connect,
 * and the recheck of revocations once a connection is registered. No authorizer: HiveMQ checks the default
 * permissions of every PUBLISH and SUBSCRIBE on its event loop instead of handing each one to the extension executor.
 */
public final class TurnoutExtensionMain implements ExtensionMain {

    private final BrokerIdentities identities;
    private final TopicPolicy policy;
    private final BooleanSupplier othersAdmitted;

    /** @param othersAdmitted whether clients other than the orchestrator may connect now */
    public TurnoutExtensionMain(BrokerIdentities identities, TopicPolicy policy, BooleanSupplier othersAdmitted) {
        this.identities = identities;
        this.policy = policy;
        this.othersAdmitted = othersAdmitted;
    }

    @Override
    public void extensionStart(ExtensionStartInput input, ExtensionStartOutput output) {
        register(identities, policy, othersAdmitted);
    }

    /** Registers the authenticator and the revocation recheck with the running broker's security services. */
    public static void register(BrokerIdentities identities, TopicPolicy policy, BooleanSupplier othersAdmitted) {
        CredentialAuthenticator authenticator = new CredentialAuthenticator(identities, policy, Builders::topicPermission,
                othersAdmitted);
        Services.securityRegistry().setAuthenticatorProvider(providerInput -> authenticator);
        Services.initializerRegistry().setClientInitializer(new RevocationRecheck(identities));
    }

    @Override
    public void extensionStop(ExtensionStopInput input, ExtensionStopOutput output) {
        // nothing to release
    }
}
