package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.async.Async;
import com.hivemq.extension.sdk.api.interceptor.puback.PubackOutboundInterceptor;
import com.hivemq.extension.sdk.api.interceptor.puback.parameter.PubackOutboundInput;
import com.hivemq.extension.sdk.api.interceptor.puback.parameter.PubackOutboundOutput;
import com.hivemq.extension.sdk.api.interceptor.publish.PublishInboundInterceptor;
import com.hivemq.extension.sdk.api.interceptor.publish.parameter.PublishInboundInput;
import com.hivemq.extension.sdk.api.interceptor.publish.parameter.PublishInboundOutput;
import com.hivemq.extension.sdk.api.packets.disconnect.DisconnectReasonCode;
import com.hivemq.extension.sdk.api.packets.general.Qos;
import com.hivemq.extension.sdk.api.packets.publish.AckReasonCode;
import com.hivemq.extension.sdk.api.packets.publish.ModifiablePublishPacket;
import com.hivemq.extension.sdk.api.services.Services;
import com.hivemq.extension.sdk.api.auth.parameter.TopicPermission;
import com.hivemq.extension.sdk.api.services.builder.Builders;
import dev.turnout.broker.ReportReceipts;
import dev.turnout.broker.Role;
import dev.turnout.broker.TopicPolicy;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Holds a device's PUBACK of a status report until the orchestrator has stored the report ({@link ReportReceipts}).
 *
 * <p>Two interceptors, because HiveMQ runs inbound publish interceptors <em>before</em> the publish authorizer
 * ({@code IncomingPublishHandler}: interceptors, then {@code authorizePublish}): a report is not handed to anyone
 * here. The inbound one only tags the report with a receipt (a user property, after removing one the client
 * sent); the report then takes the broker's ordinary way, authorization included, to its subscribers (the
 * orchestrator, monitors). The outbound PUBACK one runs after the broker has authorized and queued the report
 * and waits for the orchestrator's {@link ReportReceipts#stored}. A refused report's PUBACK (not SUCCESS) passes
 * at once. HiveMQ sends a held PUBACK anyway when its async timeout runs out, so the hold ends first, at
 * {@link ReportReceipts#HOLD_LIMIT}, by disconnecting the device: it never gets an acknowledgement for a report
 * that was not stored, and sends it again.
 */
public final class ReportHold implements PublishInboundInterceptor, PubackOutboundInterceptor {

    private static final Logger LOG = LoggerFactory.getLogger(ReportHold.class);
    /** HiveMQ's own limit on the hold is this much past ours, so that ours decides. */
    private static final Duration ASYNC_MARGIN = Duration.ofSeconds(30);

    private final ReportReceipts receipts;
    private final Topics topics;

    private ReportHold(ReportReceipts receipts, Topics topics) {
        this.receipts = receipts;
        this.topics = topics;
    }

    /**
     * Adds the hold to every client but the orchestrator, those connected now and those to come (a client initializer).
     *
     * <p>With a client initializer set, HiveMQ checks a client's will against its default permissions at connect
     * ({@code PluginInitializerHandler.authenticateWill}), which it skips when no extension sets one: Turnout's are
     * empty (deny; {@link TopicAuthorizer} decides every publish, the will's too when it is sent), so a device's
     * presence will would be refused and the device with it. A device is therefore given the one default permission
     * its will needs, its own presence topic, when {@link TopicPolicy} lets it publish there (it does); nothing else
     * changes.
     */
    public static void install(ReportReceipts receipts, TopicPolicy policy) {
        ReportHold hold = new ReportHold(receipts, policy.topics());
        Services.initializerRegistry().setClientInitializer((initializer, client) -> {
            Optional<Role> role = CredentialAuthenticator.roleOf(initializer.getConnectionInformation().getConnectionAttributeStore());
            if (role.isEmpty() || role.get() == Role.ORCHESTRATOR) {
                return;
            }
            String clientId = initializer.getClientInformation().getClientId();
            String presence = policy.topics().presence(clientId);
            if (role.get() == Role.DEVICE && policy.mayPublish(Role.DEVICE, clientId, presence, true)) {
                client.getDefaultPermissions().add(Builders.topicPermission().topicFilter(presence).type(TopicPermission.PermissionType.ALLOW)
                        .activity(TopicPermission.MqttActivity.PUBLISH).qos(TopicPermission.Qos.ALL).retain(TopicPermission.Retain.ALL).build());
            }
            client.addPublishInboundInterceptor(hold);
            client.addPubackOutboundInterceptor(hold);
        });
    }

    @Override
    public void onInboundPublish(PublishInboundInput input, PublishInboundOutput output) {
        ModifiablePublishPacket publish = output.getPublishPacket();
        if (!publish.getUserProperties().getAllForName(ReportReceipts.PROPERTY).isEmpty()) {
            publish.getUserProperties().removeName(ReportReceipts.PROPERTY); // a receipt is the broker's to give
        }
        if (!receipts.holding() || publish.getQos() == Qos.AT_MOST_ONCE
                || !"status".equals(topics.kindOf(publish.getTopic()).orElse(""))) {
            return;
        }
        String receipt = receipts.open(input.getClientInformation().getClientId(), publish.getPacketId());
        publish.getUserProperties().addUserProperty(ReportReceipts.PROPERTY, receipt);
    }

    @Override
    public void onOutboundPuback(PubackOutboundInput input, PubackOutboundOutput output) {
        String clientId = input.getClientInformation().getClientId();
        CompletableFuture<Void> stored = receipts.acknowledging(clientId, input.getPubackPacket().getPacketIdentifier(),
                input.getPubackPacket().getReasonCode() == AckReasonCode.SUCCESS);
        if (stored == null || stored.isDone()) {
            return;
        }
        Duration limit = receipts.holdLimit();
        Async<PubackOutboundOutput> async = output.async(limit.plus(ASYNC_MARGIN));
        stored.copy().orTimeout(limit.toMillis(), TimeUnit.MILLISECONDS).whenComplete((ok, failure) -> {
            if (failure == null) {
                async.resume();
                return;
            }
            receipts.abandon(stored);
            LOG.warn("a status report of {} was not stored within {} ms: disconnecting it instead of acknowledging it (it sends"
                    + " the report again)", clientId, limit.toMillis());
            Services.clientService().disconnectClient(clientId, true, DisconnectReasonCode.SERVER_BUSY, "report not stored in time")
                    .whenComplete((was, e) -> async.resume());
        });
    }
}
