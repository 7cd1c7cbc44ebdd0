package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.auth.PublishAuthorizer;
import com.hivemq.extension.sdk.api.auth.SubscriptionAuthorizer;
import com.hivemq.extension.sdk.api.auth.parameter.PublishAuthorizerInput;
import com.hivemq.extension.sdk.api.auth.parameter.PublishAuthorizerOutput;
import com.hivemq.extension.sdk.api.auth.parameter.SubscriptionAuthorizerInput;
import com.hivemq.extension.sdk.api.auth.parameter.SubscriptionAuthorizerOutput;
import com.hivemq.extension.sdk.api.packets.publish.AckReasonCode;
import com.hivemq.extension.sdk.api.packets.subscribe.SubackReasonCode;
import dev.turnout.broker.BrokerIdentities;
import dev.turnout.broker.Role;
import dev.turnout.broker.TopicPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Optional;

/** Applies {@link TopicPolicy} to every PUBLISH (including wills) and SUBSCRIBE; deny by default. */
public final class TopicAuthorizer implements PublishAuthorizer, SubscriptionAuthorizer {

    private static final Logger LOG = LoggerFactory.getLogger(TopicAuthorizer.class);

    private final BrokerIdentities identities;
    private final TopicPolicy policy;

    public TopicAuthorizer(BrokerIdentities identities, TopicPolicy policy) {
        this.identities = identities;
        this.policy = policy;
    }

    @Override
    public void authorizePublish(PublishAuthorizerInput input, PublishAuthorizerOutput output) {
        String user = CredentialAuthenticator.userOf(input.getConnectionInformation().getConnectionAttributeStore())
                .orElse(input.getClientInformation().getClientId());
        Optional<Role> role = CredentialAuthenticator.roleOf(input.getConnectionInformation().getConnectionAttributeStore());
        String topic = input.getPublishPacket().getTopic();
        boolean retained = input.getPublishPacket().getRetain();
        if (role.isPresent() && identities.isActive(user) && policy.mayPublish(role.get(), user, topic, retained)) {
            output.authorizeSuccessfully();
            return;
        }
        LOG.info("denied {} ({}) publishing {}{}", user, role.map(Enum::name).orElse("no role"), topic, retained ? " (retained)" : "");
        output.failAuthorization(AckReasonCode.NOT_AUTHORIZED, "not allowed to publish to " + topic);
    }

    @Override
    public void authorizeSubscribe(SubscriptionAuthorizerInput input, SubscriptionAuthorizerOutput output) {
        String user = CredentialAuthenticator.userOf(input.getConnectionInformation().getConnectionAttributeStore())
                .orElse(input.getClientInformation().getClientId());
        Optional<Role> role = CredentialAuthenticator.roleOf(input.getConnectionInformation().getConnectionAttributeStore());
        String filter = input.getSubscription().getTopicFilter();
        if (role.isPresent() && identities.isActive(user) && policy.maySubscribe(role.get(), user, filter)) {
            output.authorizeSuccessfully();
            return;
        }
        LOG.info("denied {} ({}) subscribing to {}", user, role.map(Enum::name).orElse("no role"), filter);
        output.failAuthorization(SubackReasonCode.NOT_AUTHORIZED, "not allowed to subscribe to " + filter);
    }
}
