package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.auth.parameter.TopicPermission;
import com.hivemq.extension.sdk.api.packets.auth.DefaultAuthorizationBehaviour;
import com.hivemq.extension.sdk.api.packets.auth.ModifiableDefaultPermissions;
import com.hivemq.extension.sdk.api.services.builder.TopicPermissionBuilder;
import dev.turnout.broker.TopicGrant;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Turns an identity's {@link TopicGrant}s into HiveMQ default permissions, which HiveMQ checks on its event loop for
 * every PUBLISH, will and SUBSCRIBE of the connection (no authorizer, no hop to the extension executor).
 */
final class DefaultTopicPermissions {

    private final Supplier<TopicPermissionBuilder> builders;

    /** @param builders a fresh builder per permission ({@code Builders::topicPermission} inside a broker) */
    DefaultTopicPermissions(Supplier<TopicPermissionBuilder> builders) {
        this.builders = builders;
    }

    /** Replaces {@code permissions} with {@code grants}, deny by default. */
    void apply(List<TopicGrant> grants, ModifiableDefaultPermissions permissions) {
        List<TopicPermission> list = new ArrayList<>(grants.size());
        for (TopicGrant grant : grants) {
            list.add(permission(grant));
        }
        permissions.clear();
        permissions.setDefaultBehaviour(DefaultAuthorizationBehaviour.DENY);
        permissions.addAll(list);
    }

    private TopicPermission permission(TopicGrant grant) {
        return builders.get()
                .topicFilter(grant.filter())
                .type(grant.allowed() ? TopicPermission.PermissionType.ALLOW : TopicPermission.PermissionType.DENY)
                .activity(switch (grant.action()) {
                    case PUBLISH -> TopicPermission.MqttActivity.PUBLISH;
                    case SUBSCRIBE -> TopicPermission.MqttActivity.SUBSCRIBE;
                    case BOTH -> TopicPermission.MqttActivity.ALL;
                })
                .retain(switch (grant.retain()) {
                    case ANY -> TopicPermission.Retain.ALL;
                    case NOT_RETAINED -> TopicPermission.Retain.NOT_RETAINED;
                })
                .qos(TopicPermission.Qos.ALL)
                .sharedSubscription(TopicPermission.SharedSubscription.ALL)
                .sharedGroup("#")
                .build();
    }
}
