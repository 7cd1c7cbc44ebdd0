package dev.turnout.broker.internal;

import com.hivemq.extension.sdk.api.async.Async;
import com.hivemq.extension.sdk.api.interceptor.puback.PubackOutboundInterceptor;
import com.hivemq.extension.sdk.api.interceptor.puback.parameter.PubackOutboundInput;
import com.hivemq.extension.sdk.api.interceptor.puback.parameter.PubackOutboundOutput;
import com.hivemq.extension.sdk.api.interceptor.publish.PublishInboundInterceptor;
import com.hivemq.extension.sdk.api.interceptor.publish.parameter.PublishInboundInput;
import com.hivemq.extension.sdk.api.interceptor.publish.parameter.PublishInboundOutput;
import com.hivemq.extension.sdk.api.interceptor.suback.SubackOutboundInterceptor;
import com.hivemq.extension.sdk.api.interceptor.suback.parameter.SubackOutboundInput;
import com.hivemq.extension.sdk.api.interceptor.suback.parameter.SubackOutboundOutput;
import com.hivemq.extension.sdk.api.packets.disconnect.DisconnectReasonCode;
import com.hivemq.extension.sdk.api.packets.general.Qos;
import com.hivemq.extension.sdk.api.packets.publish.AckReasonCode;
import com.hivemq.extension.sdk.api.packets.publish.ModifiablePublishPacket;
import com.hivemq.extension.sdk.api.services.Services;
import dev.turnout.broker.BrokerIdentities;
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
 * and waits for the orchestrator's {@link ReportReceipts#stored}. A refused report's PUBACK passes
 * at once. HiveMQ sends a held PUBACK anyway when its async timeout runs out, so the hold ends first, at
 * {@link ReportReceipts#HOLD_LIMIT}, by disconnecting the device: it never gets an acknowledgement for a report
 * that was not stored, and sends it again.
 */
public final class ReportHold implements PublishInboundInterceptor, PubackOutboundInterceptor, SubackOutboundInterceptor {

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
     * Adds the hold to every client but the orchestrator, those to connect from now on, and to the orchestrator the
     * release of held reports when it subscribes again ({@link #onOutboundSuback}). HiveMQ keeps one client
     * initializer per extension, so the one set here runs {@link RevocationRecheck} first, as the one it replaces did
     * ({@link TurnoutExtensionMain#register}), and adds the hold only to a connection that keeps its permissions.
     * Clients connected before (only the orchestrator: {@link ReportReceipts} holds before devices are let in) are
     * left as they are.
     */
    public static void install(ReportReceipts receipts, TopicPolicy policy, BrokerIdentities identities) {
        ReportHold hold = new ReportHold(receipts, policy.topics());
        RevocationRecheck recheck = new RevocationRecheck(identities);
        Services.initializerRegistry().setClientInitializer((initializer, client) -> {
            if (!recheck.keeps(initializer, client)) {
                return;
            }
            Optional<Role> role = CredentialAuthenticator.roleOf(initializer.getConnectionInformation().getConnectionAttributeStore());
            if (role.isEmpty()) {
                return;
            }
            if (role.get() == Role.ORCHESTRATOR) {
                client.addSubackOutboundInterceptor(hold);
                return;
            }
            client.addPublishInboundInterceptor(hold);
            client.addPubackOutboundInterceptor(hold);
        });
    }

    /**
     * Whether a PUBACK with this code waits for the store: a success, and a report no one subscribed to (the orchestrator
     * between a takeover of its session and its subscribing again), which would otherwise be acknowledged and never
     * stored; it waits for {@link #onOutboundSuback} or the hold limit. A refusal passes at once.
     */
    private static boolean heldFor(AckReasonCode code) {
        return code == AckReasonCode.SUCCESS || code == AckReasonCode.NO_MATCHING_SUBSCRIBERS;
    }

    /**
     * The orchestrator subscribed (it does on every connect): what a session before held and a report that came while
     * it had no subscription will never be stored, so every held device is released now ({@link ReportReceipts#release})
     * rather than at the hold limit. Runs once the subscription is in place, so what the devices send again reaches it.
     */
    @Override
    public void onOutboundSuback(SubackOutboundInput input, SubackOutboundOutput output) {
        receipts.release();
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
                heldFor(input.getPubackPacket().getReasonCode()));
        if (stored == null || (stored.isDone() && !stored.isCompletedExceptionally())) {
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
            if (failure instanceof ReportReceipts.Released || failure.getCause() instanceof ReportReceipts.Released) {
                LOG.info("a status report of {} was released unstored (the orchestrator subscribed again): disconnecting it"
                        + " instead of acknowledging it (it sends the report again)", clientId);
            } else {
                LOG.warn("a status report of {} was not stored within {} ms: disconnecting it instead of acknowledging it (it sends"
                        + " the report again)", clientId, limit.toMillis());
            }
            Services.clientService().disconnectClient(clientId, true, DisconnectReasonCode.SERVER_BUSY, "report not stored in time")
                    .whenComplete((was, e) -> async.resume());
        });
    }
}
