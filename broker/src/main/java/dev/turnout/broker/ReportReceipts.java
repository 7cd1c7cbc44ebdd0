package dev.turnout.broker;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The embedded broker's hold on devices' status reports: the broker acknowledges a device's status report
 * (PUBACK) only once the orchestrator in the same JVM says it has stored it ({@link #stored}). A broker that
 * keeps its queues in memory dies with the orchestrator; what it acknowledged and had not handed over yet
 * would be lost. Held, the report stays with the device, which sends it again (or its newer state) after
 * the kill.
 *
 * <p>Each held report carries a receipt in the user property {@value #PROPERTY} on its way to subscribers
 * (the broker sets it after removing any a client sent). A report not stored within {@link #HOLD_LIMIT} (the default) is
 * never acknowledged: its device is disconnected instead and sends it again. When the orchestrator subscribes
 * again, every held report is handed to it again ({@code internal/ReportHold}).
 */
public final class ReportReceipts {

    private static final Logger LOG = LoggerFactory.getLogger(ReportReceipts.class);
    /** The user property that names a held report's receipt. */
    public static final String PROPERTY = "turnout-receipt";
    /** How long a device's acknowledgement waits for the orchestrator's store at most. */
    public static final Duration HOLD_LIMIT = Duration.ofSeconds(60);

    private final AtomicLong next = new AtomicLong();
    private volatile boolean holding;
    private volatile Duration holdLimit = HOLD_LIMIT;
    /** Open receipts: stored or not yet. */
    private final Map<String, CompletableFuture<Void>> byReceipt = new ConcurrentHashMap<>();
    /** The receipt of each client's report in flight, by client id and packet id. */
    private final Map<String, String> byPacket = new ConcurrentHashMap<>();

    private final TopicPolicy policy;
    private final BrokerIdentities identities;

    ReportReceipts(TopicPolicy policy, BrokerIdentities identities) {
        this.policy = policy;
        this.identities = identities;
    }

    /** From now on every device's status report is acknowledged only once {@link #stored}, waiting {@code limit} at most. */
    synchronized void hold(Duration limit) {
        holdLimit = limit;
        if (!holding) {
            dev.turnout.broker.internal.ReportHold.install(this, policy, identities);
        }
        holding = true;
    }

    /** How long a device's acknowledgement waits for the store at most. */
    public Duration holdLimit() {
        return holdLimit;
    }

    /** Whether reports are held now (only once an orchestrator takes the receipts). */
    public boolean holding() {
        return holding;
    }

    /** The orchestrator has stored (committed) the report with this receipt: its device gets its acknowledgement. */
    public void stored(String receipt) {
        CompletableFuture<Void> f = byReceipt.remove(receipt);
        if (f != null) {
            f.complete(null);
        }
    }

    /** Reports held now: received and not yet stored. */
    public int held() {
        return (int) byReceipt.values().stream().filter(f -> !f.isDone()).count();
    }

    /** A report of {@code clientId} with {@code packetId} arrives: its new receipt (it replaces one the packet id had before). */
    public String open(String clientId, int packetId) {
        String receipt = Long.toString(next.incrementAndGet(), 36);
        byReceipt.put(receipt, new CompletableFuture<>());
        String before = byPacket.put(key(clientId, packetId), receipt);
        if (before != null) {
            end(byReceipt.remove(before)); // its client went before its acknowledgement: nothing waits for it any more
        }
        return receipt;
    }

    /** The future of an open receipt (completes once stored; fails once given up), or null when none is open. */
    public CompletableFuture<Void> waiting(String receipt) {
        return byReceipt.get(receipt);
    }

    /** The receipts of reports held now: received, not yet stored, not given up. */
    public java.util.List<String> openReceipts() {
        return byReceipt.entrySet().stream().filter(e -> !e.getValue().isDone()).map(Map.Entry::getKey).toList();
    }

    /**
     * Gives a held report up: its device is disconnected instead of acknowledged (when its PUBACK waits) and sends it
     * again; for a report that could not be handed to the orchestrator again.
     */
    public void fail(String receipt, String why) {
        CompletableFuture<Void> f = byReceipt.get(receipt);
        if (f != null) {
            f.completeExceptionally(new IllegalStateException(why));
        }
    }

    private static void end(CompletableFuture<Void> f) {
        if (f != null) {
            f.cancel(false);
        }
    }

    /**
     * The broker is about to acknowledge {@code packetId} of {@code clientId}: completes once the report is stored;
     * null when nothing is held for it. {@code accepted} false (refused, not authorized): the receipt is dropped.
     */
    public CompletableFuture<Void> acknowledging(String clientId, int packetId, boolean accepted) {
        String receipt = byPacket.remove(key(clientId, packetId));
        if (receipt == null) {
            return null;
        }
        if (!accepted) {
            end(byReceipt.remove(receipt));
            return null;
        }
        CompletableFuture<Void> f = byReceipt.get(receipt);
        return f == null ? CompletableFuture.completedFuture(null) : f; // absent: stored before the broker got here; failed: given up
    }

    /** Gives up waiting for a receipt (its device is disconnected instead). */
    public void abandon(CompletableFuture<Void> waiting) {
        if (byReceipt.values().remove(waiting)) {
            LOG.debug("a held report was abandoned");
        }
        end(waiting);
    }

    private static String key(String clientId, int packetId) {
        return clientId + '\u0000' + packetId;
    }
}
