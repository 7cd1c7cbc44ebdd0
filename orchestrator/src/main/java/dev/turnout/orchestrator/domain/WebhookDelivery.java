package dev.turnout.orchestrator.domain;

import java.time.Instant;

/**
 * One delivery of one event to one webhook, as the delivery log keeps it once it ended.
 *
 * @param webhookId  the webhook
 * @param deliveryId unique per delivery (the {@code X-Turnout-Delivery} header and the body's {@code id}); kept across retries
 * @param event      the event name, e.g. {@code rollout.completed}
 * @param result     how it ended
 * @param statusCode the receiver's last HTTP status; null when none answered
 * @param error      why it failed (network error, status, dropped); null when delivered
 * @param attempts   how many POSTs were made (0: dropped before the first)
 * @param durationMillis from the first attempt's start to the end of the last one
 * @param at         when it ended
 */
public record WebhookDelivery(String webhookId, String deliveryId, String event, Result result, Integer statusCode,
                              String error, int attempts, long durationMillis, Instant at) {

    /** How a delivery ended; stored by name. */
    public enum Result {
        /** The receiver answered 2xx. */
        DELIVERED,
        /** Every attempt failed, or the receiver answered a 4xx other than 429 (final). */
        FAILED,
        /** The webhook's queue was full: the oldest waiting delivery was dropped without an attempt. */
        DROPPED
    }
}
