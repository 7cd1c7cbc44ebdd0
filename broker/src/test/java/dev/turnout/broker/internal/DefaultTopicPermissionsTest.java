package dev.turnout.broker.internal;

import com.hivemq.configuration.service.impl.ConfigurationServiceImpl;
import com.hivemq.configuration.service.impl.MqttConfigurationServiceImpl;
import com.hivemq.configuration.service.impl.PersistenceConfigurationServiceImpl;
import com.hivemq.configuration.service.impl.RestrictionsConfigurationServiceImpl;
import com.hivemq.configuration.service.impl.SecurityConfigurationServiceImpl;
import com.hivemq.configuration.service.impl.listener.ListenerConfigurationServiceImpl;
import com.hivemq.extension.sdk.api.packets.auth.ModifiableDefaultPermissions;
import com.hivemq.extensions.packets.general.ModifiableDefaultPermissionsImpl;
import com.hivemq.extensions.services.builder.TopicPermissionBuilderImpl;
import com.hivemq.mqtt.handler.publish.DefaultPermissionsEvaluator;
import com.hivemq.mqtt.message.QoS;
import com.hivemq.mqtt.message.connect.MqttWillPublish;
import com.hivemq.mqtt.message.subscribe.Topic;
import com.hivemq.statistics.UsageStatisticsConfigImpl;
import dev.turnout.broker.Role;
import dev.turnout.broker.TopicPolicy;
import dev.turnout.proto.Topics;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The permissions a client gets at connect, checked by HiveMQ's own evaluator (the code its event loop runs for
 * every PUBLISH, will and SUBSCRIBE), say exactly what {@link TopicPolicy} says, over a table of topics and filters
 * that includes the edge cases: other devices, trailing and doubled '/', retained publishes, wildcards, shared
 * subscriptions. Topics and filters HiveMQ refuses before any permission check (wildcards, NUL or nothing in a
 * topic name, malformed filters) are left out: they never reach the permissions.
 */
class DefaultTopicPermissionsTest {

    private static final String[] USERS = {"pi-a", "orch", "mon"};
    private final TopicPolicy policy = new TopicPolicy(Topics.defaults());
    private final ConfigurationServiceImpl config = new ConfigurationServiceImpl(new ListenerConfigurationServiceImpl(),
            new MqttConfigurationServiceImpl(), new RestrictionsConfigurationServiceImpl(), new SecurityConfigurationServiceImpl(),
            new UsageStatisticsConfigImpl(), new PersistenceConfigurationServiceImpl());
    private final DefaultTopicPermissions permissions = new DefaultTopicPermissions(() -> new TopicPermissionBuilderImpl(config));

    @Test
    void everyPublishIsAllowedExactlyWhenTheTopicPolicyAllowsIt() {
        List<String> topics = topicsAndFilters().stream().filter(com.hivemq.util.Topics::isValidTopicToPublish).toList();
        assertThat(topics).hasSizeGreaterThan(200);
        int allowed = countAllowed((role, user, granted) -> {
            int n = 0;
            for (String topic : topics) {
                for (boolean retain : new boolean[] {false, true}) {
                    boolean expected = policy.mayPublish(role, user, topic, retain);
                    MqttWillPublish publish = new MqttWillPublish.Mqtt3Builder().withTopic(topic).withPayload(new byte[0])
                            .withQos(QoS.AT_LEAST_ONCE).withRetain(retain).withHivemqId("test").build();
                    assertThat(DefaultPermissionsEvaluator.checkWillPublish(granted, publish))
                            .as("%s %s publishes %s%s", role, user, topic, retain ? " retained" : "").isEqualTo(expected);
                    n += expected ? 1 : 0;
                }
            }
            return n;
        });
        assertThat(allowed).as("the table holds allowed publishes too").isGreaterThan(20);
    }

    @Test
    void everySubscriptionIsAllowedExactlyWhenTheTopicPolicyAllowsIt() {
        List<String> filters = new ArrayList<>();
        for (String filter : topicsAndFilters()) {
            filters.add(filter);
            filters.add("$share/g/" + filter);
        }
        filters.removeIf(f -> !com.hivemq.util.Topics.isValidToSubscribe(f));
        assertThat(filters).hasSizeGreaterThan(400);
        int allowed = countAllowed((role, user, granted) -> {
            int n = 0;
            for (String filter : filters) {
                boolean expected = policy.maySubscribe(role, user, filter);
                assertThat(DefaultPermissionsEvaluator.checkSubscription(granted, new Topic(filter, QoS.AT_LEAST_ONCE)))
                        .as("%s %s subscribes to %s", role, user, filter).isEqualTo(expected);
                n += expected ? 1 : 0;
            }
            return n;
        });
        assertThat(allowed).as("the table holds allowed subscriptions too").isGreaterThan(20);
    }

    @Test
    void anInvalidUserGetsNoPermissionAtAll() {
        for (Role role : Role.values()) {
            ModifiableDefaultPermissions granted = granted(role, "a/b");
            assertThat(granted.asList()).isEmpty();
            assertThat(DefaultPermissionsEvaluator.checkSubscription(granted, new Topic("turnout/v1/devices/a/b/desired", QoS.AT_LEAST_ONCE)))
                    .isFalse();
        }
    }

    /** Checks the permissions of each role and user; returns how many checks were allowed in all. */
    private int countAllowed(IdentityCheck check) {
        int allowed = 0;
        for (Role role : Role.values()) {
            for (String user : USERS) {
                allowed += check.allowedOf(role, user, granted(role, user));
            }
        }
        return allowed;
    }

    private interface IdentityCheck {
        int allowedOf(Role role, String user, ModifiableDefaultPermissions granted);
    }

    private ModifiableDefaultPermissions granted(Role role, String user) {
        ModifiableDefaultPermissionsImpl granted = new ModifiableDefaultPermissionsImpl();
        permissions.apply(policy.grants(role, user), granted);
        return granted;
    }

    /** Topic names and filters around the rules: each device kind, deeper and shallower, others', malformed. */
    private static Set<String> topicsAndFilters() {
        Set<String> all = new LinkedHashSet<>();
        List<String> kinds = List.of("status", "health", "presence", "desired", "logs/request", "logs/response", "logs", "logs/x",
                "status/x", "x", "+", "#", "+/+", "logs/+", "logs/#", "");
        for (String level : List.of("pi-a", "pi-b", "+", "#", "orch", "mon", "")) {
            for (String kind : kinds) {
                String topic = "turnout/v1/devices/" + level + (kind.isEmpty() ? "" : "/" + kind);
                for (String tail : List.of("", "/", "//", "///", "/x")) {
                    all.add(topic + tail);
                }
            }
        }
        for (String topic : List.of("turnout/v1/rollouts/r-1/events", "turnout/v1/rollouts/+/events", "turnout/v1/rollouts/#",
                "turnout/v1/rollouts/r-1/events/", "turnout/v1/rollouts/+/+", "turnout/v1/devices/+/+", "turnout/v1/devices",
                "turnout/v1", "turnout/v1/", "turnout/v1//", "turnout/v1/#", "turnout/v1/+", "turnout/#", "turnout", "#", "+", "/",
                "/turnout/v1/devices/pi-a/status", "turnout/v1//devices/pi-a/status", "turnout/v1/devices//status",
                "trains/loco-1/speed", "turnout/v2/devices/pi-a/status", "turnoutx/v1/devices/pi-a/status",
                "turnout/v1/devices/pi-a/status\u0000", "$SYS/broker/uptime", "turnout/v1/devices/pi-a/desired/#")) {
            all.add(topic);
        }
        return all;
    }
}
