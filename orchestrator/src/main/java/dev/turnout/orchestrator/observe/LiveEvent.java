package dev.turnout.orchestrator.observe;

/**
 * One event as monitors see it. Its JSON is rendered when a subscriber first asks for it (then
 * kept): at 10,000 devices most events are never read by anyone, and rendering each one on the
 * engine thread cost more than applying it.
 */
public final class LiveEvent {

    /** The kinds in the order docs/monitoring.md lists them. */
    public static final java.util.List<String> KINDS = java.util.List.of("status", "health", "presence", "rollout");

    private final long id;
    private final String kind;
    private final String subject;
    private LiveEvents.JsonRenderer renderer;
    private volatile String json;

    /**
     * @param id       grows by one per event, and across restarts; SSE clients resume after it
     * @param kind     {@code status}, {@code health}, {@code presence} or {@code rollout}
     * @param subject  the device id (status, health, presence) or the rollout id (rollout)
     * @param renderer makes {@code {"id","kind","topic","receivedAt","payload":{...}}} from the id
     */
    LiveEvent(long id, String kind, String subject, LiveEvents.JsonRenderer renderer) {
        this.id = id;
        this.kind = kind;
        this.subject = subject;
        this.renderer = renderer;
    }

    public long id() {
        return id;
    }

    public String kind() {
        return kind;
    }

    public String subject() {
        return subject;
    }

    /** The event as JSON, rendered once. */
    public String json() {
        String j = json;
        if (j == null) {
            synchronized (this) {
                j = json;
                if (j == null) {
                    j = renderer.render(id);
                    json = j;
                    renderer = null; // what it captured can go
                }
            }
        }
        return j;
    }
}
