package dev.turnout.orchestrator.observe;

/**
 * One event as monitors see it, already rendered as JSON.
 *
 * @param id   grows by one per event, and across restarts; SSE clients resume after it
 * @param kind {@code status}, {@code health}, {@code presence} or {@code rollout}
 * @param subject the device id (status, health, presence) or the rollout id (rollout)
 * @param json {@code {"id","kind","topic","receivedAt","payload":{...}}}
 */
public record LiveEvent(long id, String kind, String subject, String json) {

    /** The kinds in the order docs/monitoring.md lists them. */
    public static final java.util.List<String> KINDS = java.util.List.of("status", "health", "presence", "rollout");
}
