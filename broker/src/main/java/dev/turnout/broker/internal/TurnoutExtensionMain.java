package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.ExtensionMain;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStartOutput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopInput;
import com.hivemq.extension.sdk.api.parameter.ExtensionStopOutput;
import com.hivemq.extension.sdk.api.services.Services;
import dev.turnout.broker.BrokerIdentities;
import dev.turnout.broker.TopicPolicy;

import java.util.function.BooleanSupplier;

/** Registers Turnout's authenticator and topic authorizer with the broker. */
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
        CredentialAuthenticator authenticator = new CredentialAuthenticator(identities, othersAdmitted);
        TopicAuthorizer authorizer = new TopicAuthorizer(identities, policy);
        Services.securityRegistry().setAuthenticatorProvider(providerInput -> authenticator);
        Services.securityRegistry().setAuthorizerProvider(providerInput -> authorizer);
    }

    @Override
    public void extensionStop(ExtensionStopInput input, ExtensionStopOutput output) {
        // nothing to release
    }
}
