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
import com.hivemq.extension.sdk.api.services.builder.Builders;
import com.hivemq.extension.sdk.api.services.builder.PublishBuilder;
import com.hivemq.extension.sdk.api.services.publish.Publish;
import com.hivemq.extension.sdk.api.services.publish.PublishToClientResult;
import dev.turnout.broker.BrokerIdentities;
import dev.turnout.broker.ReportReceipts;
import dev.turnout.broker.Role;
import dev.turnout.broker.TopicPolicy;
import dev.turnout.proto.Topics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
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
    /** A copy of each held report, by receipt, until it is stored or given up. */
    private final Map<String, Publish> copies = new ConcurrentHashMap<>();

    private ReportHold(ReportReceipts receipts, Topics topics) {
        this.receipts = receipts;
        this.topics = topics;
    }

    /**
     * Adds the hold to every client but the orchestrator, those to connect from now on, and to the orchestrator the
     * hand-over of held reports when it subscribes again ({@link #onOutboundSuback}). HiveMQ keeps one client
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
     * stored; it is handed over when the orchestrator subscribes ({@link #onOutboundSuback}). A refusal passes at once.
     */
    private static boolean heldFor(AckReasonCode code) {
        return code == AckReasonCode.SUCCESS || code == AckReasonCode.NO_MATCHING_SUBSCRIBERS;
    }

    /**
     * The orchestrator subscribed (it does on every connect): a session before it that did not carry over (a takeover
     * of its client id, a clean start) took the reports it had not stored with it, and a report that came while it had
     * no subscription went to no one. Every held report is handed to it again, receipt and all, so its devices get their
     * acknowledgements once it stores them instead of waiting out the hold limit (and every later report of theirs
     * with it). One it already has comes twice and is told apart by its report number. A report that cannot be
     * handed over is given up: its device is disconnected and sends it again.
     */
    @Override
    public void onOutboundSuback(SubackOutboundInput input, SubackOutboundOutput output) {
        String orchestrator = input.getClientInformation().getClientId();
        int handed = 0;
        for (String receipt : receipts.openReceipts()) {
            Publish copy = copies.get(receipt);
            if (copy == null) {
                continue;
            }
            handed++;
            Services.publishService().publishToClient(copy, orchestrator).whenComplete((result, e) -> {
                if (e != null || result != PublishToClientResult.SUCCESSFUL) {
                    receipts.fail(receipt, "not handed to the orchestrator again: " + (e != null ? e : result));
                }
            });
        }
        if (handed > 0) {
            LOG.info("the orchestrator subscribed again: {} held report(s) handed to it again", handed);
        }
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
        copies.put(receipt, copyOf(publish)); // to hand over again (onOutboundSuback)
        CompletableFuture<Void> open = receipts.waiting(receipt);
        if (open == null) {
            copies.remove(receipt);
        } else {
            open.whenComplete((stored, e) -> copies.remove(receipt));
        }
    }

    /** The report as it goes on to subscribers (HiveMQ's {@code fromPublish} refuses the modifiable packet). */
    private static Publish copyOf(ModifiablePublishPacket publish) {
        PublishBuilder copy = Builders.publish().topic(publish.getTopic()).qos(Qos.AT_LEAST_ONCE).retain(false);
        publish.getPayload().ifPresent(p -> copy.payload(p.asReadOnlyBuffer()));
        publish.getContentType().ifPresent(copy::contentType);
        publish.getUserProperties().asList().forEach(p -> copy.userProperty(p.getName(), p.getValue()));
        return copy.build();
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
            Throwable why = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                    ? failure.getCause() : failure;
            LOG.warn("a status report of {} was not stored ({}): disconnecting it instead of acknowledging it (it sends"
                    + " the report again)", clientId, why instanceof java.util.concurrent.TimeoutException
                    ? "not within " + limit.toMillis() + " ms" : why.getMessage());
            Services.clientService().disconnectClient(clientId, true, DisconnectReasonCode.SERVER_BUSY, "report not stored in time")
                    .whenComplete((was, e) -> async.resume());
        });
    }
}
