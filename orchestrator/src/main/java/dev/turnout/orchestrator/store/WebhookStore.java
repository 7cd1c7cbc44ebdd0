package dev.turnout.orchestrator.store;

import dev.turnout.orchestrator.domain.Webhook;
import dev.turnout.orchestrator.domain.WebhookDelivery;

import java.util.List;
import java.util.Optional;

/** The webhooks and their delivery log (tables {@code webhooks}, {@code webhook_deliveries}). */
public interface WebhookStore {

    /** How many deliveries the log keeps per webhook; older ones are pruned as new ones are added. */
    int DELIVERIES_KEPT = 1000;

    /** Adds a webhook; {@link dev.turnout.orchestrator.domain.ConflictException} if the id is taken. */
    void insertWebhook(Webhook webhook);

    Optional<Webhook> findWebhook(String id);

    /** Every webhook, oldest first. */
    List<Webhook> listWebhooks();

    /** Removes a webhook and its delivery log; false if there was none. */
    boolean deleteWebhook(String id);

    /** Appends to the delivery log, keeping the newest {@link #DELIVERIES_KEPT} of the webhook. */
    void appendDelivery(WebhookDelivery delivery);

    /** The newest {@code limit} deliveries, newest first; of one webhook, or of all when {@code webhookId} is null. */
    List<WebhookDelivery> deliveries(String webhookId, int limit);
}
